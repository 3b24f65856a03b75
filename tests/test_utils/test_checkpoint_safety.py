"""Checkpoints load with ``weights_only=True``: mmengine data yes, code no."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner import CheckpointLoader

from dbot_mm.utils import (UnsafeCheckpointError, checkpoint_safe_globals,
                           load_checkpoint_file,
                           register_checkpoint_safe_globals)


class _Payload:
    """An arbitrary class: unpickling it would run code of the file's choice."""

    def __reduce__(self):
        return (os.system, ('echo pwned',))


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
        meta=dict(epoch=1, iter=4, seed=np.int64(0), cfg='model = dict()',
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
    torch.save({'state_dict': {}, 'x': _Payload()}, path,
               _use_new_zipfile_serialization=zipfile)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint_file(path)
    message = str(info.value)
    assert '\n' not in message
    assert str(path) in message
    assert 'os.system' in message or 'posix.system' in message


def test_unknown_class_is_refused(tmp_path):
    path = tmp_path / 'custom.pth'
    torch.save({'obj': _Plain()}, path)
    with pytest.raises(UnsafeCheckpointError,
                       match=r"custom\.pth'.*test_checkpoint_safety\._Plain"):
        load_checkpoint_file(path)


def test_getattr_only_for_history_buffer_statistics(tmp_path):
    """mmengine pickles HistoryBuffer.mean as getattr(HistoryBuffer, 'mean');
    no other attribute lookup is trusted."""
    from collections import OrderedDict
    from mmengine.logging import HistoryBuffer
    path = tmp_path / 'methods.pth'
    torch.save({'stats': [HistoryBuffer.mean, HistoryBuffer.max]}, path)
    assert load_checkpoint_file(path)['stats'] == [HistoryBuffer.mean,
                                                   HistoryBuffer.max]
    # A builtin classmethod pickles as getattr(OrderedDict, 'fromkeys').
    path = tmp_path / 'getattr.pth'
    torch.save({'f': OrderedDict.fromkeys}, path)
    with pytest.raises(UnsafeCheckpointError,
                       match=r'getattr\(OrderedDict\.fromkeys\)'):
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
    with pytest.raises(RuntimeError, match='could not load checkpoint') as info:
        load_checkpoint_file(path)
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert str(path) in str(info.value) and '\n' not in str(info.value)
