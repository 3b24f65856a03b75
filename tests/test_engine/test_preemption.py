"""Crash, preemption and divergence on a tiny dBOT pretraining run by ``tools/train.py``.

The chaos test kills a run (two stage boundaries, 2 persistent data workers) again and again and
restarts it with ``--resume`` each time; the final checkpoint must equal the one of a run that was
never interrupted, bit for bit.

How the kill moments are chosen (reproducible): ``random.Random(SEED)`` draws the iterations
(distinct, increasing, so that every restart gets past its predecessor) and shuffles the kinds of
fault; each fault is a fixed program point (``FaultInjectionHook`` in tests/helpers/
tiny_pretrain.py): SIGKILL of the process group (main process and data workers) right after the
iteration's optimizer step; SIGKILL inside a checkpoint write (half of the temporary file on
disk, before the rename); SIGKILL between that rename and the ``last_checkpoint`` update; and
SIGTERM to the process group from another process (a preemption), which must save and exit with
code 75. The runs are forked from one process that imported everything once (the import costs
more than the training here).
"""
import os
import random
import runpy
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from dbot_mm.engine.hooks import PREEMPTED_EXIT_CODE
from tests.helpers.forked_runs import assert_same_state, train_runs
from tests.helpers.tiny_pretrain import tiny_cfg

ROOT = Path(__file__).resolve().parents[2]
SEED = 20260129
STAGES = [0, 1, 2, 3]  # two boundaries
BATCH = 16  # 64 images: 4 iterations an epoch, 12 in all
FAULTS = ['kill', 'kill', 'kill', 'kill_in_save', 'kill_before_pointer', 'term']


def _config(tmp_path, data_root, name, fault=None, num_workers=2):
    cfg = tiny_cfg(
        tmp_path / name,
        data_root,
        stage_epochs=STAGES,
        num_workers=num_workers,
        train_dataloader=dict(batch_size=BATCH))
    cfg.default_hooks.checkpoint.max_keep_ckpts = 2
    cfg.default_hooks.logger.interval = 100  # no per-iteration log work
    if fault is not None:
        cfg.custom_imports.imports.append('tests.helpers.tiny_pretrain')
        cfg.custom_hooks.append(dict(type='FaultInjectionHook', at_iter=fault[0], how=fault[1]))
    path = tmp_path / f'{name}_{fault[0] if fault else "clean"}.py'
    cfg.dump(str(path))
    return path


def _final(work_dir):
    ckpt = torch.load(
        Path(work_dir) / f'epoch_{STAGES[-1]}.pth', map_location='cpu', weights_only=True)
    return dict(model=ckpt['state_dict'], optimizer=ckpt['optimizer']['state'])


def test_killed_and_preempted_run_ends_bit_identical(tmp_path, imagenet_root):
    start = time.time()
    rng = random.Random(SEED)
    iters = sorted(rng.sample(range(1, STAGES[-1] * 64 // BATCH), len(FAULTS)))
    faults = list(zip(iters, rng.sample(FAULTS, len(FAULTS))))
    clean, chaos = tmp_path / 'clean', tmp_path / 'chaos'
    runs = [(_config(tmp_path, imagenet_root, 'clean'), clean, tmp_path / 'clean.log', [])]
    runs += [(_config(tmp_path, imagenet_root, 'chaos',
                      fault), chaos, tmp_path / f'chaos{i}.log', ['--resume'])
             for i, fault in enumerate(faults + [None])]
    results = train_runs(tmp_path, runs)
    rc, out, _ = results[0]
    assert rc == 0, out[-3000:]
    for fault, (rc, out, _) in zip(faults + [None], results[1:]):
        if fault is None:
            assert rc == 0, out[-3000:]
        elif fault[1] == 'term':
            assert rc == PREEMPTED_EXIT_CODE, out[-3000:]
            assert f'saved {chaos}/preempt_iter_{fault[0]}.pth at iteration' in out, out[-3000:]
        else:
            assert rc == -signal.SIGKILL, (fault, out[-3000:])
    outcomes = [(fault, rc, seconds) for fault, (rc, _, seconds) in zip(faults, results[1:])]
    assert sum(rc == -signal.SIGKILL for _, rc, _ in outcomes) >= 5, outcomes
    assert_same_state(_final(clean), _final(chaos))
    assert not list(chaos.glob('.*.tmp-*')) and not list(chaos.glob('preempt_iter_*.pth'))
    print(f'faults (iteration, kind), exit code, (wall, cpu) s: {outcomes}; '
          f'all runs {[r[2] for r in results]}; test {time.time() - start:.1f} s')


def test_nonfinite_loss_stops_with_one_line_and_intact_checkpoints(tmp_path, imagenet_root,
                                                                   monkeypatch):
    """tools/train.py, run in this process: a NaN in the weights after iteration 6 (epoch 2)."""
    work = tmp_path / 'nan'
    config = _config(tmp_path, imagenet_root, 'nan', fault=(6, 'nan'), num_workers=0)
    monkeypatch.setattr(sys, 'argv', ['train.py', str(config), '--work-dir', str(work)])
    handler = signal.getsignal(signal.SIGTERM)  # the run ends before PreemptionHook restores it
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(ROOT / 'tools' / 'train.py'), run_name='__main__')
    finally:
        signal.signal(signal.SIGTERM, handler)
    assert exit_.value.code == (  # sys.exit(message): the message on stderr, exit code 1
        'train.py: non-finite loss (nan) at iteration 7 (epoch 2); stopped without saving; '
        f'last checkpoint: {work}/epoch_1.pth')
    assert sorted(p.name for p in work.glob('*.pth')) == ['dbot_stage1_epoch_1.pth', 'epoch_1.pth']
    state = torch.load(work / 'epoch_1.pth', weights_only=True)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_fault_hook_signals_its_process_group_only(monkeypatch):
    """The test helper itself: a group signal only from a process-group leader (the processes
    started above), else to itself alone, never to the process that runs the tests."""
    from tests.helpers import tiny_pretrain
    sent = []
    monkeypatch.setattr(os, 'kill', lambda pid, sig: sent.append(('kill', pid, sig)))
    monkeypatch.setattr(os, 'killpg', lambda pg, sig: sent.append(('killpg', pg, sig)))
    tiny_pretrain._signal_group(signal.SIGTERM)
    leader = os.getpgid(0) == os.getpid()
    assert sent == [('killpg', 0, signal.SIGTERM) if leader else
                    ('kill', os.getpid(), signal.SIGTERM)]
