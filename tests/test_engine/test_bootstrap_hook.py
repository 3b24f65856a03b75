"""Bootstrapping across stage boundaries on a tiny dBOT run (CPU): the switch, resume (with
persistent data workers) and load_from, and the one-line errors of bad stage settings."""
import glob
import os.path as osp
import shutil
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.registry import HOOKS

from dbot_mm.engine.hooks import DBotBootstrapHook
from tests.helpers.tiny_pretrain import tiny_cfg, tiny_runner


@HOOKS.register_module(force=True)
class _BoundaryProbe(Hook):
    """Records the model around the first boundary and the lr of every iteration."""
    priority = 'NORMAL'  # after DBotBootstrapHook (ABOVE_NORMAL)

    def __init__(self, boundary):
        self.boundary = boundary
        self.lrs = []
        self.before = self.after = None

    def after_train_epoch(self, runner):
        if runner.epoch + 1 == self.boundary:
            self.before = {k: v.clone() for k, v in runner.model.backbone.state_dict().items()}

    def before_train_epoch(self, runner):
        if runner.epoch == self.boundary:
            m = runner.model
            self.after = dict(
                teacher={
                    k: v.clone()
                    for k, v in m.teacher.state_dict().items()
                },
                student={
                    k: v.clone()
                    for k, v in m.backbone.state_dict().items()
                })

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])


def test_boundary_switch(tmp_path, imagenet_root):
    runner = tiny_runner(tmp_path, imagenet_root, stage_epochs=[0, 2, 4])
    probe = _BoundaryProbe(boundary=2)
    runner.register_hook(probe)
    runner.train()
    model = runner.model
    # teacher == the student encoder at the end of stage 1 (depth-0 teacher rebuilt to depth 4)
    assert len(model.teacher.blocks) == 4
    assert probe.after['teacher'].keys() == probe.before.keys()
    for k, v in probe.before.items():
        assert torch.equal(probe.after['teacher'][k], v), k
    # the student starts again from a fresh init
    w = 'blocks.0.attn.qkv.weight'
    assert not torch.allclose(probe.after['student'][w], probe.before[w])
    # lr: warm-up from 0 restarts at the boundary
    ipe = len(runner.train_dataloader)
    assert probe.lrs[0] == 0 and probe.lrs[2 * ipe] == 0
    assert probe.lrs[2 * ipe - 1] > 0 and max(probe.lrs[2 * ipe:]) == pytest.approx(
        max(probe.lrs[:2 * ipe]))
    # end-of-stage snapshots exist and are not rotated away
    assert osp.isfile(tmp_path / 'dbot_stage1_epoch_2.pth')
    assert osp.isfile(tmp_path / 'dbot_stage2_epoch_4.pth')
    snap = torch.load(tmp_path / 'dbot_stage1_epoch_2.pth', weights_only=True)
    assert torch.equal(snap['state_dict']['backbone.' + w], probe.before[w])
    # one meaning of the stage: the snapshot and the checkpoint of the same moment agree
    ckpt = torch.load(tmp_path / 'epoch_2.pth', weights_only=True)
    assert snap['meta']['dbot_stage'] == ckpt['meta']['dbot_stage'] == 1
    assert torch.load(tmp_path / 'epoch_3.pth', weights_only=True)['meta']['dbot_stage'] == 2


def _final_state(work_dir):
    return torch.load(
        osp.join(work_dir, 'epoch_6.pth'), map_location='cpu', weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def full_run(tmp_path_factory, imagenet_root):
    """An uninterrupted 3-stage run (6 epochs), 2 persistent data workers (as the shipped
    configs), checkpoints of every epoch kept."""
    work_dir = tmp_path_factory.mktemp('full')
    tiny_runner(work_dir, imagenet_root, num_workers=2).train()
    return work_dir


@pytest.mark.parametrize('resume_epoch', [1, 3])  # in stage 1, and in stage 2
def test_resume_matches_uninterrupted_run(tmp_path_factory, imagenet_root, full_run, resume_epoch):
    """Persistent workers restart with the resumed process: the per-sample seeds and the
    per-iteration seeds keep crops, flips, masks and drop path those of the uninterrupted run."""
    full = full_run
    resumed = tmp_path_factory.mktemp(f'resume{resume_epoch}')
    ckpt = resumed / f'epoch_{resume_epoch}.pth'
    shutil.copy(full / f'epoch_{resume_epoch}.pth', ckpt)
    runner = tiny_runner(resumed, imagenet_root, num_workers=2, resume=True, load_from=str(ckpt))
    runner.train()
    expected, got = _final_state(full), _final_state(resumed)
    assert expected.keys() == got.keys()
    assert any(k.startswith('teacher.blocks.') for k in got)
    for k in expected:
        assert torch.equal(expected[k], got[k]), k


def test_load_from_starts_a_new_run_at_stage_one(tmp_path, imagenet_root, full_run):
    """load_from a stage-3 checkpoint: all its weights are used (the teacher gets the student's
    depth), but the run starts at stage 1 and bootstraps at its boundary with the LR restart."""
    runner = tiny_runner(
        tmp_path, imagenet_root, stage_epochs=[0, 1, 2], load_from=str(full_run / 'epoch_6.pth'))
    probe = _BoundaryProbe(boundary=1)
    runner.register_hook(probe)
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, DBotBootstrapHook))
    assert hook.stage == 2
    for k, v in probe.before.items():  # bootstrapped at epoch 1: teacher <- student
        assert torch.equal(probe.after['teacher'][k], v), k
    ipe = len(runner.train_dataloader)
    assert probe.lrs[0] == 0 and probe.lrs[ipe] == 0
    assert osp.isfile(tmp_path / 'dbot_stage1_epoch_1.pth')
    assert osp.isfile(tmp_path / 'dbot_stage2_epoch_2.pth')


