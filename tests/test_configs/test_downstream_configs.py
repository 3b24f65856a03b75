"""The paper-scale downstream configs build their models and optimizers as the recipes intend.

Built models: the official architectures, layer-wise lr decay per parameter, frozen or decayed
parameters, necks and heads, one forward; schedules that tile the run; the tiny demo configs differ
from their parents in size only. The recipe values themselves are checked against the official
sources by test_official_recipes.py.
"""
import copy
import importlib
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import dbot_mm  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / 'configs'

CLS = [
    'cls/vit-base-p16_8xb128-coslr-100e_in1k.py',
    'cls/vit-large-p16_8xb128-coslr-50e_in1k.py',
    'cls/vit-huge-p14_32xb16-accum2-coslr-50e_in1k.py',
    'cls/vit-huge-p14_32xb8-accum4-coslr-10e_in1k-448px.py',
]
LINEAR = 'cls/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'
DET = [
    'det/mask-rcnn_vit-base-p16_fpn_8xb2-amp-ms-crop-1x_coco.py',
    'det/mask-rcnn_vit-large-p16_fpn_8xb2-amp-ms-crop-1x_coco.py',
    'det/cascade-mask-rcnn_vit-base-p16_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py',
    'det/cascade-mask-rcnn_vit-large-p16_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py',
]
SEG = [
    'seg/upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py',
    'seg/upernet_vit-large-p16_8xb2-amp-160k_ade20k-512x512.py',
]
# tiny CPU variant -> the paper config it must equal except for size
TINY = {
    'cls/vit-tiny-p8_1xb16-demo_in1k.py':
    'cls/vit-base-p16_8xb128-coslr-100e_in1k.py',
    'det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py':
    'det/mask-rcnn_vit-base-p16_fpn_8xb2-amp-ms-crop-1x_coco.py',
    'det/cascade-mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py':
    'det/cascade-mask-rcnn_vit-base-p16_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py',
    'seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py':
    'seg/upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py',
}
PAPER = [*CLS, LINEAR, *DET, *SEG]
# official main branch models_vit.py vit_base_patch16 / vit_large_patch16 / vit_huge_patch14
ARCHS = {'base': (768, 12, 12), 'large': (1024, 24, 16), 'huge': (1280, 32, 16)}


def load(name: str) -> Config:
    return Config.fromfile(CONFIGS / name)


def build_model(cfg: Config) -> nn.Module:
    """``MODELS.build`` of the config's own scope (no init_weights: checkpoints may not exist)."""
    registry = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return registry.build(copy.deepcopy(cfg.model))


def build_optimizer(model: nn.Module, cfg: Config):
    wrapper = copy.deepcopy(cfg.optim_wrapper)
    wrapper['type'] = 'OptimWrapper'  # mmengine's AmpOptimWrapper refuses the CPU
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return build_optim_wrapper(model, wrapper).optimizer


def group_of(optimizer, param: torch.Tensor) -> dict:
    for group in optimizer.param_groups:
        if any(p is param for p in group['params']):
            return group
    raise AssertionError('parameter not in the optimizer')


def check_layer_decay(model, cfg):
    """lr of block i = lr * rate ** (depth - i), embeddings lr * rate ** (depth + 1), heads lr."""
    opt = build_optimizer(model, cfg)
    lr = cfg.optim_wrapper.optimizer.lr
    rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    bb = model.backbone
    depth = len(bb.blocks)
    assert group_of(opt, bb.blocks[0].attn.qkv.weight)['lr'] == pytest.approx(lr * rate**depth)
    assert group_of(opt, bb.blocks[-1].mlp.fc2.weight)['lr'] == pytest.approx(lr * rate)
    assert group_of(opt, bb.patch_embed.proj.weight)['lr'] == pytest.approx(lr * rate**(depth + 1))
    outside = [
        p for n, p in model.named_parameters()
        if not n.startswith('backbone.') and p.requires_grad and p.ndim > 1
    ]
    assert outside and all(group_of(opt, p)['lr'] == pytest.approx(lr) for p in outside)
    # no weight decay on position embedding, CLS token, biases and norms
    wd = cfg.optim_wrapper.optimizer.weight_decay
    assert wd > 0
    assert group_of(opt, bb.pos_embed)['weight_decay'] == 0
    assert group_of(opt, bb.cls_token)['weight_decay'] == 0
    assert group_of(opt, bb.blocks[0].norm1.weight)['weight_decay'] == 0
    assert group_of(opt, bb.blocks[0].attn.qkv.weight)['weight_decay'] == wd


