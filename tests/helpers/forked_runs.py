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
