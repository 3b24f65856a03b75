"""Single-stage dBOT distillation from an external, trained dBOT teacher (model zoo rows B<-L,
B<-H, L<-H): the configs, and a tiny variant that trains with a wider, deeper teacher of another
patch size loaded from a checkpoint."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmpretrain.registry import MODELS

import dbot_mm  # noqa: F401
from dbot_mm.models.backbones.vit import DBotViT

PRETRAIN = Path(__file__).resolve().parents[3] / 'configs' / 'pretrain'
TINY = PRETRAIN / 'dbot-distill_vit-tiny_demo.py'


@pytest.mark.parametrize('name,student,teacher,patch,teacher_img', [
    ('dbot-distill_vit-b-p16_dbot-l.py', 'base', 'large', 16, None),
    ('dbot-distill_vit-b-p16_dbot-h.py', 'base', 'huge', 14, 196),
    ('dbot-distill_vit-l-p16_dbot-h.py', 'large', 'huge', 14, 196),
])
def test_distill_configs(name, student, teacher, patch, teacher_img):
    cfg = Config.fromfile(PRETRAIN / name)
    m = cfg.model
    assert m.backbone.arch == student and m.backbone.patch_size == 16
    assert m.teacher.arch == teacher and m.teacher.patch_size == patch
    assert m.teacher.get('depth') is None  # the full trained teacher, not a stage-1 one
    assert m.teacher.init_cfg == dict(
        type='Pretrained', checkpoint=cfg.teacher_checkpoint, prefix='backbone.')
    # one teacher token per student token: 224 / 16 = teacher side / teacher patch
    assert (teacher_img or 224) // patch == 224 // 16
    assert m.type == 'DBOT'
    assert m.get('teacher_img_size') == teacher_img
    assert [h['type'] for h in cfg.custom_hooks] == ['RandomStateHook']  # no bootstrapping
    assert cfg.train_cfg.max_epochs == 1600
    assert ('clip_grad' in cfg.optim_wrapper) == (student == 'base')


class _Losses(Hook):

    def __init__(self):
        self.values = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.values.append(float(outputs['loss']))


@pytest.fixture(scope='module')
def teacher_file(tmp_path_factory):
    cfg = Config.fromfile(TINY).model.teacher
    arch = {k: v for k, v in cfg.items() if k not in ('type', 'init_cfg')}
    torch.manual_seed(3)
    vit = DBotViT(**arch)
    state = {f'backbone.{k}': v + 0.02 * torch.randn_like(v) for k, v in vit.state_dict().items()}
    path = tmp_path_factory.mktemp('teacher') / 'tiny_teacher.pth'
    torch.save({'state_dict': state}, path)
    return str(path), state


def test_teacher_img_size_must_match_grids(teacher_file):
    cfg = Config.fromfile(TINY)
    cfg.model.teacher.init_cfg.checkpoint = teacher_file[0]
    cfg.model.teacher_img_size = 96
    with pytest.raises(
            ValueError, match=r"teacher's token grid 6x6 .*differs from the student's 8x8"):
        MODELS.build(cfg.model)


def test_tiny_distill_trains_with_external_teacher(tmp_path, teacher_file, imagenet_root):
    from mmengine.runner import Runner
    path, state = teacher_file
    cfg = Config.fromfile(TINY)
    cfg.model.teacher.init_cfg.checkpoint = path
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.dataset.dataset.data_root = imagenet_root
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=2)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    losses = _Losses()
    runner.register_hook(losses, priority='LOWEST')
    runner.train()
    model = runner.model
    assert model.neck.decoder_pred.out_features == 96  # the decoder predicts the teacher's width
    for k, v in model.teacher.state_dict().items():  # loaded and never trained
        torch.testing.assert_close(v, state[f'backbone.{k}'], atol=0, rtol=0)
    assert len(losses.values) == 8 and all(np.isfinite(losses.values))
    assert np.mean(losses.values[-3:]) < np.mean(losses.values[:3]), losses.values
    saved = torch.load(tmp_path / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert saved['state_dict']['teacher.blocks.5.mlp.fc2.weight'].shape == (96, 384)
