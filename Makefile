# dbot_mm: `make demo` runs the whole pipeline on generated data, `make test` the test suite.
# Both set the environment up on first use (tools/setup_env.sh: .venv, mmcv wheel cache).
VENV ?= $(or $(DBOT_MM_VENV),$(CURDIR)/.venv)
PY := $(VENV)/bin/python
# Two single-threaded pytest workers: on a 2-core machine this beats one two-threaded process
# (OpenMP threads spin when cores are shared, e.g. by the tests' own subprocesses).
PYTEST_ARGS ?= -n 2 --dist loadfile
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: setup test demo clean-demo

setup:
	@DBOT_MM_VENV=$(VENV) bash tools/setup_env.sh

test: setup
	$(PY) -m pytest tests -q -p no:cacheprovider $(PYTEST_ARGS)

demo: setup
	$(PY) tools/demo.py --work-dir work_dirs/demo

clean-demo:
	rm -rf work_dirs/demo data/demo
