"""Checkpoints that survive a kill at any moment (SIGKILL, a lost node, slurm's KillWait).

mmengine's ``CheckpointHook`` writes each checkpoint and ``last_checkpoint`` in place and removes
the oldest checkpoint before it writes the new one: a kill mid-write leaves a truncated file that
``--resume`` then loads (with ``max_keep_ckpts=1``, no complete checkpoint at all). Here every
file goes to a hidden temporary name, is flushed to disk and renamed (atomic on POSIX), only then
does ``last_checkpoint`` point at it, and the oldest is removed last. :func:`find_resume_checkpoint`
is what ``tools/train.py --resume`` uses: the newest checkpoint that reads back completely.
"""
import glob
import os
import os.path as osp
import zipfile
from typing import List, Optional, Tuple, Union

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.optim import OptimWrapper
from mmengine.registry import HOOKS

from ..optimizers.merged_groups_constructor import regroup_saved_state

# ``backend_args`` for mmengine's save functions that write local files atomically
ATOMIC_BACKEND_ARGS = dict(backend='local_atomic')
_TMP_TAG = '.tmp-'


def atomic_write(data: Union[bytes, str], path: str) -> None:
    """Write ``data`` to ``path``: afterwards ``path`` is the old file or the whole new one."""
    folder, name = osp.split(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{name}{_TMP_TAG}{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # not every file system lets a directory be opened/synced
        pass


@register_backend('local_atomic')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, writing with :func:`atomic_write`."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose files are complete whenever a kill comes.
    ``tools/train.py`` uses it in place of every ``CheckpointHook``."""

    def __init__(self, *args, backend_args: Optional[dict] = None, **kwargs):
        local = kwargs.get('file_client_args') is None and (kwargs.get('out_dir') is None
                                                            or '://' not in str(kwargs['out_dir']))
        if backend_args is None and local:
            backend_args = dict(ATOMIC_BACKEND_ARGS)
        super().__init__(*args, backend_args=backend_args, **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process():  # temporary files of writes that a kill interrupted
            for folder in {runner.work_dir, self.out_dir}:
                for tmp in glob.glob(osp.join(glob.escape(folder), f'.*{_TMP_TAG}*')):
                    os.remove(tmp)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """A checkpoint written while the optimizer had one group per parameter (before its groups
        were merged per setting) resumes into the merged groups."""
        saved, wrapper = checkpoint.get('optimizer'), getattr(runner, 'optim_wrapper', None)
        if not isinstance(saved, dict) or not isinstance(wrapper, OptimWrapper):
            return
        regrouped = regroup_saved_state(saved, wrapper.optimizer)
        if regrouped is not None:
            checkpoint['optimizer'] = regrouped
            runner.logger.info(
                f"optimizer state of {len(saved['param_groups'])} per-parameter groups merged "
                f'into the {len(regrouped["param_groups"])} groups of this optimizer')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        # mmengine's order is remove-oldest, write, point; here write, point, remove-oldest
        stale = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        atomic_write(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        if stale is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)


def _peek(path: str) -> dict:
    """A checkpoint with its tensors memory-mapped, not read; raises if the file is incomplete."""
    from dbot_mm.utils.checkpoint_safety import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    if not isinstance(ckpt, dict):
        raise ValueError('not a checkpoint dict')
    return ckpt


def read_meta(path: str) -> Tuple[dict, bool]:
    """``meta`` of a checkpoint, and whether the runner can resume from it (iteration and
    optimizer state present: not an end-of-stage snapshot or exported weights)."""
    ckpt = _peek(path)
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    return meta, 'iter' in meta and 'optimizer' in ckpt


def read_state_keys(path: str) -> set:
    """The model keys a checkpoint holds (mmengine's ``module.`` prefix removed)."""
    ckpt = _peek(path)
    state = ckpt.get('state_dict', ckpt)
    return {k[7:] if k.startswith('module.') else k for k in state}


def _damage(path: str) -> Optional[str]:
    """Why ``path`` does not read back completely (CRC of every member), or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        return f'{type(err).__name__}: {err}'
    return f'member {bad} fails its CRC' if bad else None


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The newest complete resumable checkpoint of a run, and a line per damaged one skipped.

    Candidates: the ``*.pth`` next to the one ``last_checkpoint`` names and in ``work_dir``,
    newest first by ``meta['iter']`` (end-of-stage snapshots and exported weights, which have no
    iteration or optimizer, are not candidates).
    """
    folders = {osp.abspath(work_dir)}
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named:
            folders.add(osp.dirname(osp.abspath(named)))
    found, skipped = [], []
    for path in sorted({p for d in folders for p in glob.glob(osp.join(glob.escape(d), '*.pth'))}):
        try:
            meta, resumable = read_meta(path)
        except Exception as err:  # truncated, not a zip, unpicklable: unreadable either way
            skipped.append(f'{path} ({type(err).__name__}: {str(err).splitlines()[0][:120]})')
            continue
        if resumable:
            found.append((meta['iter'], osp.getmtime(path), path))
    for _, _, path in sorted(found, reverse=True):
        damage = _damage(path)
        if damage is None:
            return path, skipped
        skipped.append(f'{path} ({damage})')
    return None, skipped
