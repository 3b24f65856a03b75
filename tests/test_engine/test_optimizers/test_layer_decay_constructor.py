"""Layer-wise lr decay (our thin subclass of mmpretrain's constructor) in a classifier (mmpretrain),
a Mask R-CNN (mmdet) and an UperNet (mmseg) under each library's default scope, and the
pretraining optimizer (mmengine's default constructor): exact lr / weight decay per parameter.

Expected values are written out from the official rule (dBOT ``util/lr_decay.py``):
lr = base_lr * rate ** (depth + 1 - layer_id), layer_id: embeddings 0, block i -> i + 1,
everything else depth + 1; no weight decay for 1-D parameters and the ``custom_keys`` names.
"""
import copy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.optim import build_optim_wrapper
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as ROOT_CONSTRUCTORS
from mmengine.registry import DefaultScope

import dbot_mm  # noqa: F401  (registers everything)
from dbot_mm.engine.optimizers import LayerDecayOptimWrapperConstructor, merge_param_groups

BASE_LR = 1e-3
BASE_WD = 0.05
EMBED = 32
PRETRAIN_CFG = Path(__file__).resolve().parents[3] / 'configs/pretrain/dbot_vit-tiny_demo.py'
# what the fine-tuning schedules in configs/_base_/schedules/ put next to layer_decay_rate
NO_DECAY = dict(
    flat_decay_mult=0.,
    custom_keys={
        k: dict(decay_mult=0.)
        for k in ('pos_embed', 'cls_token', 'relative_position_bias_table')
    })


def optim_cfg(rate, **paramwise):
    return dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=BASE_LR, betas=(0.9, 0.999), weight_decay=BASE_WD),
        constructor='LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=rate, **paramwise))


def vit_cfg(depth=2, **kwargs):
    cfg = dict(
        type='mmpretrain.DBotViT',
        arch='tiny',
        embed_dims=EMBED,
        depth=depth,
        num_heads=2,
        img_size=32,
        patch_size=8)
    cfg.update(kwargs)
    return cfg


def build_in_scope(scope, registry, cfg):
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(ConfigDict(cfg))  # as from a config file (attribute access)


def build_optim_in_scope(scope, model, cfg):
    with DefaultScope.overwrite_default_scope(scope):
        return build_optim_wrapper(model, ConfigDict(cfg))


def group_of(optim_wrapper, param):
    found = [
        g for g in optim_wrapper.optimizer.param_groups if any(p is param for p in g['params'])
    ]
    assert len(found) <= 1, 'a parameter is in several groups'
    return found[0] if found else None


def check_params(optim_wrapper, model, expected):
    """expected: {name: (lr, weight_decay)}; also every trainable parameter exactly once, no
    frozen one."""
    params = dict(model.named_parameters())
    for name, (lr, wd) in expected.items():
        group = group_of(optim_wrapper, params[name])
        assert group is not None, f'{name} not in the optimizer'
        assert group['lr'] == pytest.approx(lr, rel=1e-9), name
        assert group['weight_decay'] == pytest.approx(wd), name
    in_groups = [id(p) for g in optim_wrapper.optimizer.param_groups for p in g['params']]
    assert len(in_groups) == len(set(in_groups))
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert set(in_groups) == trainable
    # one group per setting (the official param_groups_lrd / add_weight_decay), not per parameter
    settings = [(g['lr'], g['weight_decay'], g.get('layer_id'))
                for g in optim_wrapper.optimizer.param_groups]
    assert len(settings) == len(set(settings)) < len(in_groups), settings


# --------------------------------------------------------------------------- classifier
def build_classifier(backbone=None):
    from mmpretrain.registry import MODELS
    return build_in_scope(
        'mmpretrain', MODELS,
        dict(
            type='ImageClassifier',
            backbone=backbone or vit_cfg(out_type='avg_featmap', freeze_pos_embed=False),
            neck=None,
            head=dict(
                type='LinearClsHead',
                num_classes=5,
                in_channels=EMBED,
                loss=dict(type='CrossEntropyLoss'))))