def test_resume_with_another_epoch_length_names_it(tmp_path, imagenet_root, full_run):
    """Another GPU count or batch size changes the iterations per epoch: one line saying so."""
    shutil.copy(full_run / 'epoch_1.pth', tmp_path / 'epoch_1.pth')
    runner = tiny_runner(
        tmp_path,
        imagenet_root,
        resume=True,
        load_from=str(tmp_path / 'epoch_1.pth'),
        train_dataloader=dict(batch_size=8))
    with pytest.raises(ValueError, match='iterations per epoch changed') as err:
        runner.train()
    assert '\n' not in str(err.value)


def test_randomness_none(tmp_path, imagenet_root):
    """randomness.seed=None (mmengine's random seed) crosses a boundary without errors."""
    tiny_runner(tmp_path, imagenet_root, stage_epochs=[0, 1, 2], randomness=dict(seed=None)).train()
    assert osp.isfile(tmp_path / 'dbot_stage2_epoch_2.pth')


class _Stub(torch.nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone, self.neck, self.teacher = (torch.nn.Linear(2, 2) for _ in range(3))

    def bootstrap(self):
        pass


def test_reset_optimizer_with_an_optim_wrapper_dict():
    model = _Stub()
    wrappers = {
        name: OptimWrapper(torch.optim.AdamW(getattr(model, name).parameters()))
        for name in ('backbone', 'neck')
    }
    for w in wrappers.values():
        w.optimizer.zero_grad()
        sum(p.sum() for g in w.optimizer.param_groups for p in g['params']).backward()
        w.optimizer.step()
        assert w.optimizer.state
    runner = SimpleNamespace(model=model, seed=0, optim_wrapper=OptimWrapperDict(**wrappers))
    DBotBootstrapHook([0, 1, 2], reset_optimizer=True)._bootstrap(runner)
    assert not any(w.optimizer.state for w in wrappers.values())


@pytest.mark.parametrize('stages, message', [
    ([0, 3, 2], 'strictly increasing'),
    ([1, 2, 4], 'start at 0'),
])
def test_bad_stage_config_fails_at_start(tmp_path, imagenet_root, stages, message):
    cfg = tiny_cfg(tmp_path, imagenet_root)
    cfg.custom_hooks[0].stage_epochs = stages
    with pytest.raises(ValueError, match=message) as err:
        tiny_runner(tmp_path, imagenet_root, custom_hooks=cfg.custom_hooks).train()
    assert '\n' not in str(err.value)


def test_stage_must_end_at_max_epochs(tmp_path, imagenet_root):
    cfg = tiny_cfg(tmp_path, imagenet_root)
    cfg.train_cfg.max_epochs = 5
    from mmengine.runner import Runner
    with pytest.raises(ValueError, match='must end at max_epochs = 5') as err:
        Runner.from_cfg(cfg).train()
    assert '\n' not in str(err.value)


def test_stage_shorter_than_warmup_fails_at_start(tmp_path, imagenet_root):
    cfg = tiny_cfg(tmp_path, imagenet_root)
    cfg.param_scheduler[0].warmup_epochs = 2
    from mmengine.runner import Runner
    with pytest.raises(ValueError, match=r'not longer than its warm-up') as err:
        Runner.from_cfg(cfg).train()
    assert '\n' not in str(err.value)


def test_unreadable_image_names_the_file(tmp_path, imagenet_root):
    data = tmp_path / 'imagenet'
    shutil.copytree(imagenet_root, data)
    victim = sorted(glob.glob(str(data / 'train' / '*' / '*')))[0]
    with open(victim, 'wb') as f:
        f.write(b'not a jpeg')
    cfg = tiny_cfg(tmp_path / 'work', data, stage_epochs=[0, 1])
    cfg.train_dataloader.sampler.shuffle = False
    from mmengine.runner import Runner
    with pytest.raises(Exception) as err:
        Runner.from_cfg(cfg).train()
    assert osp.basename(victim) in str(err.value)
