"""PreemptionHook on a resumed checkpoint from the middle of an epoch (stub runner, no training)."""
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
