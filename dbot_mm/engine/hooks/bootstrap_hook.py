"""The multi-stage bootstrapping of dBOT, as an mmengine hook.

At every boundary of ``stage_epochs`` (epoch start): snapshot the finished stage, then
teacher <- student encoder and a fresh student (encoder + decoder + mask token). The LR restart is
the ``StageCosineLR`` scheduler's job (closed form in the step); this hook checks that both agree.

Unlike the official code, the re-initialisation is identical on every rank: it runs under a
seed that depends only on the run's seed and the stage, and rank 0's weights are broadcast.
"""
import os.path as osp
from typing import List, Optional, Sequence

import torch
from mmengine.dist import broadcast, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu

from ..schedulers.stage_cosine import StageCosineParamScheduler, check_stages


@HOOKS.register_module()
class DBotBootstrapHook(Hook):
    """Args:
        stage_epochs: boundaries, e.g. [0, 800, 1600]; the last must equal ``max_epochs``.
        reset_optimizer: clear the optimizer moments at a boundary (the official code keeps
            them, so the default is False).
        snapshot: write ``dbot_stage{k}_epoch_{N}.pth`` (model weights) at every stage end, a
            file ``CheckpointHook(max_keep_ckpts=...)`` never deletes.
    """
    priority = 'ABOVE_NORMAL'  # before CheckpointHook / ParamSchedulerHook

    def __init__(self, stage_epochs: Sequence[int], reset_optimizer: bool = False,
                 snapshot: bool = True):
        check_stages(stage_epochs, 0, type(self).__name__)
        self.stage_epochs = list(stage_epochs)
        self.reset_optimizer = reset_optimizer
        self.snapshot = snapshot
        self.stage = 0  # boundaries already crossed

    @property
    def boundaries(self) -> List[int]:
        return self.stage_epochs[1:-1]

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    # ------------------------------------------------------------------ checks and resume
    def before_train(self, runner) -> None:
        name = type(self).__name__
        if self.stage_epochs[-1] != runner.max_epochs:
            raise ValueError(f'{name}: stage_epochs {self.stage_epochs} must end at max_epochs '
                             f'= {runner.max_epochs}')
        schedulers = runner.param_schedulers
        if isinstance(schedulers, dict):
            schedulers = [s for group in schedulers.values() for s in group]
        for s in schedulers or []:
            if isinstance(s, StageCosineParamScheduler):
                per_epoch = 1 if s.by_epoch else len(runner.train_dataloader)
                if [b / per_epoch for b in s.stages] != self.stage_epochs:
                    raise ValueError(f'{name}: stage_epochs {self.stage_epochs} differ from '
                                     f'{type(s).__name__} stages (in epochs) '
                                     f'{[b / per_epoch for b in s.stages]}')
        model = self._model(runner)
        if len(self.stage_epochs) > 2 and model.teacher.embed_dims != model.backbone.embed_dims:
            raise ValueError(f'{name}: {len(self.stage_epochs) - 1} stages need a teacher as '
                             f'wide as the student ({model.teacher.embed_dims} vs '
                             f'{model.backbone.embed_dims}); an external teacher needs one stage')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On resume, give the model the teacher architecture of the checkpoint's stage before
        the runner loads the weights (else a stage-2 ViT-L teacher would not fit)."""
        meta = checkpoint.get('meta', {})
        stage = meta.get('dbot_stage')
        if stage is None:
            epoch = meta.get('epoch', 0)
            stage = sum(b < epoch for b in self.boundaries)
            runner.logger.warning(f'{type(self).__name__}: checkpoint has no dbot_stage, '
                                  f'assuming {stage} boundaries crossed at epoch {epoch}')
        self.stage = stage
        if stage > 0:
            self._model(runner).rebuild_teacher_as_student()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['dbot_stage'] = self.stage

    # ---------------------------------------------------------------------- the switch
    def after_train_epoch(self, runner) -> None:
        done = runner.epoch + 1
        if self.snapshot and done in self.stage_epochs[1:]:
            self._save_snapshot(runner, self.stage_epochs.index(done), done)

    def before_train_epoch(self, runner) -> None:
        while self.stage < len(self.boundaries) and runner.epoch >= self.boundaries[self.stage]:
            boundary = self.boundaries[self.stage]
            if runner.epoch > boundary:
                runner.logger.warning(f'{type(self).__name__}: boundary at epoch {boundary} '
                                      f'applied late, at epoch {runner.epoch}')
            self._bootstrap(runner)
            self.stage += 1
            runner.logger.info(f'{type(self).__name__}: stage {self.stage + 1} starts at epoch '
                               f'{runner.epoch}: teacher <- student, student re-initialised')

    def _bootstrap(self, runner) -> None:
        model = self._model(runner)
        # the run's base seed, not runner.seed (rank-dependent with diff_rank_seed=True)
        seed = (runner.cfg.get('randomness', {}).get('seed') or 0) + 1000 * (self.stage + 1)
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            model.bootstrap()
        if get_world_size() > 1:
            for t in list(model.backbone.state_dict().values()) + \
                    list(model.neck.state_dict().values()) + \
                    list(model.teacher.state_dict().values()):
                broadcast(t, src=0)
        if self.reset_optimizer:
            runner.optim_wrapper.optimizer.state.clear()

    def _save_snapshot(self, runner, stage: int, epoch: int) -> None:
        if not is_main_process():
            return
        path = osp.join(runner.work_dir, f'dbot_stage{stage}_epoch_{epoch}.pth')
        save_checkpoint(
            dict(meta=dict(epoch=epoch, dbot_stage=stage, stage_epochs=self.stage_epochs),
                 state_dict=weights_to_cpu(self._model(runner).state_dict())), path)
        runner.logger.info(f'{type(self).__name__}: end of stage {stage} saved to {path}')