def test_classifier_layer_decay():
    model = build_classifier()
    ow = build_optim_in_scope('mmpretrain', model, optim_cfg(0.5, **NO_DECAY))
    # depth 2 -> 4 layers: embeddings 0.5**3, block 0 0.5**2, block 1 0.5, rest 1
    check_params(
        ow, model, {
            'backbone.cls_token': (BASE_LR * 0.125, 0.),
            'backbone.pos_embed': (BASE_LR * 0.125, 0.),
            'backbone.patch_embed.proj.weight': (BASE_LR * 0.125, BASE_WD),
            'backbone.patch_embed.proj.bias': (BASE_LR * 0.125, 0.),
            'backbone.blocks.0.attn.qkv.weight': (BASE_LR * 0.25, BASE_WD),
            'backbone.blocks.0.norm2.weight': (BASE_LR * 0.25, 0.),
            'backbone.blocks.1.norm1.bias': (BASE_LR * 0.5, 0.),
            'backbone.blocks.1.mlp.fc2.weight': (BASE_LR * 0.5, BASE_WD),
            'backbone.fc_norm.weight': (BASE_LR, 0.),
            'head.fc.weight': (BASE_LR, BASE_WD),
            'head.fc.bias': (BASE_LR, 0.),
        })


def test_frozen_pos_embed_left_out_and_rate_one():
    model = build_classifier(vit_cfg(out_type='cls_token'))  # freeze_pos_embed=True default
    ow = build_optim_in_scope('mmpretrain', model, optim_cfg(1.0, flat_decay_mult=0.))
    assert group_of(ow, model.backbone.pos_embed) is None
    check_params(
        ow,
        model,
        {
            'backbone.cls_token': (BASE_LR, BASE_WD),  # no custom_keys: only 1-D params exempt
            'backbone.blocks.0.attn.qkv.weight': (BASE_LR, BASE_WD),
            'backbone.blocks.1.norm1.bias': (BASE_LR, 0.),
            'head.fc.weight': (BASE_LR, BASE_WD),
        })


def test_lr_scheduler_keeps_layer_ratios():
    """mmengine schedulers scale each group from its own initial lr."""
    from mmengine.optim.scheduler import LinearLR
    model = build_classifier()
    ow = build_optim_in_scope('mmpretrain', model, optim_cfg(0.5, **NO_DECAY))
    LinearLR(ow, start_factor=0.1, end=10, by_epoch=False)
    assert group_of(ow, model.backbone.cls_token)['lr'] == pytest.approx(0.1 * BASE_LR * 0.125)
    assert group_of(ow, model.head.fc.weight)['lr'] == pytest.approx(0.1 * BASE_LR)


