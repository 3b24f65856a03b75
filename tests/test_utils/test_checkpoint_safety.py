"""Checkpoints load with ``weights_only=True``: mmengine data yes, code no, and no file can
change how the process computes its logged statistics."""
import argparse
import copyreg
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner

from dbot_mm.utils import (
    CheckpointReadError,
    UnsafeCheckpointError,
    checkpoint_safe_globals,
    load_checkpoint_file,
    register_checkpoint_safe_globals,
)


class _Payload:
    """An arbitrary class: unpickling it would run code of the file's choice."""

    def __reduce__(self):
        return (os.system, ('echo pwned', ))


class _Plain:
    """A harmless but unknown class: still not trusted."""

    def __init__(self):
        self.value = 1


def _mmengine_like_checkpoint():
    """What mmengine's Runner.save_checkpoint writes, built without a run."""
    hub = MessageHub.get_instance('test_checkpoint_safety')
    for i in range(3):
        hub.update_scalar('train/loss', np.float32(0.5 + i))
        hub.update_scalar('train/lr', 1e-3 * i)
        hub.update_scalar('train/iter', np.int64(i))
    hub.update_info('epoch', 1)
    hub.update_info('iter', 4)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters(), betas=(0.9, 0.95))
    scaler = torch.amp.GradScaler('cpu')
    scaler.scale(model(torch.ones(1, 2)).sum()).backward()
    scaler.step(optimizer)
    scaler.update()
    assert scaler.state_dict()  # enabled on the CPU: not an empty dict
    return dict(
        meta=dict(
            epoch=1,
            iter=4,
            seed=np.int64(0),
            cfg='model = dict()',
            dataset_meta=dict(classes=('a', 'b'))),
        state_dict=model.state_dict(),
        optimizer=optimizer.state_dict(),
        param_schedulers=[dict(base_values=[1e-3], last_step=4, by_epoch=False)],
        message_hub=hub.state_dict(),
        # AmpOptimWrapper.state_dict() adds its GradScaler's state.
        loss_scaler=scaler.state_dict(),
    )


def test_tensor_only_file_loads(tmp_path):
    path = tmp_path / 'weights.pth'
    torch.save({'state_dict': {'w': torch.ones(2, 2)}}, path)
    loaded = load_checkpoint_file(path)
    torch.testing.assert_close(loaded['state_dict']['w'], torch.ones(2, 2))


def test_mmengine_checkpoint_loads(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    register_checkpoint_safe_globals()
    assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    loaded = load_checkpoint_file(path)
    buffers = loaded['message_hub']['log_scalars']
    assert buffers['train/loss'].current() == pytest.approx(2.5)
    assert loaded['meta']['seed'] == 0
    # mmengine's own loader (torch.load without weights_only) works too.
    via_mmengine = CheckpointLoader.load_checkpoint(str(path), 'cpu')
    assert set(via_mmengine) == set(loaded)


def test_numpy1_names_are_trusted():
    """Files pickled under numpy 1.x name numpy.core.multiarray.*."""
    names = {g[1] for g in checkpoint_safe_globals() if isinstance(g, tuple)}
    assert 'numpy.core.multiarray._reconstruct' in names
    assert 'numpy.core.multiarray.scalar' in names


@pytest.mark.parametrize('zipfile', [True, False], ids=['zip', 'legacy'])
def test_pickled_code_is_refused(tmp_path, zipfile):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _Payload()}, path, _use_new_zipfile_serialization=zipfile)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert '\n' not in message
    assert str(path) in message
    assert 'os.system' in message or 'posix.system' in message


def test_unknown_class_is_refused(tmp_path):
    path = tmp_path / 'custom.pth'
    torch.save({'obj': _Plain()}, path)
    with pytest.raises(
            UnsafeCheckpointError, match=r"custom\.pth'.*test_checkpoint_safety\._Plain"):
        load_checkpoint_file(path)


def test_getattr_only_for_history_buffer_statistics(tmp_path):
    """mmengine pickles HistoryBuffer.mean as getattr(HistoryBuffer, 'mean');
    no other attribute lookup is trusted."""
    from collections import OrderedDict
    path = tmp_path / 'methods.pth'
    torch.save({'stats': [HistoryBuffer.mean, HistoryBuffer.max]}, path)
    assert load_checkpoint_file(path)['stats'] == [HistoryBuffer.mean, HistoryBuffer.max]
    # A builtin classmethod pickles as getattr(OrderedDict, 'fromkeys').
    path = tmp_path / 'getattr.pth'
    torch.save({'f': OrderedDict.fromkeys}, path)
    with pytest.raises(UnsafeCheckpointError, match=r'getattr\(OrderedDict\.fromkeys\)'):
        load_checkpoint_file(path)


def test_refusal_is_an_unpickling_error(tmp_path):
    """Callers that already catch pickle errors keep working."""
    path = tmp_path / 'custom.pth'
    torch.save({'obj': _Plain()}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint_file(path)


def test_corrupt_file_is_not_reported_as_unsafe(tmp_path):
    path = tmp_path / 'broken.pth'
    path.write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointReadError, match='could not load checkpoint') as info:
        load_checkpoint_file(path)
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert str(path) in str(info.value) and '\n' not in str(info.value)


