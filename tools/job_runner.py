"""Run tool commands (``tools/train.py`` ...) as resumable jobs, a few at a time, on a small CPU:
the plumbing of ``tools/demo.py`` and ``tools/analysis_tools/mini_benchmark.py``.

Each job has its own work dir and output file ``WORK_DIR/job.out``; a finished job leaves
``WORK_DIR/DONE`` (its wall seconds) and is skipped next time, and a training job whose work dir
holds a checkpoint is restarted with ``--resume``. Jobs run single-threaded side by side: on a
2-core machine two one-thread processes beat one two-thread process (OpenMP threads spin when
cores are shared).
"""
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple


def log(msg: str, tag: str = 'run') -> None:
    print(f'[{tag} {time.strftime("%H:%M:%S")}] {msg}', flush=True)


@dataclass
class Job:
    """``cmd`` run in ``cwd``; ``resumable``: a tools/train.py command (adds ``--resume``);
    ``needs``: names of jobs of the same ``run_jobs`` call that must finish first."""
    name: str
    cmd: List[str]
    work_dir: str
    cwd: Optional[str] = None
    resumable: bool = False
    needs: Tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return osp.isfile(osp.join(self.work_dir, 'DONE'))


def last_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in mmengine's ``last_checkpoint`` marker, or None."""
    marker = Path(work_dir, 'last_checkpoint')
    path = marker.read_text().strip() if marker.is_file() else ''
    return path if path and osp.isfile(path) else None


def train_job(name: str,
              repo: str,
              config: str,
              work_dir: str,
              options: dict,
              needs: Tuple[str, ...] = ()) -> Job:
    """A ``tools/train.py CONFIG --work-dir WORK_DIR --cfg-options k=v ...`` job."""
    cmd = [sys.executable, osp.join(repo, 'tools/train.py'), osp.join(repo, config)]
    cmd += ['--work-dir', work_dir]
    if options:
        cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]
    return Job(name, cmd, work_dir, cwd=repo, resumable=True, needs=needs)


def _start(job: Job, tag: str):
    os.makedirs(job.work_dir, exist_ok=True)
    cmd = list(job.cmd)
    if job.resumable and last_checkpoint(job.work_dir):
        cmd.append('--resume')
        log(f'{job.name}: resuming from its last checkpoint', tag)
    else:
        log(f'{job.name}: started (output: {job.work_dir}/job.out)', tag)
    out = open(osp.join(job.work_dir, 'job.out'), 'a')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.Popen(cmd, cwd=job.cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    return proc, time.time()


def progress(work_dir: str) -> str:
    """How far a training job got, from the run record its RunRecordHook keeps."""
    try:
        with open(osp.join(work_dir, 'run_record.json')) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return 'starting'
    total = (record.get('config') or {}).get('train_cfg', {}).get('max_epochs', '?')
    return f"epoch {record.get('epoch', 0)}/{total}, iteration {record.get('iter', 0)}"


def run_jobs(jobs: Sequence[Job], slots: int = 2, tag: str = 'run', poll: float = 5.) -> None:
    """Run ``jobs`` with at most ``slots`` at once, each as soon as the jobs it ``needs`` have
    finished, in list order; print progress every 30 s. At the first failure the others are
    stopped and the process exits with one line naming the job's output; an interrupt (Ctrl-C,
    SIGTERM as SystemExit) stops them too, so a re-run resumes."""
    names = {j.name for j in jobs}
    for job in jobs:
        unknown = set(job.needs) - names
        if unknown:
            raise ValueError(f'{job.name} needs {sorted(unknown)}, which are not among the jobs')
        if job.done:
            log(f'{job.name}: already finished, skipped', tag)
    pending, running, last_report = [j for j in jobs if not j.done], [], time.time()
    finished = {j.name for j in jobs if j.done}
    try:
        while pending or running:
            ready = [j for j in pending if finished.issuperset(j.needs)]
            while ready and len(running) < slots:
                job = ready.pop(0)
                pending.remove(job)
                running.append((job, *_start(job, tag)))
            if not running:
                raise ValueError(f'jobs that wait on each other: {[j.name for j in pending]}')
            time.sleep(poll)
            if time.time() - last_report >= 30:
                last_report = time.time()
                for job, _, _ in running:
                    log(f'{job.name}: {progress(job.work_dir)}', tag)
            for item in [r for r in running if r[1].poll() is not None]:
                job, proc, start = item
                running.remove(item)
                if proc.returncode:
                    sys.exit(f'{tag}: {job.name} failed (exit {proc.returncode}); see '
                             f'{job.work_dir}/job.out, then run again to resume')
                with open(osp.join(job.work_dir, 'DONE'), 'w') as f:
                    f.write(f'{time.time() - start:.1f}\n')
                finished.add(job.name)
                log(f'{job.name}: done in {time.time() - start:.0f} s', tag)
    finally:
        for _, proc, _ in running:
            if proc.poll() is None:
                proc.terminate()
        for _, proc, _ in running:
            proc.wait()
