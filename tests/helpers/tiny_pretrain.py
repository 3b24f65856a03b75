"""A tiny dBOT pretraining for tests: the demo config on a generated ImageNet folder, plus a hook
that injects a fault at a chosen point: a crash, a preemption or a diverging loss.

    from tests.helpers.tiny_pretrain import tiny_cfg, tiny_runner
"""
import os
import signal
from pathlib import Path
from typing import Optional

from mmengine.config import Config
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / 'configs/pretrain/dbot_vit-tiny_demo.py'


def tiny_cfg(work_dir, data_root, stage_epochs=None, num_workers=None, **options) -> Config:
    """The demo config writing to ``work_dir``, every checkpoint kept, augmentation seeded per
    sample (``SeededSampler`` + ``SeededDataset``); ``stage_epochs`` also sets the epochs and a
    warm-up of at most 1 epoch, ``num_workers > 0`` uses persistent workers as the shipped
    configs do; ``options`` are merged last (``cfg.merge_from_dict``)."""
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.work_dir = str(work_dir)
    loader = cfg.train_dataloader
    if loader.dataset.type != 'SeededDataset':
        loader.dataset = dict(type='SeededDataset', dataset=loader.dataset)
    loader.sampler.type = 'SeededSampler'
    loader.dataset.dataset.data_root = str(data_root)
    if num_workers is not None:
        loader.update(num_workers=num_workers, persistent_workers=num_workers > 0)
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.log_level = 'WARNING'
    if stage_epochs is not None:
        cfg.train_cfg.max_epochs = stage_epochs[-1]
        cfg.param_scheduler[0].stage_epochs = stage_epochs
        shortest = min(b - a for a, b in zip(stage_epochs, stage_epochs[1:]))
        cfg.param_scheduler[0].warmup_epochs = min(1, shortest / 2)
        cfg.custom_hooks[0].stage_epochs = stage_epochs
    cfg.merge_from_dict(options)
    return cfg


def tiny_runner(work_dir, data_root, **kwargs) -> Runner:
    return Runner.from_cfg(tiny_cfg(work_dir, data_root, **kwargs))


def _signal_group(sig) -> None:
    """``sig`` to this process and its data workers, sent by another process as a cluster would;
    never beyond: the test must have made this process a process-group leader (its own session).
    """
    target = os.getpid()
    if os.getpgid(0) != target:
        os.kill(target, sig)
        return
    sender = os.fork()
    if sender == 0:
        os.killpg(target, sig)
        os._exit(0)
    os.waitpid(sender, 0)


@HOOKS.register_module()
class FaultInjectionHook(Hook):
    """Inject a fault once ``at_iter`` iterations of the run are done (counted over the run).

    ``how``: ``'kill'`` SIGKILL right then (after the iteration's optimizer step, before the
    other hooks of that iteration); ``'kill_in_save'`` SIGKILL in the next checkpoint write, with
    half of the temporary file on disk and the rename not done; ``'kill_before_pointer'`` SIGKILL
    once the next checkpoint file is in place, before ``last_checkpoint`` names it; ``'term'``
    SIGTERM from another process, as a preemption (the main process and the data workers receive
    it); ``'nan'`` a NaN in the student's weights, so the next loss is NaN. ``rank``: only there.
    """
    priority = 'VERY_HIGH'

    def __init__(self, at_iter: int, how: str = 'kill', rank: Optional[int] = None):
        assert how in ('kill', 'kill_in_save', 'kill_before_pointer', 'term', 'nan'), how
        self.at_iter, self.how, self.rank = at_iter, how, rank

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 != self.at_iter or self.rank not in (None, get_rank()):
            return
        if self.how == 'nan':
            model = getattr(runner.model, 'module', runner.model)
            model.backbone.patch_embed.proj.weight.data.fill_(float('nan'))
            return
        if self.how in ('kill', 'term'):
            _signal_group(signal.SIGKILL if self.how == 'kill' else signal.SIGTERM)
            return
        replace = os.replace

        def replace_then_die(src, dst, *args, **kwargs):
            if self.how == 'kill_in_save' and str(dst).endswith('.pth'):
                os.truncate(src, os.path.getsize(src) // 2)
                _signal_group(signal.SIGKILL)
            replace(src, dst, *args, **kwargs)
            if self.how == 'kill_before_pointer' and str(dst).endswith('.pth'):
                _signal_group(signal.SIGKILL)

        os.replace = replace_then_die