# ----------------------------------------------------------------------------- detector
def mask_rcnn_cfg(depth=4):
    out = 16
    bbox_coder = dict(
        type='DeltaXYWHBBoxCoder', target_means=[0.] * 4, target_stds=[0.1, 0.1, 0.2, 0.2])
    return dict(
        type='MaskRCNN',
        data_preprocessor=dict(
            type='DetDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            pad_mask=True,
            pad_size_divisor=32),
        backbone=vit_cfg(
            depth=depth,
            img_size=64,
            out_type='featmap',
            out_indices=(0, 1, 2, 3),
            freeze_pos_embed=False,
            drop_path_rate=0.1),
        neck=[
            dict(
                type='mmseg.Feature2Pyramid',
                embed_dim=EMBED,
                rescales=[4, 2, 1, 0.5],
                norm_cfg=dict(type='BN', requires_grad=True)),
            dict(type='FPN', in_channels=[EMBED] * 4, out_channels=out, num_outs=5),
        ],
        rpn_head=dict(
            type='RPNHead',
            in_channels=out,
            feat_channels=out,
            anchor_generator=dict(
                type='AnchorGenerator',
                scales=[8],
                ratios=[0.5, 1.0, 2.0],
                strides=[4, 8, 16, 32, 64]),
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.] * 4, target_stds=[1.] * 4),
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        roi_head=dict(
            type='StandardRoIHead',
            bbox_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0),
                out_channels=out,
                featmap_strides=[4, 8, 16, 32]),
            bbox_head=dict(
                type='Shared2FCBBoxHead',
                in_channels=out,
                fc_out_channels=32,
                roi_feat_size=7,
                num_classes=3,
                bbox_coder=bbox_coder,
                reg_class_agnostic=False,
                loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
            mask_roi_extractor=dict(
                type='SingleRoIExtractor',
                roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
                out_channels=out,
                featmap_strides=[4, 8, 16, 32]),
            mask_head=dict(
                type='FCNMaskHead',
                num_convs=1,
                in_channels=out,
                conv_out_channels=out,
                num_classes=3,
                loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
        train_cfg=dict(
            rpn=dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=0.7,
                    neg_iou_thr=0.3,
                    min_pos_iou=0.3,
                    match_low_quality=True,
                    ignore_iof_thr=-1),
                sampler=dict(
                    type='RandomSampler',
                    num=64,
                    pos_fraction=0.5,
                    neg_pos_ub=-1,
                    add_gt_as_proposals=False),
                allowed_border=-1,
                pos_weight=-1,
                debug=False),
            rpn_proposal=dict(
                nms_pre=200,
                max_per_img=100,
                nms=dict(type='nms', iou_threshold=0.7),
                min_bbox_size=0),
            rcnn=dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=0.5,
                    neg_iou_thr=0.5,
                    min_pos_iou=0.5,
                    match_low_quality=True,
                    ignore_iof_thr=-1),
                sampler=dict(
                    type='RandomSampler',
                    num=64,
                    pos_fraction=0.25,
                    neg_pos_ub=-1,
                    add_gt_as_proposals=True),
                mask_size=28,
                pos_weight=-1,
                debug=False)),
        test_cfg=dict(
            rpn=dict(
                nms_pre=200,
                max_per_img=100,
                nms=dict(type='nms', iou_threshold=0.7),
                min_bbox_size=0),
            rcnn=dict(
                score_thr=0.05,
                nms=dict(type='nms', iou_threshold=0.5),
                max_per_img=10,
                mask_thr_binary=0.5)))


def test_mask_rcnn_layer_decay():
    from mmdet.registry import MODELS
    model = build_in_scope('mmdet', MODELS, mask_rcnn_cfg(depth=4))
    assert type(model).__name__ == 'MaskRCNN' and not hasattr(model, 'get_layer_depth')
    ow = build_optim_in_scope('mmdet', model, optim_cfg(0.75, **NO_DECAY))
    # depth 4 -> 6 layers: lr scale 0.75 ** (5 - layer_id)
    check_params(
        ow, model, {
            'backbone.cls_token': (BASE_LR * 0.75**5, 0.),
            'backbone.pos_embed': (BASE_LR * 0.75**5, 0.),
            'backbone.blocks.0.attn.qkv.weight': (BASE_LR * 0.75**4, BASE_WD),
            'backbone.blocks.1.norm1.bias': (BASE_LR * 0.75**3, 0.),
            'backbone.blocks.3.attn.proj.weight': (BASE_LR * 0.75, BASE_WD),
            'backbone.norm.weight': (BASE_LR, 0.),
            'neck.0.upsample_4x.0.weight': (BASE_LR, BASE_WD),
            'neck.1.lateral_convs.0.conv.weight': (BASE_LR, BASE_WD),
            'rpn_head.rpn_conv.weight': (BASE_LR, BASE_WD),
            'roi_head.bbox_head.fc_cls.weight': (BASE_LR, BASE_WD),
            'roi_head.bbox_head.fc_cls.bias': (BASE_LR, 0.),
            'roi_head.mask_head.conv_logits.weight': (BASE_LR, BASE_WD),
        })