def check_backbone(bb, cfg, learn_pos=True):
    """The built backbone: the official architecture, the configured patch and drop path."""
    from dbot_mm.models import DBotViT
    assert isinstance(bb, DBotViT)
    arch = cfg.model.backbone.get('arch', 'base')
    assert (bb.embed_dims, bb.depth, bb.num_heads) == ARCHS[arch]
    assert bb.patch_size == cfg.model.backbone.patch_size
    # linear drop path up to the configured rate; timm replaces a zero drop path by nn.Identity
    assert getattr(bb.blocks[-1].drop_path1, 'drop_prob', 0.) == \
        pytest.approx(cfg.model.backbone.get('drop_path_rate', 0.))
    assert bb.pos_embed.requires_grad == learn_pos  # absolute position embedding fine-tuned


# --------------------------------------------------------------------------- every config
@pytest.mark.parametrize('name', PAPER)
def test_cfg_options_checkpoint_reaches_the_backbone(name):
    """The README's ``--cfg-options model.backbone.init_cfg.checkpoint=...``."""
    cfg = load(name)
    assert cfg.model.backbone.init_cfg.checkpoint == cfg.pretrained
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': 'other.pth'})
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='other.pth', prefix=cfg.pretrained_prefix)


@pytest.mark.parametrize('name', [*CLS, LINEAR])
def test_schedule_tiles_the_run(name):
    cfg = load(name)
    warmup, cosine = cfg.param_scheduler
    assert warmup.begin == 0 and warmup.end == cosine.begin
    assert cosine.end == cfg.train_cfg.max_epochs
    assert cosine.T_max == cosine.end - cosine.begin
    assert all(s.by_epoch and s.convert_to_iter_based for s in cfg.param_scheduler)


# ------------------------------------------------------------------------------- ImageNet
@pytest.mark.parametrize('name', CLS)
def test_imagenet_finetune_model(name):
    cfg = load(name)
    model = build_model(cfg)
    check_backbone(model.backbone, cfg)
    dims = model.backbone.embed_dims
    # global average pooling + fc_norm (models_vit.py global_pool), no final norm
    assert isinstance(model.backbone.fc_norm, nn.LayerNorm)
    assert isinstance(model.backbone.norm, nn.Identity)
    assert model.head.fc.in_features == dims and model.head.fc.out_features == 1000
    check_layer_decay(model, cfg)
    if dims == 768:  # one forward, ViT-B only (CPU time)
        with torch.no_grad():
            feats = model.extract_feat(torch.zeros(1, 3, 224, 224))
        assert feats[-1].shape == (1, dims)


def test_imagenet_linear_probe_model():
    """MAE's linear probe: frozen backbone, CLS token after the final norm -> BN without affine
    -> Linear; only the head learns, at the configured lr."""
    cfg = load(LINEAR)
    model = build_model(cfg)
    check_backbone(model.backbone, cfg, learn_pos=False)
    assert isinstance(model.backbone.norm, nn.LayerNorm)
    bn = model.neck.bn
    assert isinstance(bn, nn.BatchNorm1d) and not bn.affine
    optimizer = build_optimizer(model, cfg)
    head_lr = cfg.optim_wrapper.optimizer.lr
    for name, param in model.named_parameters():
        lr = group_of(optimizer, param)['lr'] if param.requires_grad else 0.
        assert lr == (0. if name.startswith('backbone.') else pytest.approx(head_lr)), name


