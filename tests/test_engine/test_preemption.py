"""Crash, preemption and divergence on a tiny dBOT pretraining run by ``tools/train.py``.

The chaos test kills a run (two stage boundaries, 2 persistent data workers) again and again and
restarts it with ``--resume`` each time; the final checkpoint must equal the one of a run that was
never interrupted, bit for bit.

How the kill moments are chosen (reproducible): ``random.Random(SEED)`` draws the iterations
(distinct, increasing, so that every restart gets past its predecessor) and shuffles the kinds of
fault; each fault is a fixed program point (``FaultInjectionHook`` in dbot_mm/testing/
tiny_pretrain.py): SIGKILL of the process group (main process and data workers) right after the
iteration's optimizer step; SIGKILL inside a checkpoint write (half of the temporary file on
disk, before the rename); SIGKILL between that rename and the ``last_checkpoint`` update; and
SIGTERM to the process group (a preemption), which must save and exit with code 75.
"""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from dbot_mm.engine.hooks import PREEMPTED_EXIT_CODE
from dbot_mm.testing.tiny_pretrain import tiny_cfg

ROOT = Path(__file__).resolve().parents[2]
SEED = 20260129
STAGES = [0, 1, 2, 3]  # two boundaries
BATCH = 8  # 64 images: 8 iterations an epoch, 24 in all
FAULTS = ['kill', 'kill', 'kill', 'kill_in_save', 'kill_before_pointer', 'term']


def _config(tmp_path, data_root, name, fault=None):
    cfg = tiny_cfg(tmp_path / name, data_root, stage_epochs=STAGES, num_workers=2,
                   train_dataloader=dict(batch_size=BATCH))
    cfg.default_hooks.checkpoint.max_keep_ckpts = 2
    if fault is not None:
        cfg.custom_imports.imports.append('dbot_mm.testing.tiny_pretrain')
        cfg.custom_hooks.append(dict(type='FaultInjectionHook', at_iter=fault[0], how=fault[1]))
    path = tmp_path / f'{name}_{fault[0] if fault else "clean"}.py'
    cfg.dump(str(path))
    return path


def _train(config, work_dir, log, *args):
    """tools/train.py in its own process group (so that a fault reaches its data workers and
    nothing else); output to a file, not a pipe (killed workers may hold a pipe open)."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')])))
    with open(log, 'w') as out:
        proc = subprocess.run([sys.executable, 'tools/train.py', str(config), '--work-dir',
                               str(work_dir), *args], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True, timeout=300)
    return proc.returncode, Path(log).read_text()


def _final(work_dir):
    ckpt = torch.load(Path(work_dir) / f'epoch_{STAGES[-1]}.pth', map_location='cpu',
                      weights_only=True)
    return ckpt['state_dict'], ckpt['optimizer']['state']


def _assert_same(expected, got):
    assert expected.keys() == got.keys()
    for k in expected:
        if isinstance(expected[k], dict):
            _assert_same(expected[k], got[k])
        else:
            assert torch.equal(expected[k], got[k]), k


def test_killed_and_preempted_run_ends_bit_identical(tmp_path, imagenet_root):
    start = time.time()
    clean = tmp_path / 'clean'
    rc, out = _train(_config(tmp_path, imagenet_root, 'clean'), clean, tmp_path / 'clean.log')
    assert rc == 0, out[-3000:]

    rng = random.Random(SEED)
    iters = sorted(rng.sample(range(1, len(STAGES[1:]) * 64 // BATCH), len(FAULTS)))
    faults = list(zip(iters, rng.sample(FAULTS, len(FAULTS))))
    chaos, outcomes = tmp_path / 'chaos', []
    for i, fault in enumerate(faults + [None]):
        rc, out = _train(_config(tmp_path, imagenet_root, 'chaos', fault), chaos,
                         tmp_path / f'chaos{i}.log', '--resume')
        outcomes.append((fault, rc))
        if fault is None:
            assert rc == 0, out[-3000:]
        elif fault[1] == 'term':
            assert rc == PREEMPTED_EXIT_CODE, out[-3000:]
            assert f'saved {chaos}/preempt_iter_{fault[0]}.pth' in out
        else:
            assert rc == -signal.SIGKILL, out[-3000:]
        if fault and fault[1] == 'kill_in_save':  # the half-written file of the killed write
            assert list(chaos.glob('.*.pth.tmp-*')), sorted(os.listdir(chaos))
    assert sum(rc == -signal.SIGKILL for _, rc in outcomes) >= 5, outcomes
    _assert_same(_final(clean), _final(chaos))
    assert not list(chaos.glob('.*.tmp-*')) and not list(chaos.glob('preempt_iter_*.pth'))
    print(f'faults {outcomes}: {time.time() - start:.1f} s')


def test_nonfinite_loss_stops_with_one_line_and_intact_checkpoints(tmp_path, imagenet_root):
    work = tmp_path / 'nan'
    config = _config(tmp_path, imagenet_root, 'nan', fault=(10, 'nan'))  # in epoch 2
    rc, out = _train(config, work, tmp_path / 'nan.log')
    assert rc == 1, out[-3000:]
    last = out.strip().splitlines()[-1]
    assert last == (f'train.py: non-finite loss (nan) at iteration 11 (epoch 2); stopped without '
                    f'saving; last checkpoint: {work}/epoch_1.pth'), out[-3000:]
    assert sorted(p.name for p in work.glob('*.pth')) == ['dbot_stage1_epoch_1.pth',
                                                          'epoch_1.pth']
    state = torch.load(work / 'epoch_1.pth', weights_only=True)['state_dict']
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


def test_fault_hook_signals_its_process_group_only(monkeypatch):
    """The test helper itself: a group signal only from a process-group leader (the processes
    started above), else to itself alone, never to the process that runs the tests."""
    from dbot_mm.testing import tiny_pretrain
    sent = []
    monkeypatch.setattr(os, 'kill', lambda pid, sig: sent.append(('kill', pid, sig)))
    monkeypatch.setattr(os, 'killpg', lambda pg, sig: sent.append(('killpg', pg, sig)))
    tiny_pretrain._signal_group(signal.SIGTERM)
    leader = os.getpgid(0) == os.getpid()
    assert sent == [('killpg', 0, signal.SIGTERM) if leader else
                    ('kill', os.getpid(), signal.SIGTERM)]