# ---------------------------------------------------------------------------- segmentor
def upernet_cfg(depth=4):
    norm_cfg = dict(type='BN', requires_grad=True)
    return dict(
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            pad_val=0,
            seg_pad_val=255,
            size=(64, 64)),
        backbone=vit_cfg(
            depth=depth,
            img_size=64,
            out_type='featmap',
            out_indices=(0, 1, 2, 3),
            freeze_pos_embed=False,
            use_rel_pos_bias=True,
            layer_scale_init_value=1.0),
        neck=dict(
            type='Feature2Pyramid', embed_dim=EMBED, rescales=[4, 2, 1, 0.5], norm_cfg=norm_cfg),
        decode_head=dict(
            type='UPerHead',
            in_channels=[EMBED] * 4,
            in_index=[0, 1, 2, 3],
            pool_scales=(1, 2, 3, 6),
            channels=16,
            dropout_ratio=0.1,
            num_classes=4,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
        auxiliary_head=dict(
            type='FCNHead',
            in_channels=EMBED,
            in_index=2,
            channels=16,
            num_convs=1,
            concat_input=False,
            dropout_ratio=0.1,
            num_classes=4,
            norm_cfg=norm_cfg,
            align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
        train_cfg=dict(),
        test_cfg=dict(mode='whole'))


def test_upernet_layer_decay():
    from mmseg.registry import MODELS
    model = build_in_scope('mmseg', MODELS, upernet_cfg(depth=4))
    assert type(model).__name__ == 'EncoderDecoder' and not hasattr(model, 'get_layer_depth')
    ow = build_optim_in_scope('mmseg', model, optim_cfg(0.65, **NO_DECAY))
    check_params(
        ow,
        model,
        {
            'backbone.cls_token': (BASE_LR * 0.65**5, 0.),
            'backbone.patch_embed.proj.weight': (BASE_LR * 0.65**5, BASE_WD),
            'backbone.blocks.0.attn.qkv.weight': (BASE_LR * 0.65**4, BASE_WD),
            # 2-D, but exempt by name
            'backbone.blocks.0.rel_pos_bias.relative_position_bias_table': (BASE_LR * 0.65**4, 0.),
            'backbone.blocks.1.norm1.bias': (BASE_LR * 0.65**3, 0.),
            'backbone.blocks.2.ls1.gamma': (BASE_LR * 0.65**2, 0.),
            'neck.upsample_4x.0.weight': (BASE_LR, BASE_WD),
            'decode_head.conv_seg.weight': (BASE_LR, BASE_WD),
            'decode_head.bottleneck.conv.weight': (BASE_LR, BASE_WD),
            'auxiliary_head.conv_seg.bias': (BASE_LR, 0.),
        })


# ------------------------------------------------------------------------ dBOT pretraining
def build_dbot():
    from mmpretrain.registry import MODELS
    vit = dict(
        type='DBotViT',
        arch='tiny',
        embed_dims=EMBED,
        depth=2,
        num_heads=2,
        img_size=32,
        patch_size=8)
    return build_in_scope(
        'mmpretrain', MODELS,
        dict(
            type='DBOT',
            backbone=vit,
            teacher=vit,
            head=dict(type='DBotHead'),
            neck=dict(
                type='DBotDecoder', decoder_embed_dims=16, decoder_depth=1, decoder_num_heads=2)))


def test_pretraining_optimizer_of_the_config():
    """configs/pretrain: mmengine's default constructor with its groups merged; no lr decay, no
    weight decay on 1-D parameters only (official main_pretrain.py: timm ``add_weight_decay``, two
    groups), frozen teacher and frozen sin-cos pos_embed left out."""
    cfg = Config.fromfile(PRETRAIN_CFG).optim_wrapper
    assert cfg.constructor == 'MergedGroupsOptimWrapperConstructor'
    lr, wd = cfg.optimizer.lr, cfg.optimizer.weight_decay
    model = build_dbot()
    ow = build_optim_in_scope('mmpretrain', model, cfg)
    check_params(ow, model, {  # check_params also asserts that no frozen param is there
        'backbone.cls_token': (lr, wd),
        'backbone.blocks.0.attn.qkv.weight': (lr, wd),
        'backbone.blocks.1.norm1.bias': (lr, 0.),
        'neck.mask_token': (lr, wd),  # 3-D: decayed, as in the official code
        'neck.decoder_embed.weight': (lr, wd),
        'neck.decoder_embed.bias': (lr, 0.),
    })
    assert all(group_of(ow, p) is None for p in model.teacher.parameters())
    assert group_of(ow, model.backbone.pos_embed) is None
    assert [g['weight_decay'] for g in ow.optimizer.param_groups] == [wd, 0.]


def test_merge_param_groups_uses_the_optimizer_defaults():
    """A group that sets a value equal to the optimizer's default merges with one that leaves it
    out; groups keep the order of their first parameter; mmpretrain's param_name label goes."""
    a, b, c, d = (torch.nn.Parameter(torch.zeros(1)) for _ in range(4))
    groups = [
        dict(params=[a], param_name='a'),
        dict(params=[b], weight_decay=0., param_name='b'),
        dict(params=[c], weight_decay=BASE_WD, param_name='c'),
        dict(params=[d], weight_decay=0., lr=BASE_LR / 2, param_name='d'),
    ]
    merged = merge_param_groups(groups, dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD))
    assert merged == [
        dict(params=[a, c]),
        dict(params=[b], weight_decay=0.),
        dict(params=[d], weight_decay=0., lr=BASE_LR / 2)
    ]


