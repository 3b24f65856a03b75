"""DBOTCLIP: vanilla-ViT masked distillation from a CLIP teacher (official ``beit`` branch):
block-wise masks of exactly num_mask_patches, mask tokens inside the encoder, 1 - cos loss on the
masked tokens, a tiny config that trains and whose student loads into the downstream configs."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

import dbot_mm  # noqa: F401
from dbot_mm.models.backbones.vit import DBotViT
from dbot_mm.testing.clip import make_tiny_clip

REPO = Path(__file__).resolve().parents[3]
CFG_B = REPO / 'configs' / 'pretrain' / 'dbot-clip_vit-b-p16_clip-b16.py'
CFG_L = REPO / 'configs' / 'pretrain' / 'dbot-clip_vit-l-p16_clip-l14.py'
CFG_TINY = REPO / 'configs' / 'pretrain' / 'dbot-clip_vit-tiny_demo.py'
DOWNSTREAM = ('configs/cls/vit-tiny-p8_1xb16-demo_in1k.py',
              'configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py',
              'configs/seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py')


@pytest.fixture(scope='module')
def clip_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('clip') / 'tiny_clip_p8.pt'
    make_tiny_clip(path, width=64, layers=2, patch_size=8, image_size=64, embed_dim=48)
    return str(path)


@pytest.fixture(scope='module')
def tiny_model(clip_file):
    cfg = Config.fromfile(CFG_TINY)
    cfg.model.teacher.checkpoint = clip_file
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def components(mask):
    """Number of 4-connected groups of masked patches."""
    seen, count = np.zeros_like(mask, bool), 0
    for i, j in zip(*np.nonzero(mask)):
        if seen[i, j]:
            continue
        count += 1
        stack = [(i, j)]
        seen[i, j] = True
        while stack:
            a, b = stack.pop()
            for c, d in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
                if 0 <= c < mask.shape[0] and 0 <= d < mask.shape[1] and mask[c, d] \
                        and not seen[c, d]:
                    seen[c, d] = True
                    stack.append((c, d))
    return count


def test_config_mask_generator_masks_78_patches_in_blocks():
    cfg = Config.fromfile(CFG_B)
    gen_cfg = [t for t in cfg.train_pipeline if t['type'] == 'BEiTMaskGenerator'][0]
    gen = TRANSFORMS.build(gen_cfg)
    np.random.seed(0)
    groups = []
    for _ in range(20):
        mask = gen({})['mask']
        assert mask.shape == (14, 14)
        assert mask.sum() == 78
        groups.append(components(mask))
    # blocks of >= 16 patches: a few groups; 78 random patches of 196 give dozens
    assert np.mean(groups) < 8, groups
    rng = np.random.default_rng(0)
    random = np.zeros(196, bool)
    random[rng.choice(196, 78, replace=False)] = True
    assert components(random.reshape(14, 14)) > 15


def test_recipe_values():
    b, large = Config.fromfile(CFG_B), Config.fromfile(CFG_L)
    assert b.model.head.loss == dict(
        type='CosineSimilarityLoss', shift_factor=1.0, scale_factor=1.0)
    assert b.optim_wrapper.optimizer.lr == 3e-3 and b.auto_scale_lr.base_batch_size == 4096
    assert b.train_cfg.max_epochs == 1600 and b.model.backbone.drop_path_rate == 0.1
    assert b.model.backbone.use_rel_pos_bias and b.model.backbone.layer_scale_init_value == 0.1
    crop = [t for t in b.train_pipeline if t['type'] == 'RandomResizedCrop'][0]
    assert crop['crop_ratio_range'] == (0.4, 1.0)
    assert large.model.backbone.arch == 'large' and large.model.teacher.input_size == 196


def test_loss_is_one_minus_mean_cosine_on_masked_tokens(tiny_model):
    model = tiny_model.eval()  # no drop path: both computations see the same network
    torch.manual_seed(1)
    inputs = torch.randn(2, 3, 64, 64)
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, 1:4, 2:6] = True
    masks[1, 5:8, 0:3] = True
    samples = [DataSample().set_mask(m) for m in masks]
    loss = model.loss(inputs, samples)['loss']
    # by hand
    m = masks.flatten(1)
    target = model.teacher(inputs)[:, 1:][m]
    pred = model.lm_head(model.forward_masked(inputs, m)[:, 1:][m])
    cos = (pred * target).sum(-1) / (pred.norm(dim=-1) * target.norm(dim=-1))
    assert target.shape == (int(m.sum()), 48)
    torch.testing.assert_close(loss, 1 - cos.mean(), atol=1e-6, rtol=0)
    # CLS and visible tokens do not enter the loss
    assert not torch.allclose(
        1 - F.cosine_similarity(
            model.lm_head(model.forward_masked(inputs, m)), model.teacher(inputs), dim=-1).mean(),
        loss)
    model.train()


def test_masked_patches_are_mask_tokens(tiny_model):
    """The student never sees the pixels of a masked patch."""
    model = tiny_model.eval()
    mask = torch.zeros(1, 64, dtype=torch.bool)
    mask[0, :20] = True  # the first 2.5 rows of 8x8 patches
    x = torch.randn(1, 3, 64, 64)
    y = x.clone()
    y[:, :, :16] = torch.randn(1, 3, 16, 64)  # only masked patches (rows 0-1) change
    torch.testing.assert_close(model.forward_masked(x, mask), model.forward_masked(y, mask))
    z = x.clone()
    z[:, :, 40:] += 1  # visible patches change the output
    assert not torch.allclose(model.forward_masked(x, mask), model.forward_masked(z, mask))
    model.train()


def test_grid_mismatch_is_one_line_error(clip_file):
    cfg = Config.fromfile(CFG_TINY)
    cfg.model.teacher.checkpoint = clip_file
    cfg.model.teacher.input_size = 48
    with pytest.raises(ValueError, match='input_size=64'):
        MODELS.build(cfg.model)


def test_tiny_config_trains_and_student_loads_downstream(tmp_path, clip_file, imagenet_root):
    from mmengine.runner import Runner
    cfg = Config.fromfile(CFG_TINY)
    cfg.model.teacher.checkpoint = clip_file
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.dataset.data_root = imagenet_root
    cfg.train_cfg.max_epochs = 3  # 64 images / 16 = 4 iterations an epoch
    cfg.param_scheduler[1].end = 3
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=3)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    losses = []
    runner.register_hook(_LossRecorder(losses), priority='LOWEST')
    runner.train()
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.02, losses
    ckpt = tmp_path / 'epoch_3.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    for path in DOWNSTREAM:
        backbone = dict(Config.fromfile(REPO / path, import_custom_modules=False).model.backbone)
        backbone.pop('type')
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.')
        vit = DBotViT(**backbone)
        vit.init_weights()
        for k in ('patch_embed.proj.weight', 'blocks.3.mlp.fc2.weight', 'cls_token'):
            torch.testing.assert_close(vit.state_dict()[k], state[f'backbone.{k}'])


class _LossRecorder(Hook):

    def __init__(self, losses):
        self.losses = losses

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs['loss']))
