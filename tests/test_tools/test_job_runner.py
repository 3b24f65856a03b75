"""tools/job_runner.py (the plumbing of tools/demo.py and mini_benchmark.py): finished jobs are
skipped, training jobs with a checkpoint resume, the first failure stops the rest in one line."""
import json
import sys

import pytest

from tests.helpers.tools import import_tool


@pytest.fixture(scope='module')
def runner():
    return import_tool('job_runner.py')


def _job(runner, tmp_path, name, code, **kwargs):
    cmd = [sys.executable, '-c', code]
    return runner.Job(name, cmd, str(tmp_path / name), **kwargs)


def test_jobs_run_once_and_are_skipped_when_done(runner, tmp_path, capsys):
    jobs = [_job(runner, tmp_path, n, f'print("ran {n}")') for n in ('a', 'b', 'c')]
    runner.run_jobs(jobs, slots=2, poll=0.05)
    runner.run_jobs(jobs, slots=2, poll=0.05)
    for n in 'abc':
        assert (tmp_path / n / 'job.out').read_text() == f'ran {n}\n'
        assert float((tmp_path / n / 'DONE').read_text()) >= 0
    assert capsys.readouterr().out.count('already finished, skipped') == 3


def test_a_job_with_a_checkpoint_resumes(runner, tmp_path):
    job = _job(runner, tmp_path, 'train', 'import sys; print(sys.argv[1:])', resumable=True)
    (tmp_path / 'train').mkdir()
    (tmp_path / 'train' / 'epoch_1.pth').write_bytes(b'')
    (tmp_path / 'train' / 'last_checkpoint').write_text(str(tmp_path / 'train' / 'epoch_1.pth'))
    runner.run_jobs([job], poll=0.05)
    assert (tmp_path / 'train' / 'job.out').read_text() == "['--resume']\n"


def test_first_failure_stops_the_others(runner, tmp_path):
    slow = _job(runner, tmp_path, 'slow', 'import time; time.sleep(60)')
    bad = _job(runner, tmp_path, 'bad', 'raise SystemExit(3)')
    with pytest.raises(SystemExit) as info:
        runner.run_jobs([slow, bad], slots=2, tag='demo', poll=0.05)
    assert str(info.value) == (f'demo: bad failed (exit 3); see {tmp_path}/bad/job.out, then run '
                               'again to resume')
    assert not (tmp_path / 'slow' / 'DONE').exists() and not (tmp_path / 'bad' / 'DONE').exists()


def test_progress_reads_the_run_record(runner, tmp_path):
    record = dict(epoch=2, iter=20, config=dict(train_cfg=dict(max_epochs=5)))
    (tmp_path / 'run_record.json').write_text(json.dumps(record))
    assert runner.progress(str(tmp_path)) == 'epoch 2/5, iteration 20'
    assert runner.progress(str(tmp_path / 'absent')) == 'starting'


def test_a_job_starts_after_the_jobs_it_needs(runner, tmp_path):
    order = tmp_path / 'order.txt'
    log = f'open({str(order)!r}, "a").write("{{}}\\n")'
    slow = _job(runner, tmp_path, 'teacher',
                f'import time; time.sleep(0.5); {log.format("teacher")}')
    student = _job(runner, tmp_path, 'student', log.format('student'), needs=('teacher', ))
    free = _job(runner, tmp_path, 'free', log.format('free'))
    runner.run_jobs([student, slow, free], slots=2, poll=0.05)
    # two slots: 'student' is first in the list but waits; 'free' takes the second slot
    assert order.read_text().split() == ['free', 'teacher', 'student']


def test_needs_outside_the_jobs_or_in_a_cycle_are_refused(runner, tmp_path):
    a = _job(runner, tmp_path, 'a', 'pass', needs=('ghost', ))
    with pytest.raises(ValueError, match=r"a needs \['ghost'\], which are not among the jobs"):
        runner.run_jobs([a], poll=0.05)
    b = _job(runner, tmp_path, 'b', 'pass', needs=('c', ))
    c = _job(runner, tmp_path, 'c', 'pass', needs=('b', ))
    with pytest.raises(ValueError, match=r"jobs that wait on each other: \['b', 'c'\]"):
        runner.run_jobs([b, c], poll=0.05)
