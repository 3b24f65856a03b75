"""Atomic checkpoint files and the choice of the checkpoint to resume from (no training here)."""
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.runner.checkpoint import save_checkpoint

from dbot_mm.engine.hooks import SafeCheckpointHook
from dbot_mm.utils.checkpoint import ATOMIC_BACKEND_ARGS, atomic_write, find_resume_checkpoint


def _write(path, iter, optimizer=True, size=2000):
    ckpt = dict(meta=dict(epoch=iter // 4, iter=iter), state_dict=dict(w=torch.arange(size)))
    if optimizer:
        ckpt['optimizer'] = dict(state={}, param_groups=[])
    save_checkpoint(ckpt, str(path), backend_args=ATOMIC_BACKEND_ARGS)
    return path


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    atomic_write(b'old', str(path))

    def interrupted(src, dst):
        raise KeyboardInterrupt  # anything between the write and the rename

    monkeypatch.setattr(os, 'replace', interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(b'new' * 1000, str(path))
    assert path.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temporary file left


def _hook_runner(tmp_path, max_keep):
    hook = SafeCheckpointHook(interval=1, max_keep_ckpts=max_keep)
    saved = []

    def save_checkpoint(out_dir, filename, *args, **kwargs):
        assert kwargs['backend_args'] == ATOMIC_BACKEND_ARGS
        _write(os.path.join(out_dir, filename), len(saved) + 1)
        saved.append(filename)

    runner = SimpleNamespace(
        work_dir=str(tmp_path),
        message_hub=MessageHub('safe_ckpt_test'),
        save_checkpoint=save_checkpoint,
        logger=None)
    hook.out_dir = str(tmp_path)
    from mmengine.fileio import get_file_backend
    hook.file_backend = get_file_backend(str(tmp_path))
    from collections import deque
    hook.keep_ckpt_ids = deque([], max_keep)
    return hook, runner


def test_rotation_removes_the_oldest_only_after_the_new_one_is_written(tmp_path):
    hook, runner = _hook_runner(tmp_path, max_keep=1)
    hook._save_checkpoint_with_step(runner, 1, meta={})
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'epoch_1.pth')

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    runner.save_checkpoint = killed  # a kill while epoch_2.pth is written
    with pytest.raises(KeyboardInterrupt):
        hook._save_checkpoint_with_step(runner, 2, meta={})
    # mmengine would have removed epoch_1.pth first: nothing left to resume from
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert find_resume_checkpoint(str(tmp_path))[0] == str(tmp_path / 'epoch_1.pth')


def test_resume_skips_truncated_and_corrupt_files(tmp_path):
    for i in (1, 2, 3, 4):
        _write(tmp_path / f'epoch_{i}.pth', 4 * i)
    _write(tmp_path / 'dbot_stage2_epoch_9.pth', 36, optimizer=False)  # snapshot: not a candidate
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_4.pth'))
    data = (tmp_path / 'epoch_4.pth').read_bytes()
    (tmp_path / 'epoch_4.pth').write_bytes(data[:len(data) // 2])  # truncated
    data = bytearray((tmp_path / 'epoch_3.pth').read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside the tensor data
    (tmp_path / 'epoch_3.pth').write_bytes(bytes(data))
    found, skipped = find_resume_checkpoint(str(tmp_path))
    assert found == str(tmp_path / 'epoch_2.pth')
    assert [s.split(' ')[0]
            for s in skipped] == [str(tmp_path / 'epoch_4.pth'),
                                  str(tmp_path / 'epoch_3.pth')]
    assert 'CRC' in skipped[1] and all('\n' not in s for s in skipped)


def test_resume_picks_the_newest_iteration_whatever_last_checkpoint_says(tmp_path):
    _write(tmp_path / 'epoch_1.pth', 4)
    _write(tmp_path / 'preempt_iter_6.pth', 6)  # written after epoch_1, pointer not updated
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_1.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == (str(tmp_path / 'preempt_iter_6.pth'), [])


def test_no_checkpoint_at_all(tmp_path):
    (tmp_path / '.epoch_1.pth.tmp-123').write_bytes(b'partial')  # a write that was killed
    assert find_resume_checkpoint(str(tmp_path)) == (None, [])
