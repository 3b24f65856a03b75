"""The per-stage warm-up + cosine LR, against the formula written out here."""
import math

import pytest
import torch

from dbot_mm.engine import StageCosineLR


def expected_lr(step, base, stages, warmup):
    for start, end in zip(stages, stages[1:]):
        if start <= step < end or end == stages[-1]:
            t = step - start
            if t < warmup:
                return base * t / warmup
            return base * 0.5 * (1 + math.cos(math.pi * (t - warmup) / (end - start - warmup)))


def test_closed_form_restarts_each_stage():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=2.4e-3)
    ipe = 5
    sched = StageCosineLR.build_iter_from_epoch(
        opt, stage_epochs=[0, 8, 16], warmup_epochs=2, epoch_length=ipe)
    lrs = []
    for _ in range(16 * ipe):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    for step, lr in enumerate(lrs):
        assert lr == pytest.approx(expected_lr(step, 2.4e-3, [0, 40, 80], 10), abs=1e-12), step
    assert lrs[0] == 0 and lrs[40] == 0  # warm-up from 0 in both stages
    assert lrs[10] == pytest.approx(2.4e-3)  # peak = base lr in both stages
    assert lrs[50] == pytest.approx(2.4e-3)
    assert lrs[39] < 1e-5 and lrs[79] < 1e-5  # cosine to ~0 at each stage end


def test_state_dict_resume_is_exact():

    def make():
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=1.0)
        return opt, StageCosineLR.build_iter_from_epoch(
            opt, stage_epochs=[0, 3, 6], warmup_epochs=1, epoch_length=4)

    opt, sched = make()
    for _ in range(13):
        opt.step()
        sched.step()
    opt2, sched2 = make()
    sched2.load_state_dict(sched.state_dict())
    opt2.load_state_dict(opt.state_dict())
    sched.step()
    sched2.step()
    assert opt.param_groups[0]['lr'] == opt2.param_groups[0]['lr']


@pytest.mark.parametrize('stages, warmup, msg', [
    ([0, 10, 5], 1, 'strictly increasing'),
    ([0, 2, 10], 2, 'not longer than its warm-up'),
    ([3, 10], 1, 'start at 0'),
])
def test_bad_stages(stages, warmup, msg):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=msg):
        StageCosineLR.build_iter_from_epoch(
            opt, stage_epochs=stages, warmup_epochs=warmup, epoch_length=2)


def _sched(stage_epochs, epoch_length, warmup=1):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    return opt, StageCosineLR.build_iter_from_epoch(
        opt, stage_epochs=stage_epochs, warmup_epochs=warmup, epoch_length=epoch_length)


def test_resume_keeps_this_runs_schedule():
    """The state carries the step; stages come from the config (e.g. a stage added later)."""
    opt, sched = _sched([0, 3, 6], 4)
    for _ in range(5):
        opt.step()
        sched.step()
    _, longer = _sched([0, 3, 6, 9], 4)
    longer.load_state_dict(sched.state_dict())
    assert longer.stages == [0, 12, 24, 36] and longer.last_step == sched.last_step


def test_resume_with_another_epoch_length_is_one_line():
    _, sched = _sched([0, 3, 6], 4)
    _, other = _sched([0, 3, 6], 2)
    with pytest.raises(ValueError, match='iterations per epoch changed') as err:
        other.load_state_dict(sched.state_dict())
    assert '\n' not in str(err.value)
