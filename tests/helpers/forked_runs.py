"""Run ``tools/train.py`` several times, each in a child forked from one process that imported
torch, mmengine, mmpretrain and dbot_mm once: a test that restarts training many times pays the
import (~10 s of CPU) once, not per run.

    python -m tests.helpers.forked_runs PLAN.json   # from the repository root

``PLAN.json``: a list of ``{"argv": [train.py arguments], "log": path}``, run one after the other.
Each child is the leader of its own session (a signal to its process group reaches its data
workers and nothing else) and writes its output to ``log``. Prints one JSON line per run:
``{"rc": exit code (negative: killed by that signal), "seconds": wall time, "cpu": CPU seconds of
its main process}``.
"""
import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Tuple

TRAIN = Path(__file__).resolve().parents[2] / 'tools' / 'train.py'


def run(argv, log) -> Tuple[int, float]:
    """(exit code, CPU seconds of the run's main process)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child leaves through SystemExit: a normal interpreter exit
        os.setsid()
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.argv = [str(TRAIN), *argv]
        runpy.run_path(str(TRAIN), run_name='__main__')
        sys.exit(0)
    _, status, usage = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime


def run_plan(plan: list, plan_dir) -> list:
    """Run ``plan`` (the ``PLAN.json`` items) through this module in a subprocess from the
    repository root, single-threaded; the per-run JSON lines it prints, one a run."""
    import subprocess

    root = TRAIN.parents[1]
    plan_file = Path(plan_dir) / 'plan.json'
    plan_file.write_text(json.dumps(plan))
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get('PYTHONPATH')])))
    proc = subprocess.run([sys.executable, '-m', 'tests.helpers.forked_runs',
                           str(plan_file)],
                          cwd=root,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert len(results) == len(plan), proc.stdout + proc.stderr[-3000:]
    return results


def train_runs(tmp_path, runs) -> list:
    """tools/train.py once per (config, work_dir, log, extra args), one after the other, each
    forked from a process that imported everything once: (rc, log text, (seconds, CPU s))."""
    plan = [
        dict(argv=[str(c), '--work-dir', str(w), *extra], log=str(log)) for c, w, log, extra in runs
    ]
    results = run_plan(plan, tmp_path)
    return [(r['rc'], Path(log).read_text(), (r['seconds'], r['cpu']))
            for r, (_, _, log, _) in zip(results, runs)]


def assert_same_state(expected: dict, got: dict) -> None:
    """Nested dicts of tensors (weights, optimizer state) equal key for key, bit for bit."""
    import torch

    assert expected.keys() == got.keys()
    for k in expected:
        if isinstance(expected[k], dict):
            assert_same_state(expected[k], got[k])
        else:
            assert torch.equal(expected[k], got[k]), k


def main(plan_file) -> None:
    import mmengine.config.config as mmengine_config
    import torch
    from mmpretrain.utils import register_all_modules

    import dbot_mm.utils.launch  # noqa: F401
    import tests.helpers.tiny_pretrain  # noqa: F401  (its hooks, for the configs)
    torch.set_num_threads(1)
    register_all_modules(init_default_scope=False)
    # mmengine formats the config with yapf for every log, dump and checkpoint (7 times a run
    # here, more than half of a tiny run's CPU time); the runs here do not need it pretty
    mmengine_config.FormatCode = lambda text, **kwargs: (text, False)
    for item in json.loads(Path(plan_file).read_text()):
        start = time.time()
        rc, cpu = run(item['argv'], item['log'])
        print(
            json.dumps(dict(rc=rc, seconds=round(time.time() - start, 2), cpu=round(cpu, 2))),
            flush=True)


if __name__ == '__main__':
    main(sys.argv[1])
