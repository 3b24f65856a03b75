"""The downstream configs of the CLIP-distilled students build the beit branch's networks and
optimizers, and their backbones take a CLIP student's file as the official recipes do (the values
themselves: test_official_recipes.py)."""
import copy
import importlib
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import dbot_mm  # noqa: F401
from dbot_mm.models import DBotViT
from dbot_mm.utils.checkpoint import CheckpointLoadError

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'
CLS_B = 'cls/vit-base-p16_dbot-clip_32xb32-coslr-100e_in1k.py'
DET_B = 'det/cascade-mask-rcnn_vit-base-p16_dbot-clip_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py'
SEG_B = 'seg/upernet_vit-base-p16_dbot-clip_8xb2-amp-160k_ade20k-512x512.py'
TINY = dict(arch='tiny', embed_dims=64, depth=2, num_heads=4, img_size=32, patch_size=8)


def build(name):
    cfg = Config.fromfile(CONFIGS / name)
    registry = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = registry.build(copy.deepcopy(cfg.model))
        wrapper = dict(copy.deepcopy(cfg.optim_wrapper), type='OptimWrapper')
        optimizer = build_optim_wrapper(model, wrapper).optimizer
    return cfg, model, optimizer


def group_of(optimizer, param):
    return next(g for g in optimizer.param_groups if any(p is param for p in g['params']))


def test_imagenet_network_and_weight_decay():
    """BEiT's fine-tuning ViT: no absolute position embedding, a bias table per block, layer
    scale, mean pooling + fc_norm; weight decay on the tables (optim_factory.py), not on the CLS
    token; the head drawn with std 0.02 x 0.001 (init_scale)."""
    cfg, model, optimizer = build(CLS_B)
    bb = model.backbone
    assert bb.pos_embed is None and 'pos_embed' not in bb.state_dict()
    assert all(
        blk.rel_pos_bias is not None and torch.all(blk.ls1.gamma == 0.1) for blk in bb.blocks)
    wd = cfg.optim_wrapper.optimizer.weight_decay
    assert group_of(optimizer,
                    bb.blocks[0].rel_pos_bias.relative_position_bias_table)['weight_decay'] == wd
    assert group_of(optimizer, bb.cls_token)['weight_decay'] == 0
    assert group_of(optimizer, bb.blocks[0].ls1.gamma)['weight_decay'] == 0
    lr, rate = cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    table = bb.blocks[3].rel_pos_bias.relative_position_bias_table
    assert group_of(optimizer, table)['lr'] == pytest.approx(lr * rate**(12 - 3))
    torch.manual_seed(0)
    model.head.init_weights()
    weight = model.head.fc.weight
    assert weight.std().item() == pytest.approx(2e-5, rel=0.05) and not model.head.fc.bias.any()
    with torch.no_grad():
        assert model.extract_feat(torch.zeros(1, 3, 224, 224))[-1].shape == (1, 768)


@pytest.mark.parametrize('name', [DET_B, SEG_B])
def test_dense_networks_and_weight_decay(name):
    """COCO: absolute position embedding, no bias table; ADE20K: bias tables, no absolute one.
    Both decay every 2-D backbone weight, position embedding and CLS token included (the main
    branch's layer_decay_optimizer_constructor.py compares 'backbone.pos_embed' with
    'pos_embed')."""
    cfg, model, optimizer = build(name)
    bb = model.backbone
    det = name.startswith('det/')
    assert (bb.pos_embed is not None) == det
    assert all((blk.rel_pos_bias is None) == det for blk in bb.blocks)
    assert torch.all(bb.blocks[0].ls1.gamma == 0.1)
    wd = cfg.optim_wrapper.optimizer.weight_decay
    decayed = [bb.cls_token, bb.blocks[0].attn.qkv.weight]
    decayed += [bb.pos_embed] if det else [bb.blocks[0].rel_pos_bias.relative_position_bias_table]
    assert all(group_of(optimizer, p)['weight_decay'] == wd for p in decayed)
    assert group_of(optimizer, bb.blocks[0].norm1.weight)['weight_decay'] == 0


@pytest.fixture(scope='module')
def clip_student(tmp_path_factory):
    """A CLIP student's backbone file: layer scale, a bias table per block, a pos_embed."""
    gen = torch.Generator().manual_seed(0)
    vit = DBotViT(**TINY, layer_scale_init_value=0.1, use_rel_pos_bias=True)
    with torch.no_grad():
        for p in vit.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    path = tmp_path_factory.mktemp('clip') / 'student.pth'
    torch.save(dict(state_dict={'backbone.' + k: v for k, v in vit.state_dict().items()}), path)
    return str(path), vit


def tiny_backbone(name, checkpoint):
    cfg = Config.fromfile(CONFIGS / name)
    kwargs = dict(cfg.model.backbone, **TINY)
    kwargs.pop('type')
    kwargs['init_cfg'] = dict(kwargs['init_cfg'], checkpoint=checkpoint)
    if 'out_indices' in kwargs:
        kwargs['out_indices'] = (0, 1)
    return DBotViT(**kwargs)


def test_coco_drops_the_bias_tables_as_the_official_load(clip_student):
    path, student = clip_student
    bb = tiny_backbone(DET_B, path)
    bb.init_weights()
    for k, v in bb.state_dict().items():
        assert torch.equal(v, student.state_dict()[k]), k
    assert not any('rel_pos_bias' in k for k in bb.state_dict())


@pytest.mark.parametrize('name', [CLS_B, SEG_B])
def test_a_pos_embed_without_a_place_stops_the_beit_recipes(clip_student, name):
    """Our dbot-clip students hold a sin-cos pos_embed that BEiT's network has no place for:
    one line naming both ways on (use_abs_pos_emb=True keeps it, drop_trained=True drops it)."""
    path, student = clip_student
    with pytest.raises(CheckpointLoadError) as err:
        tiny_backbone(name, path).init_weights()
    message = str(err.value)
    assert '\n' not in message and 'pos_embed' in message
    assert 'use_abs_pos_emb=True' in message and 'drop_trained=True' in message
    bb = tiny_backbone(name, path)
    bb.init_cfg['drop_trained'] = True
    bb.init_weights()
    assert torch.equal(bb.blocks[1].ls2.gamma, student.blocks[1].ls2.gamma)