# ----------------------------------------------------------------------------------- COCO
@pytest.mark.parametrize('name', DET)
def test_coco_model(name):
    cfg = load(name)
    model = build_model(cfg)
    assert type(model).__name__ == cfg.model.type
    check_backbone(model.backbone, cfg)
    assert model.backbone.with_cp
    dims = model.backbone.embed_dims
    adapter, fpn = model.neck  # the neck list builds an nn.Sequential
    # the official ViT's fpn1..fpn4: 4x, 2x, 1x, 0.5x of the 1/16 grid
    assert type(adapter).__name__ == 'Feature2Pyramid' and adapter.rescales == [4, 2, 1, 0.5]
    assert type(fpn).__name__ == 'FPN' and fpn.in_channels == [dims] * 4
    if cfg.model.type == 'CascadeRCNN':
        heads = model.roi_head.bbox_head
        assert len(heads) == 3
        for head in heads:  # 4conv1fc + GIoU on decoded boxes, every stage
            assert (head.num_shared_convs, head.num_shared_fcs) == (4, 1)
            assert type(head.loss_bbox).__name__ == 'GIoULoss' and head.reg_decoded_bbox
    check_layer_decay(model, cfg)
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 64, 96))
    # strides 4 to 32 of the 64 x 96 input, and FPN's extra max-pooled level
    assert [tuple(f.shape) for f in feats] == \
        [(1, fpn.out_channels, 64 // s, 96 // s) for s in (4, 8, 16, 32)] + \
        [(1, fpn.out_channels, 1, 2)]


# --------------------------------------------------------------------------------- ADE20K
@pytest.mark.parametrize('name', SEG)
def test_ade20k_model(name):
    cfg = load(name)
    model = build_model(cfg)
    check_backbone(model.backbone, cfg)
    for blk in model.backbone.blocks:  # per-block relative position bias from zero, layer scale
        assert blk.rel_pos_bias is not None
        assert not blk.rel_pos_bias.relative_position_bias_table.any()
        scale = cfg.model.backbone.layer_scale_init_value
        assert torch.all(blk.ls1.gamma == scale) and torch.all(blk.ls2.gamma == scale)
    crop, patch = cfg.model.data_preprocessor.size, cfg.model.backbone.patch_size
    assert model.backbone.grid_size == (crop[0] // patch, crop[1] // patch)
    assert type(model.neck).__name__ == 'Feature2Pyramid'
    assert model.neck.rescales == [4, 2, 1, 0.5]
    check_layer_decay(model, cfg)


# -------------------------------------------------------------------------- tiny variants
def _recipe(cfg: Config) -> dict:
    """What a tiny variant must keep from its paper config."""
    m = cfg.model
    opt = cfg.optim_wrapper
    keep = dict(
        model=m.type,
        optimizer=(opt.optimizer.type, opt.optimizer.lr, opt.optimizer.get('betas'),
                   opt.optimizer.weight_decay),
        constructor=(opt.get('constructor'), opt.get('paramwise_cfg')),
        backbone={
            k: m.backbone.get(k)
            for k in ('type', 'drop_path_rate', 'layer_scale_init_value', 'use_rel_pos_bias',
                      'freeze_pos_embed', 'out_type', 'final_norm', 'with_cp')
        },
        schedulers=[s.type for s in cfg.param_scheduler],
        train_transforms=[t.type for t in cfg.train_dataloader.dataset.pipeline],
        test_transforms=[t.type for t in cfg.test_dataloader.dataset.pipeline],
        evaluator=cfg.val_evaluator.type,
        loop=cfg.train_cfg.get('type'),
    )
    for key in ('decode_head', 'auxiliary_head'):
        if key in m:
            keep[key] = (m[key].type, m[key].loss_decode)
    if 'roi_head' in m:
        heads = m.roi_head.bbox_head
        heads = heads if isinstance(heads, list) else [heads]
        keep['bbox_heads'] = [(h.type, h.loss_bbox, h.get('reg_decoded_bbox')) for h in heads]
    if 'head' in m:
        keep['head'] = (m.head.type, m.head.loss, m.get('train_cfg'))
    return keep


@pytest.mark.parametrize('tiny', sorted(TINY))
def test_tiny_variant_changes_only_size(tiny):
    cfg, paper = load(tiny), load(TINY[tiny])
    cfg.optim_wrapper.type = paper.optim_wrapper.type  # the tiny one runs fp32 on the CPU
    assert _recipe(cfg) == _recipe(paper)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.data_root == paper[loader].dataset.data_root
    assert cfg.model.backbone.init_cfg.checkpoint == cfg.pretrained

    # the demo's random-init baseline: --cfg-options model.backbone.init_cfg=None
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    model = build_model(cfg)
    model.init_weights()
    assert model.backbone.embed_dims == cfg.model.backbone.embed_dims
