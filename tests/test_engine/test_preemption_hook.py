"""PreemptionHook on a resumed checkpoint from the middle of an epoch, and its data workers under a
cluster's SIGTERM (stub runner, no training)."""
import os
import subprocess
import time
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from dbot_mm.engine.hooks import PreemptionHook


def _runner(epoch, iter, loader):
    loop = mock.Mock(spec=EpochBasedTrainLoop)
    return SimpleNamespace(
        train_loop=loop, train_dataloader=loader, epoch=epoch, iter=iter, logger=mock.Mock())


def _resume(hook, runner, meta):
    hook.after_load_checkpoint(runner, dict(meta=meta))
    hook._resume_mid_epoch(runner)


def test_mid_epoch_resume_skips_the_batches_done():
    loader = DataLoader(list(range(10)), batch_size=2)  # 5 batches an epoch
    hook = PreemptionHook()
    _resume(hook, _runner(epoch=1, iter=8, loader=loader), dict(iter=8, iters_per_epoch=5))
    assert [b.tolist() for b in loader] == [[6, 7], [8, 9]]  # epoch 2 after its 3rd batch
    assert len(loader) == 5 and len(list(loader)) == 5  # the next epochs are whole


@pytest.mark.parametrize('meta, loader, message', [
    (dict(iter=8, iters_per_epoch=4), DataLoader(list(range(10)), batch_size=2),
     'the checkpoint was written with 4 iterations per epoch, this run has 5'),
    (dict(iter=8, iters_per_epoch=5),
     DataLoader(list(range(10)), batch_sampler=[[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]),
     'cannot resume in the middle of epoch 2: list cannot skip batches'),
])
def test_mid_epoch_resume_errors_are_one_line(meta, loader, message):
    with pytest.raises(ValueError, match=message) as err:
        _resume(PreemptionHook(), _runner(epoch=1, iter=8, loader=loader), meta)
    assert '\n' not in str(err.value)


def test_load_from_is_not_a_resume():
    loader = DataLoader(torch.arange(10), batch_size=2)
    _resume(PreemptionHook(), _runner(epoch=0, iter=0, loader=loader), dict(iter=8))
    assert len(list(loader)) == 5


class _WorkerPids(torch.utils.data.Dataset):
    """The pid of the process that loads each item, slowly enough to outlast a prefetch."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        time.sleep(0.05)
        return os.getpid()


def test_training_and_validation_workers_survive_a_sigterm_from_another_process():
    """Slurm signals every process of the job step: the workers of both loaders ignore a SIGTERM
    that does not come from their main process (unshielded, the loader dies: 'DataLoader worker
    ... exited unexpectedly'), and go on loading."""
    train, val = (
        DataLoader(_WorkerPids(), num_workers=1, persistent_workers=True) for _ in range(2))
    runner = _runner(epoch=0, iter=0, loader=train)
    runner.val_loop = SimpleNamespace(dataloader=val)
    hook = PreemptionHook()
    hook.before_train(runner)
    try:
        for loader in (train, val):
            batches = iter(loader)
            pid = int(next(batches))
            subprocess.run(['kill', '-TERM', str(pid)], check=True)
            time.sleep(0.3)
            assert [int(p) for p in batches] == [pid] * (len(loader) - 1)
    finally:
        hook.after_train(runner)
