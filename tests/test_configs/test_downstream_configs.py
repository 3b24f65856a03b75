"""The paper-scale downstream configs load, build their models and hold the official recipes.

The numbers below are written out from the official code (github liuxingbin/dbot, branch `main`:
DOWNSTREAM.md, run.sh, main_finetune.py, evaluation/object_detection and
evaluation/mae_segmentation configs; docs/faithfulness.md lists them), so that a config edit that
drifts fails here. Where a config knowingly holds another value, its comment says which and why.
The tiny demo configs must differ from their parents in size only.
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

# ------------------------------------------------------------ the official recipes, written out
# ImageNet fine-tuning (main-branch DOWNSTREAM.md commands over run.sh's and main_finetune.py's
# defaults): AdamW, RandAug m9, mixup 0.8, cutmix 1.0, smoothing 0.1, erasing 0.25, avg-pool +
# fc_norm, lr = blr * 1024 / 256 (main_finetune.py: blr per 256 images, 1024 per update).
CLS = {
    # (embed, depth, heads), patch, epochs, warm-up, blr, layer decay, drop path, grad clip,
    # (images per GPU, accumulation), input size
    'cls/vit-base-p16_8xb128-coslr-100e_in1k.py':
    ((768, 12, 12), 16, 100, 5, 3e-4, 0.65, 0.1, None, (128, 1), 224),
    'cls/vit-large-p16_8xb128-coslr-50e_in1k.py':
    ((1024, 24, 16), 16, 50, 5, 3e-4, 0.75, 0.25, 1.0, (128, 1), 224),
    'cls/vit-huge-p14_32xb16-accum2-coslr-50e_in1k.py':
    ((1280, 32, 16), 14, 50, 5, 3e-4, 0.75, 0.3, None, (16, 2), 224),
    'cls/vit-huge-p14_32xb8-accum4-coslr-10e_in1k-448px.py':
    ((1280, 32, 16), 14, 10, 2, 7e-5, 0.9, 0.4, None, (8, 4), 448),
}
LINEAR = 'cls/vit-base-p16_8xb2048-linear-coslr-90e_in1k.py'
# COCO (DOWNSTREAM.md commands, evaluation/object_detection/configs/cascade_rcnn/
# vit_{base,large}_giou_4conv1f_coco_3x.py): AdamW lr 1e-4, wd 0.05, 12 epochs steps 8/11,
# batch 16, warm-up 500 it (mmdet's 1x), LD 0.75, DP 0.2, checkpointing.
DET = {
    # detector, (embed, depth, heads), out_indices, drop path, cascade
    'det/mask-rcnn_vit-base-p16_fpn_8xb2-amp-ms-crop-1x_coco.py':
    ('MaskRCNN', (768, 12, 12), (3, 5, 7, 11), 0.2, False),
    'det/mask-rcnn_vit-large-p16_fpn_8xb2-amp-ms-crop-1x_coco.py':
    ('MaskRCNN', (1024, 24, 16), (7, 11, 15, 23), 0.2, False),
    'det/cascade-mask-rcnn_vit-base-p16_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py':
    ('CascadeRCNN', (768, 12, 12), (3, 5, 7, 11), 0.2, True),
    'det/cascade-mask-rcnn_vit-large-p16_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py':
    ('CascadeRCNN', (1024, 24, 16), (7, 11, 15, 23), 0.2, True),
}
# ADE20K (DOWNSTREAM.md commands, evaluation/mae_segmentation/configs/mae/
# upernet_mae_{base,large}_12_512_slide_160k_ade20k.py): UperNet + aux FCN 0.4, abs pos + rel-pos
# bias from zero + layer scale 1.0, AdamW wd 0.05, 160k it, batch 16, crop 512, poly, warm-up
# 1500, slide 512 / 341.
SEG = {
    # (embed, depth, heads), out_indices, lr, layer decay, drop path
    'seg/upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py':
    ((768, 12, 12), (3, 5, 7, 11), 1e-4, 0.65, 0.2),
    'seg/upernet_vit-large-p16_8xb2-amp-160k_ade20k-512x512.py':
    ((1024, 24, 16), (7, 11, 15, 23), 3e-5, 0.95, 0.2),
}
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
DATA_ROOTS = {'cls': 'data/imagenet', 'det': 'data/coco/', 'seg': 'data/ade/ADEChallengeData2016'}
GPUS = 8


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


def transforms(pipeline, type_name):
    found = []
    for t in pipeline:
        if t['type'] == type_name:
            found.append(t)
        for sub in t.get('transforms', []):  # RandomChoice / TestTimeAug
            found += transforms(sub if isinstance(sub, list) else [sub], type_name)
    return found


def check_layer_decay(model, cfg, lr, rate):
    """lr of block i = lr * rate ** (depth - i), embeddings lr * rate ** (depth + 1), heads lr."""
    opt = build_optimizer(model, cfg)
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
    assert group_of(opt, bb.pos_embed)['weight_decay'] == 0
    assert group_of(opt, bb.cls_token)['weight_decay'] == 0
    assert group_of(opt, bb.blocks[0].norm1.weight)['weight_decay'] == 0
    assert group_of(opt, bb.blocks[0].attn.qkv.weight)['weight_decay'] == 0.05


def check_backbone(bb, dims, patch, dpr, learn_pos=True):
    from dbot_mm.models import DBotViT
    assert isinstance(bb, DBotViT)
    assert (bb.embed_dims, bb.depth, bb.num_heads, bb.patch_size) == (*dims, patch)
    # timm replaces a zero drop path by nn.Identity
    assert getattr(bb.blocks[-1].drop_path1, 'drop_prob', 0.) == pytest.approx(dpr)
    assert bb.pos_embed.requires_grad == learn_pos  # absolute position embedding fine-tuned


# --------------------------------------------------------------------------- every config
@pytest.mark.parametrize('name', PAPER)
def test_checkpoint_variable_and_data_root(name):
    cfg = load(name)
    assert 'dbot_mm' in cfg.custom_imports.imports
    assert cfg.custom_imports.allow_failed_imports is False
    init = cfg.model.backbone.init_cfg
    assert init.type == 'Pretrained'
    assert init.checkpoint == cfg.pretrained and init.prefix == cfg.pretrained_prefix
    assert cfg.pretrained_prefix == 'backbone.'
    arch = cfg.model.backbone.get('arch', 'base')
    if name.endswith('448px.py'):  # starts from the 224 px fine-tuned ViT-H
        assert cfg.pretrained == \
            'work_dirs/vit-huge-p14_32xb16-accum2-coslr-50e_in1k/epoch_50.pth'
        assert cfg.model.head.init_cfg == dict(
            type='Pretrained', checkpoint=cfg.pretrained, prefix='head.')
    else:
        assert cfg.pretrained == f'work_dirs/dbot_vit-{arch[0]}/epoch_1600.pth'
    root = DATA_ROOTS[name.split('/')[0]]
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.data_root == root
    # --cfg-options model.backbone.init_cfg.checkpoint=... reaches the backbone
    cfg.merge_from_dict({'model.backbone.init_cfg.checkpoint': 'other.pth'})
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='other.pth', prefix='backbone.')


# ------------------------------------------------------------------------------- ImageNet
@pytest.mark.parametrize('name', sorted(CLS))
def test_imagenet_finetune_recipe(name):
    dims, patch, epochs, warm, blr, ld, dpr, clip, (per_gpu, accum), img = CLS[name]
    cfg = load(name)
    assert cfg.default_scope == 'mmpretrain'
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == pytest.approx(blr * 1024 / 256)
    assert opt.optimizer.weight_decay == 0.05
    assert cfg.train_dataloader.batch_size == per_gpu and opt.get('accumulative_counts', 1) == accum
    # mmengine's auto-scale counts GPUs x batch_size per step, not the accumulated update
    assert cfg.auto_scale_lr.base_batch_size * accum == 1024
    assert opt.constructor == 'LayerDecayOptimWrapperConstructor'
    assert opt.paramwise_cfg.layer_decay_rate == ld
    assert (opt.get('clip_grad') or {}).get('max_norm') == clip
    warmup, cosine = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and (warmup.begin, warmup.end) == (0, warm)
    assert cosine.type == 'CosineAnnealingLR' and (cosine.begin, cosine.end) == (warm, epochs)
    assert cosine.T_max == epochs - warm
    assert all(s.by_epoch and s.convert_to_iter_based for s in cfg.param_scheduler)
    assert cfg.train_cfg.max_epochs == epochs

    pipeline = cfg.train_dataloader.dataset.pipeline
    crop, = transforms(pipeline, 'RandomResizedCrop')
    assert crop.scale == img and crop.interpolation == 'bicubic'
    aug, = transforms(pipeline, 'RandAugment')  # rand-m9-mstd0.5-inc1
    assert (aug.policies, aug.num_policies, aug.magnitude_level, aug.total_level,
            aug.magnitude_std) == ('timm_increasing', 2, 9, 10, 0.5)
    erase, = transforms(pipeline, 'RandomErasing')
    assert erase.erase_prob == 0.25
    augments = {a.type: a.alpha for a in cfg.model.train_cfg.augments}
    assert augments == {'Mixup': 0.8, 'CutMix': 1.0}
    loss = cfg.model.head.loss
    assert loss.type == 'LabelSmoothLoss' and loss.label_smooth_val == 0.1
    assert cfg.model.backbone.out_type == 'avg_featmap' and not cfg.model.backbone.final_norm
    assert cfg.val_evaluator.type == 'Accuracy'

    model = build_model(cfg)
    check_backbone(model.backbone, dims, patch, dpr)
    assert isinstance(model.backbone.fc_norm, nn.LayerNorm)
    assert isinstance(model.backbone.norm, nn.Identity)
    assert model.head.fc.in_features == dims[0] and model.head.fc.out_features == 1000
    check_layer_decay(model, cfg, blr * 1024 / 256, ld)
    if dims[0] == 768:  # one forward, ViT-B only (CPU time)
        with torch.no_grad():
            feats = model.extract_feat(torch.zeros(1, 3, 224, 224))
        assert feats[-1].shape == (1, dims[0])


def test_imagenet_linear_probe_recipe():
    """MAE's linear probe (the config states it): LARS lr 0.1 x 16384 / 256, momentum 0.9, no
    weight decay, 90 epochs with 10 warm-up, frozen backbone, CLS token -> BN -> Linear."""
    cfg = load(LINEAR)
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'LARS' and opt.optimizer.momentum == 0.9
    assert opt.optimizer.weight_decay == 0
    assert opt.optimizer.lr == pytest.approx(0.1 * 16384 / 256)
    assert cfg.auto_scale_lr.base_batch_size == 16384 == GPUS * cfg.train_dataloader.batch_size
    warmup, cosine = cfg.param_scheduler
    assert (warmup.end, cosine.begin, cosine.end, cfg.train_cfg.max_epochs) == (10, 10, 90, 90)
    pipeline = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert pipeline == ['LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'PackInputs']

    model = build_model(cfg)
    check_backbone(model.backbone, (768, 12, 12), 16, 0., learn_pos=False)
    assert model.backbone.out_type == 'cls_token'
    assert isinstance(model.backbone.norm, nn.LayerNorm)
    bn = model.neck.bn
    assert isinstance(bn, nn.BatchNorm1d) and not bn.affine
    optimizer = build_optimizer(model, cfg)
    for name, param in model.named_parameters():
        lr = group_of(optimizer, param)['lr'] if param.requires_grad else 0.
        assert lr == (0. if name.startswith('backbone.') else pytest.approx(6.4)), name


# ----------------------------------------------------------------------------------- COCO
@pytest.mark.parametrize('name', sorted(DET))
def test_coco_recipe(name):
    detector, dims, out_indices, dpr, cascade = DET[name]
    cfg = load(name)
    assert cfg.default_scope == 'mmdet'
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == 1e-4
    assert opt.optimizer.weight_decay == 0.05
    assert opt.constructor == 'LayerDecayOptimWrapperConstructor'
    assert opt.paramwise_cfg.layer_decay_rate == 0.75
    assert cfg.auto_scale_lr.base_batch_size == 16 == GPUS * cfg.train_dataloader.batch_size
    warmup, steps = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and not warmup.by_epoch and warmup.end == 500
    assert steps.type == 'MultiStepLR' and steps.milestones == [8, 11] and steps.gamma == 0.1
    assert cfg.train_cfg.max_epochs == 12
    bb = cfg.model.backbone
    assert bb.type == 'mmpretrain.DBotViT' and bb.with_cp is True
    assert tuple(bb.out_indices) == out_indices and bb.out_type == 'featmap'
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert set(cfg.val_evaluator.metric) == {'bbox', 'segm'}
    assert cfg.model.data_preprocessor.pad_size_divisor == 32

    model = build_model(cfg)
    assert type(model).__name__ == detector
    check_backbone(model.backbone, dims, 16, dpr)
    assert model.backbone.with_cp
    adapter, fpn = model.neck  # the neck list builds an nn.Sequential
    assert type(adapter).__name__ == 'Feature2Pyramid' and adapter.rescales == [4, 2, 1, 0.5]
    assert type(fpn).__name__ == 'FPN' and fpn.out_channels == 256
    assert fpn.in_channels == [dims[0]] * 4
    if cascade:
        heads = model.roi_head.bbox_head
        assert len(heads) == 3
        for head in heads:  # 4conv1fc + GIoU on decoded boxes
            assert (head.num_shared_convs, head.num_shared_fcs) == (4, 1)
            assert type(head.loss_bbox).__name__ == 'GIoULoss' and head.reg_decoded_bbox
    check_layer_decay(model, cfg, 1e-4, 0.75)
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape) for f in feats] == [(1, 256, 64 // s, 96 // s)
                                               for s in (4, 8, 16, 32)] + [(1, 256, 1, 2)]


# --------------------------------------------------------------------------------- ADE20K
@pytest.mark.parametrize('name', sorted(SEG))
def test_ade20k_recipe(name):
    dims, out_indices, lr, ld, dpr = SEG[name]
    cfg = load(name)
    assert cfg.default_scope == 'mmseg'
    opt = cfg.optim_wrapper
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.lr == lr
    assert opt.optimizer.weight_decay == 0.05
    assert opt.constructor == 'LayerDecayOptimWrapperConstructor'
    assert opt.paramwise_cfg.layer_decay_rate == ld
    assert cfg.auto_scale_lr.base_batch_size == 16 == GPUS * cfg.train_dataloader.batch_size
    warmup, poly = cfg.param_scheduler
    assert warmup.type == 'LinearLR' and not warmup.by_epoch and warmup.end == 1500
    assert poly.type == 'PolyLR' and poly.power == 1.0 and poly.eta_min == 0
    assert (poly.begin, poly.end) == (1500, 160000)
    assert cfg.train_cfg.type == 'IterBasedTrainLoop' and cfg.train_cfg.max_iters == 160000
    assert cfg.default_hooks.logger.log_metric_by_epoch is False
    crop, = transforms(cfg.train_dataloader.dataset.pipeline, 'RandomCrop')
    assert tuple(crop.crop_size) == (512, 512)
    assert tuple(cfg.model.data_preprocessor.size) == (512, 512)
    test_cfg = cfg.model.test_cfg
    assert test_cfg.mode == 'slide'
    assert tuple(test_cfg.crop_size) == (512, 512) and tuple(test_cfg.stride) == (341, 341)
    assert cfg.model.auxiliary_head.type == 'FCNHead'
    assert cfg.model.auxiliary_head.loss_decode.loss_weight == 0.4
    assert cfg.model.decode_head.type == 'UPerHead'
    bb = cfg.model.backbone
    assert bb.use_rel_pos_bias is True and bb.layer_scale_init_value == 1.0
    assert tuple(bb.out_indices) == out_indices
    assert cfg.val_evaluator.type == 'IoUMetric'

    model = build_model(cfg)
    check_backbone(model.backbone, dims, 16, dpr)
    for blk in model.backbone.blocks:  # per-block relative position bias from zero, LS 1.0
        assert blk.rel_pos_bias is not None
        assert not blk.rel_pos_bias.relative_position_bias_table.any()
        assert torch.all(blk.ls1.gamma == 1.0) and torch.all(blk.ls2.gamma == 1.0)
    assert model.backbone.grid_size == (32, 32)
    assert type(model.neck).__name__ == 'Feature2Pyramid'
    assert model.neck.rescales == [4, 2, 1, 0.5]
    check_layer_decay(model, cfg, lr, ld)


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
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # fp32 on CPU
    assert paper.optim_wrapper.type == 'AmpOptimWrapper'
    cfg.optim_wrapper.type = paper.optim_wrapper.type
    assert _recipe(cfg) == _recipe(paper)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].num_workers == 0 and not cfg[loader].persistent_workers
        assert cfg[loader].dataset.data_root == paper[loader].dataset.data_root
    bb = cfg.model.backbone
    assert (bb.embed_dims, bb.depth, bb.num_heads, bb.patch_size) == (64, 4, 4, 8)
    assert bb.init_cfg.checkpoint == cfg.pretrained == 'work_dirs/dbot_vit-tiny_demo/epoch_6.pth'

    # the demo's random-init baseline: --cfg-options model.backbone.init_cfg=None
    cfg.merge_from_dict({'model.backbone.init_cfg': None})
    model = build_model(cfg)
    model.init_weights()
    assert model.backbone.embed_dims == 64
