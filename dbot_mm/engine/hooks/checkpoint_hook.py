"""Checkpoints that survive a kill at any moment (SIGKILL, a lost node, slurm's KillWait).

mmengine's ``CheckpointHook`` writes each checkpoint and ``last_checkpoint`` in place and removes
the oldest checkpoint before it writes the new one: a kill mid-write leaves a truncated file that
``--resume`` then loads (with ``max_keep_ckpts=1``, no complete checkpoint at all). Here every
file is written atomically (:func:`~dbot_mm.utils.checkpoint.atomic_write`), only then does
``last_checkpoint`` point at it, and the oldest is removed last.
"""
import glob
import os
import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.registry import HOOKS

from dbot_mm.utils.checkpoint import ATOMIC_BACKEND_ARGS, TMP_TAG, atomic_write


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose files are complete whenever a kill comes."""

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
                for tmp in glob.glob(osp.join(glob.escape(folder), f'.*{TMP_TAG}*')):
                    os.remove(tmp)

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