def test_layer_decay_on_dbot_without_paramwise_cfg_leaves_teacher_out():
    """An empty paramwise_cfg would make mmengine put model.parameters() into one group."""
    model = build_dbot()
    ow = build_optim_in_scope(
        'mmpretrain', model,
        dict(
            optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD),
            constructor='LayerDecayOptimWrapperConstructor'))
    check_params(ow, model, {
        'neck.mask_token': (BASE_LR, BASE_WD),
        'neck.decoder_embed.bias': (BASE_LR, BASE_WD)
    })


# ------------------------------------------------------------------- registry and errors
@pytest.mark.parametrize('scope', [None, 'mmengine', 'mmpretrain', 'mmdet', 'mmseg'])
def test_found_under_every_default_scope(scope):
    cfg = dict(
        type='LayerDecayOptimWrapperConstructor',
        optim_wrapper_cfg=dict(optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=BASE_WD)),
        paramwise_cfg=dict(layer_decay_rate=0.5))
    if scope is None:
        constructor = ROOT_CONSTRUCTORS.build(cfg)
    else:
        constructor = build_in_scope(scope, ROOT_CONSTRUCTORS, cfg)
    assert type(constructor) is LayerDecayOptimWrapperConstructor


def test_model_without_dbot_backbone_is_one_line_error():
    model = build_classifier(
        dict(
            type='VisionTransformer',
            arch=dict(embed_dims=EMBED, num_layers=2, num_heads=2, feedforward_channels=64),
            img_size=32,
            patch_size=8))
    with pytest.raises(TypeError) as info:
        build_optim_in_scope('mmpretrain', model, optim_cfg(0.5))
    message = str(info.value)
    assert '\n' not in message
    assert 'ImageClassifier.backbone is VisionTransformer' in message


@pytest.mark.parametrize('paramwise, match', [
    (dict(layer_decay_rate=0.5, no_decay_names=()), r"unsupported paramwise_cfg keys \['no_dec"),
    (dict(layer_decay_rate=0.5, custom_keys={'head': dict(lr_mult=10.)}), 'only decay_mult'),
    (dict(layer_decay_rate=1.5), r'\(0, 1\], got 1.5'),
    (dict(layer_decay_rate=0.), r'\(0, 1\], got 0.0'),
])
def test_bad_paramwise_cfg_is_one_line_error(paramwise, match):
    cfg = optim_cfg(0.5)
    cfg['paramwise_cfg'] = paramwise
    with pytest.raises(ValueError, match=match) as info:
        build_optim_in_scope('mmpretrain', build_classifier(), cfg)
    assert '\n' not in str(info.value)


