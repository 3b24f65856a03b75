"""Per-stage LR schedule of dBOT: linear warm-up from 0, then half-cosine to ``eta_min``,
restarted at every stage boundary, updated every iteration.

Closed form in the global step (no chaining from the current LR): mmengine's chained LinearLR +
CosineAnnealingLR would peak at a few % of the intended LR in stage 2 (DESIGN §6), and a closed
form is exact after resume.
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
    """Args:
        stage_epochs: stage boundaries, e.g. [0, 800, 1600] (same as DBotBootstrapHook's).
        warmup_epochs: linear warm-up at the start of each stage.
        eta_min: value at the end of each stage.
        by_epoch / convert_to_iter_based: as every mmengine scheduler; the per-iteration
            schedule of dBOT is ``by_epoch=True, convert_to_iter_based=True``.
    """

    def __init__(self, optimizer, param_name: str, stage_epochs: Sequence[float],
                 warmup_epochs: float, eta_min: float = 0., begin: int = 0, end: int = INF,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False):
        check_stages(stage_epochs, warmup_epochs, type(self).__name__)
        self.stages = list(stage_epochs)
        self.warmup = warmup_epochs
        self.eta_min = eta_min
        super().__init__(optimizer, param_name=param_name, begin=begin, end=end,
                         last_step=last_step, by_epoch=by_epoch, verbose=verbose)

    @classmethod
    def build_iter_from_epoch(cls, *args, stage_epochs, warmup_epochs, begin=0, end=INF,
                              by_epoch=True, epoch_length=None, **kwargs):
        """Stages and warm-up given in epochs, stepped every iteration."""
        if not by_epoch or epoch_length is None or epoch_length <= 0:
            raise ValueError(f'{cls.__name__}: convert_to_iter_based needs by_epoch=True and a '
                             f'known epoch length, got epoch_length={epoch_length}')
        check_stages(stage_epochs, warmup_epochs, cls.__name__)
        end = end if end == INF else end * epoch_length
        return cls(*args, stage_epochs=[s * epoch_length for s in stage_epochs],
                   warmup_epochs=warmup_epochs * epoch_length, begin=begin * epoch_length,
                   end=end, by_epoch=False, **kwargs)

    def _get_value(self):
        f = stage_factor(self.last_step, self.stages, self.warmup)
        return [self.eta_min + (base - self.eta_min) * f for base in self.base_values]


@PARAM_SCHEDULERS.register_module()
class StageCosineLR(LRSchedulerMixin, StageCosineParamScheduler):
    """:class:`StageCosineParamScheduler` for the learning rate."""
