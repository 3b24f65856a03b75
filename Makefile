# dbot_mm: `make demo` runs the mini benchmark (--quick) and the pipelines, `make test` lint + tests.
# Both set the environment up on first use (tools/setup_env.sh: .venv, mmcv wheel cache).
VENV ?= $(or $(DBOT_MM_VENV),$(CURDIR)/.venv)
PY := $(VENV)/bin/python
# Two single-threaded pytest workers: on a 2-core machine this beats one two-threaded process
# (OpenMP threads spin when cores are shared, e.g. by the tests' own subprocesses).
PYTEST_ARGS ?= -n 2 --dist loadfile
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
LINT_PATHS := dbot_mm tools tests configs

.PHONY: setup lint format test demo mini-benchmark mini-benchmark-claims clean-demo

setup:
	@DBOT_MM_VENV=$(VENV) bash tools/setup_env.sh

# OpenMMLab's flake8 + isort (as ruff rules, pyproject.toml) and yapf (setup.cfg [yapf]).
lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/yapf --diff --recursive --parallel --exclude 'tests/data/*' $(LINT_PATHS)

format: setup
	$(VENV)/bin/ruff check --fix --select I $(LINT_PATHS)
	$(VENV)/bin/yapf --in-place --recursive --parallel --exclude 'tests/data/*' $(LINT_PATHS)

test: setup lint
	$(PY) -m pytest tests -q -p no:cacheprovider $(PYTEST_ARGS)

demo: setup
	$(PY) tools/demo.py --work-dir work_dirs/demo

# dBOT vs MAE vs random init on Fashion-MNIST, 3 seeds (~1 h on 2 cores; docs/mini_benchmark.md)
mini-benchmark: setup
	$(PY) tools/analysis_tools/mini_benchmark.py --work-dir work_dirs/mini_benchmark

# the paper's two claims (stage length at an equal budget, teachers of different kinds), 3 seeds
# (~105 min on 2 cores; docs/mini_benchmark.md)
mini-benchmark-claims: setup
	$(PY) tools/analysis_tools/mini_benchmark_claims.py --work-dir work_dirs/mini_benchmark_claims

clean-demo:
	rm -rf work_dirs/demo data/demo