@pytest.mark.parametrize('optimizer',
                         [dict(type='AdamW', lr=BASE_LR),
                          dict(type='AdamW', weight_decay=BASE_WD)])
def test_optimizer_without_lr_or_weight_decay_is_one_line_error(optimizer):
    cfg = optim_cfg(0.5)
    cfg['optimizer'] = optimizer
    with pytest.raises(ValueError, match='needs an explicit lr and weight_decay') as info:
        build_optim_in_scope('mmpretrain', build_classifier(), cfg)
    assert '\n' not in str(info.value)


def test_optimizer_steps():
    """The groups work in a real optimizer step."""
    model = build_classifier()
    ow = build_optim_in_scope('mmpretrain', model, optim_cfg(0.5, **NO_DECAY))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    x = torch.randn(2, 3, 32, 32)
    loss = model(x, mode='tensor').sum()
    ow.update_params(loss)
    after = dict(model.named_parameters())
    assert not torch.equal(before['head.fc.weight'], after['head.fc.weight'])
    assert not torch.equal(before['backbone.blocks.0.attn.qkv.weight'],
                           after['backbone.blocks.0.attn.qkv.weight'])


@pytest.mark.parametrize('layer_decay', [False, True])
def test_state_saved_with_per_parameter_groups_resumes_into_merged_groups(layer_decay, monkeypatch):
    """A checkpoint from before the merge (one group per parameter: the constructors without
    merge_param_groups) loads into the constructors' optimizers (their load_state_dict pre-hook):
    every parameter gets its own saved AdamW moments and lr back, and the next step equals the
    per-parameter optimizer's."""
    from dbot_mm.engine.optimizers import layer_decay_constructor, merged_groups_constructor
    model = build_classifier() if layer_decay else build_dbot()
    cfg = (
        optim_cfg(0.5, **NO_DECAY) if layer_decay else Config.fromfile(PRETRAIN_CFG).optim_wrapper)

    def build():
        ow = build_optim_in_scope('mmpretrain', model, cfg)
        params = [p for g in ow.optimizer.param_groups for p in g['params']]
        return ow, params

    with monkeypatch.context() as m:  # the constructors as they were: no merge
        for module in (layer_decay_constructor, merged_groups_constructor):
            m.setattr(module, 'merge_param_groups', lambda groups, cfg: groups)
        old, old_params = build()
    new, new_params = build()
    assert len(old.optimizer.param_groups) == len(old_params) > len(new.optimizer.param_groups)
    torch.manual_seed(0)
    grads = {id(p): torch.randn_like(p) for p in old_params}
    for p in old_params:
        p.grad = grads[id(p)]
    before = {id(p): p.detach().clone() for p in old_params}
    old.optimizer.step()
    checkpoint = copy.deepcopy(dict(optimizer=old.state_dict()))  # as read back from a file
    after_old = {id(p): p.detach().clone() for p in old_params}
    new.load_state_dict(checkpoint['optimizer'])
    for p in new_params:
        moments = new.optimizer.state[p]
        assert torch.equal(moments['exp_avg'], old.optimizer.state[p]['exp_avg'])
        assert group_of(new, p)['lr'] == group_of(old, p)['lr']
        assert group_of(new, p)['weight_decay'] == group_of(old, p)['weight_decay']
    # the second step from the restored state equals the per-parameter optimizer's
    for p in old_params:
        p.data.copy_(after_old[id(p)])
    old.optimizer.step()
    want = {id(p): p.detach().clone() for p in old_params}
    for p in new_params:
        p.data.copy_(after_old[id(p)])
    new.optimizer.step()
    for p in new_params:
        torch.testing.assert_close(p, want[id(p)], rtol=0, atol=0)
    assert all(not torch.equal(before[id(p)], want[id(p)]) for p in old_params)