def test_official_args_namespace_loads(tmp_path):
    """Official MAE/dBOT files (misc.save_model) keep the command line as a Namespace."""
    path = tmp_path / 'checkpoint-1600.pth'
    args = argparse.Namespace(model='mae_vit_base_patch16', depth=[12, 12, 12], blr=1.5e-4)
    torch.save({'model': {'w': torch.ones(1)}, 'epoch': 1599, 'args': args}, path)
    assert load_checkpoint_file(path)['args'] == args


def test_missing_file_names_it(tmp_path):
    path = tmp_path / 'epoch_3.pth'
    with pytest.raises(FileNotFoundError, match='epoch_3.pth'):
        load_checkpoint_file(path)


# ------------------------------------------------------------------ HistoryBuffer state
def _crafted_buffer(**extra):
    """A HistoryBuffer that pickles with ``extra`` in its state (as a doctored file would)."""
    buffer = HistoryBuffer([1., 3.], [1, 1], max_length=10)
    state = dict(_log_history=np.array([1., 3.]), _count_history=np.array([1, 1]), max_length=10)
    state.update(extra)
    buffer.__reduce_ex__ = lambda protocol: (copyreg.__newobj__, (HistoryBuffer, ), state)
    return buffer


@pytest.fixture
def statistics_unchanged():
    """The test fails if HistoryBuffer's class-level statistics were altered."""
    before = dict(HistoryBuffer._statistics_methods)
    yield
    after = dict(HistoryBuffer._statistics_methods)
    HistoryBuffer._statistics_methods.clear()  # repair, so that other tests are not affected
    HistoryBuffer._statistics_methods.update(before)
    assert after == before
    assert HistoryBuffer([1, 3], [1, 1]).statistics('mean') == 2


@pytest.mark.parametrize(
    'state,needle', [
        (dict(statistics_methods={'mean': HistoryBuffer.max}),
         "statistics_methods['mean'] = HistoryBuffer.max"),
        (dict(statistics_methods={'median': HistoryBuffer.max}), "statistics_methods['median']"),
        (dict(statistics_methods=[HistoryBuffer.max]), 'not a dict'),
        (dict(_statistics_methods={'mean': HistoryBuffer.max}), "['_statistics_methods']"),
        (dict(max_length='10'), 'HistoryBuffer.max_length of type str'),
    ],
    ids=['mean-is-max', 'new-name', 'not-a-dict', 'instance-methods', 'bad-type'])
def test_history_buffer_cannot_carry_methods(tmp_path, statistics_unchanged, state, needle):
    """mmengine's HistoryBuffer.__setstate__ copies the file's statistics methods into the
    class: this file would make every logged 'mean' of the process a max."""
    path = tmp_path / 'poisoned.pth'
    torch.save({'message_hub': {'log_scalars': {'train/loss': _crafted_buffer(**state)}}}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert '\n' not in message and str(path) in message and needle in message, message
    # mmengine's own loader (torch.load with torch's default weights_only=True) is covered too
    with pytest.raises(pickle.UnpicklingError):
        CheckpointLoader.load_checkpoint(str(path), 'cpu')


def test_history_buffer_rebuilt_as_plain_buffer(tmp_path, statistics_unchanged):
    path = tmp_path / 'hub.pth'
    buffer = HistoryBuffer([1.0, 2.0, 6.0], [1, 1, 1], max_length=5)
    torch.save({'buffer': buffer}, path)
    loaded = load_checkpoint_file(path)['buffer']
    assert type(loaded) is HistoryBuffer
    assert loaded.max_length == 5 and 'statistics_methods' not in vars(loaded)
    assert loaded.mean() == 3 and loaded.statistics('max') == 6
    loaded.update(3.0)
    assert loaded.current() == 3
    assert pickle.loads(pickle.dumps(loaded)).mean() == 3  # saves again like any buffer


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs) if isinstance(inputs, list) else inputs)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def _toy_runner(work_dir, name, max_epochs, **kwargs):
    data = [dict(inputs=torch.full((2, ), float(i))) for i in range(8)]
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=data,
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        log_level='WARNING',
        **kwargs)


def test_runner_resume_with_message_hub(tmp_path, statistics_unchanged):
    """A real mmengine checkpoint (message hub of HistoryBuffers) resumes through mmengine's
    loader under weights_only, and the resumed buffers are plain HistoryBuffers."""
    _toy_runner(tmp_path, 'safety_run1', 1).train()
    ckpt = tmp_path / 'epoch_1.pth'
    saved = load_checkpoint_file(ckpt)['message_hub']['log_scalars']['train/loss']
    assert type(saved) is HistoryBuffer and len(saved.data[0]) == 4
    runner = _toy_runner(tmp_path, 'safety_run2', 2, resume=True, load_from=str(ckpt))
    runner.train()
    assert runner.iter == 8 and runner.epoch == 2
    losses = runner.message_hub.get_scalar('train/loss')
    assert type(losses) is HistoryBuffer and len(losses.data[0]) == 8
    np.testing.assert_array_equal(losses.data[0][:4], saved.data[0])
    assert losses.mean() == pytest.approx(float(np.mean(losses.data[0])))
