"""dBOT's multi-stage bootstrapping as an mmengine hook (official main_pretrain.py, ``main``: the
``(epoch + 1) in args.stage_epochs`` blocks). At every inner boundary of ``stage_epochs`` (start of
that epoch): teacher <- student encoder, and the student (encoder, decoder, mask token) starts
again from a fresh init; the LR restart is ``StageCosineLR``'s (checked to agree).

Stages count from 1 everywhere: the log, ``meta['dbot_stage']`` (the stage of the weights) and the
snapshots ``dbot_stage{k}_epoch_{N}.pth``. The stage follows the run's epoch: a resumed run
continues its stage; a ``load_from`` run starts at stage 1 and bootstraps at every boundary.
Unlike the official code, the re-initialisation is identical on every rank (seeded by the run's
seed and the stage, rank 0's weights broadcast).
"""
import os.path as osp
from typing import Sequence

import torch
from mmengine.dist import broadcast, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu

from dbot_mm.utils.checkpoint import ATOMIC_BACKEND_ARGS

from ..schedulers.stage_cosine import StageCosineParamScheduler, check_stages


@HOOKS.register_module()
class DBotBootstrapHook(Hook):
    """Args:
        stage_epochs: boundaries, e.g. [0, 800, 1600]; the last must equal ``max_epochs``.
        reset_optimizer: clear the optimizer moments at a boundary (the official code keeps them).
        snapshot: write ``dbot_stage{k}_epoch_{N}.pth`` (model weights, never rotated) at every
            stage end.
    """
    priority = 'ABOVE_NORMAL'  # before CheckpointHook / ParamSchedulerHook

    def __init__(self, stage_epochs: Sequence[int], reset_optimizer=False, snapshot=True):
        check_stages(stage_epochs, 0, type(self).__name__)
        self.stage_epochs = list(stage_epochs)
        self.reset_optimizer = reset_optimizer
        self.snapshot = snapshot
        self.stage = 1  # the stage the model's weights belong to
        self.snapshots = {}  # stage -> snapshot written by this launch (for RunRecordHook)

    def stage_of(self, epoch: int, started: bool = True) -> int:
        """The stage of ``epoch`` once it has started (its boundary, if any, crossed)."""
        return 1 + sum(b < epoch or (started and b == epoch) for b in self.stage_epochs[1:-1])

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        name, loader = type(self).__name__, runner.train_dataloader
        if self.stage_epochs[-1] != runner.max_epochs:
            raise ValueError(f'{name}: stage_epochs {self.stage_epochs} must end at max_epochs '
                             f'= {runner.max_epochs}')
        groups = runner.param_schedulers or []
        for s in (sum(groups.values(), []) if isinstance(groups, dict) else groups):
            stages = [b / (1 if s.by_epoch else len(loader)) for b in getattr(s, 'stages', [])]
            if isinstance(s, StageCosineParamScheduler) and stages != self.stage_epochs:
                raise ValueError(f'{name}: stage_epochs {self.stage_epochs} differ from '
                                 f'{type(s).__name__} stages (in epochs) {stages}')
        model = self._model(runner)
        if len(self.stage_epochs) > 2 and model.teacher.embed_dims != model.backbone.embed_dims:
            raise ValueError(f'{name}: {len(self.stage_epochs) - 1} stages need a teacher as '
                             f'wide as the student ({model.teacher.embed_dims} vs '
                             f'{model.backbone.embed_dims}); an external teacher needs one stage')
        # where the run is: 0 (fresh, load_from), an epoch end, or mid-epoch after a preemption
        self.stage = self.stage_of(runner.epoch, runner.iter > runner.epoch * len(loader))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Before the weights are copied: a bootstrapped teacher has the student's depth (ViT-L/H
        start with a depth-0 teacher); give the model that teacher if the file has it."""
        model, own = self._model(runner), self._model(runner).state_dict().keys()
        keys = (k[7:] if k.startswith('module.') else k for k in checkpoint.get('state_dict', {}))
        if any(k.startswith('teacher.') and k not in own for k in keys):
            model.rebuild_teacher_as_student()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['dbot_stage'] = self.stage

    def before_train_epoch(self, runner) -> None:
        while self.stage < self.stage_of(runner.epoch):
            self._bootstrap(runner)
            self.stage += 1
            runner.logger.info(f'{type(self).__name__}: stage {self.stage} starts at epoch '
                               f'{runner.epoch}: teacher <- student, student re-initialised')

    def after_train_epoch(self, runner) -> None:
        done = runner.epoch + 1
        if self.snapshot and done in self.stage_epochs[1:] and is_main_process():
            path = osp.join(runner.work_dir, f'dbot_stage{self.stage}_epoch_{done}.pth')
            meta = dict(epoch=done, dbot_stage=self.stage, stage_epochs=self.stage_epochs)
            state = weights_to_cpu(self._model(runner).state_dict())
            save_checkpoint(
                dict(meta=meta, state_dict=state), path, backend_args=ATOMIC_BACKEND_ARGS)
            self.snapshots[self.stage] = path
            runner.logger.info(f'{type(self).__name__}: end of stage {self.stage} saved to {path}')

    def _bootstrap(self, runner) -> None:
        model = self._model(runner)
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(runner.seed + 1000 * self.stage)  # rank 0's is broadcast below
            model.bootstrap()
        if get_world_size() > 1:
            for module in (model.backbone, model.neck, model.teacher):
                for t in module.state_dict().values():
                    broadcast(t, src=0)
        if self.reset_optimizer:
            wrapper = runner.optim_wrapper
            for w in wrapper.values() if isinstance(wrapper, OptimWrapperDict) else [wrapper]:
                w.optimizer.state.clear()
