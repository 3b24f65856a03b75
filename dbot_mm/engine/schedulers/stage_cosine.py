"""Per-stage LR of dBOT (official util/lr_sched.py, ``adjust_learning_rate``, called every
iteration): linear warm-up from 0, then half-cosine to ``eta_min``, restarted at every stage.

A closed form in the global step, as the official code: mmengine's chained LinearLR +
CosineAnnealingLR update the current LR multiplicatively, so stage 2 would peak at a few % of the
intended LR; and a closed form is exact after a resume.
"""
import math
from typing import Sequence

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler
from mmengine.registry import PARAM_SCHEDULERS


def check_stages(stage_epochs: Sequence[int], warmup: float, owner: str) -> None:
    """One-line errors for mis-configured stages."""
    s = list(stage_epochs)
    if len(s) < 2 or s[0] != 0:
        raise ValueError(f'{owner}: stage_epochs must start at 0 and have >= 2 entries, got {s}')
    for a, b in zip(s, s[1:]):
        if b <= a:
            raise ValueError(f'{owner}: stage_epochs must be strictly increasing, got {s}')
        if b - a <= warmup:
            raise ValueError(f'{owner}: stage [{a}, {b}) is not longer than its warm-up of '
                             f'{warmup} epochs (stage_epochs={s})')


def stage_factor(step: float, stages: Sequence[float], warmup: float) -> float:
    """LR factor in [0, 1] at ``step`` (stages and warmup in the same unit as step)."""
    i = max(k for k in range(len(stages) - 1) if stages[k] <= step or k == 0)
    start, end = stages[i], stages[i + 1]
    t = min(step, end) - start
    if t < warmup:
        return t / warmup
    return 0.5 * (1. + math.cos(math.pi * (t - warmup) / (end - start - warmup)))


class StageCosineParamScheduler(_ParamScheduler):
    """``stage_epochs`` as DBotBootstrapHook's, a ``warmup_epochs`` warm-up in each stage, then
    cosine to ``eta_min``; dBOT steps it every iteration (``convert_to_iter_based=True``)."""

    def __init__(self, optimizer, param_name, stage_epochs, warmup_epochs, eta_min=0., **kwargs):
        check_stages(stage_epochs, warmup_epochs, type(self).__name__)
        self.stages, self.warmup, self.eta_min = list(stage_epochs), warmup_epochs, eta_min
        super().__init__(optimizer, param_name=param_name, **kwargs)

    @classmethod
    def build_iter_from_epoch(cls, *args, stage_epochs, warmup_epochs, epoch_length=None, **kw):
        """Stages, warm-up, ``begin`` and ``end`` given in epochs, stepped every iteration."""
        if not kw.pop('by_epoch', True) or not epoch_length or epoch_length <= 0:
            raise ValueError(f'{cls.__name__}: convert_to_iter_based needs by_epoch=True and a '
                             f'known epoch length, got epoch_length={epoch_length}')
        check_stages(stage_epochs, warmup_epochs, cls.__name__)
        n, end = epoch_length, kw.pop('end', INF)
        kw.update(begin=kw.get('begin', 0) * n, end=end if end == INF else end * n, by_epoch=False)
        stages = [s * n for s in stage_epochs]
        return cls(*args, stage_epochs=stages, warmup_epochs=warmup_epochs * n, **kw)

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume the step; the schedule (stages, warm-up, eta_min) stays this run's config, but
        stages that all scale by one factor mean that the epoch length changed."""
        old, new = state_dict.get('stages', self.stages), self.stages
        if len(old) == len(new) and old != new and all(
                math.isclose(a * new[-1], b * old[-1]) for a, b in zip(old, new)):
            raise ValueError(
                f'{type(self).__name__}: the checkpoint has stages {old} (in steps), this run '
                f'{new}: the number of iterations per epoch changed (another GPU count or batch '
                'size); resume with the same, or start a new run with load_from')
        config = dict(stages=new, warmup=self.warmup, eta_min=self.eta_min)
        super().load_state_dict(state_dict)
        self.__dict__.update(config)

    def _get_value(self):
        f = stage_factor(self.last_step, self.stages, self.warmup)
        return [self.eta_min + (base - self.eta_min) * f for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class StageCosineLR(LRSchedulerMixin, StageCosineParamScheduler):
    """:class:`StageCosineParamScheduler` for the learning rate."""
