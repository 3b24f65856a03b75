"""Any dbot_mm checkpoint as a feature extractor, through mmpretrain's own classes.

    from mmpretrain import FeatureExtractor
    from dbot_mm.apis import get_model
    model = get_model('work_dirs/dbot_vit-b/epoch_1600.pth', source='teacher', out_type='featmap')
    feats = FeatureExtractor(model)('demo.jpg')[0]  # one (C, H, W) map per out_indices entry

mmpretrain's ``get_model(cfg, pretrained=CKPT)`` does not serve: it needs the training config and
loads with mmengine's ``strict=False`` (a missing weight stays random without a word, a ``DBOT``
config gives the student only, a ViT-L/H teacher rebuilt after stage 1 does not fit its config).
Here the ViT's shape is read from the file's tensors (the head count from the config text in the
checkpoint's ``meta``, read as literals, never executed), the weights go through the strict
``load_backbone_checkpoint`` and every model key must come from the file. The result is an
mmpretrain ``ImageClassifier`` (``extract_feat``; ``predict`` too where the file has a
``LinearClsHead``) carrying a test pipeline, so ``FeatureExtractor(model)`` reads image files.
"""
import ast
import json
import math
import os.path as osp
from typing import Any, Dict, NamedTuple, Optional

import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

from .engine.hooks.run_record_hook import RUN_RECORD
from .models.backbones.vit import ARCH_SETTINGS
from .models.utils.pretrained import (
    SOURCE_PREFIXES,
    key_prefixes,
    load_backbone_checkpoint,
    strip_prefix,
)
from .utils.checkpoint import CheckpointLoadError, extract_state_dict, load_checkpoint

IMAGENET_MEAN, IMAGENET_STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
_TABLE = 'blocks.0.rel_pos_bias.relative_position_bias_table'


class VitSpec(NamedTuple):
    """What a checkpoint holds for one ViT: ``DBotViT`` kwargs, the key prefix, its tensors (no
    prefix), a ``LinearClsHead``'s ``weight``/``bias`` (or {}), ``meta`` and its config (or None).
    """
    kwargs: Dict[str, Any]
    prefix: str
    state: Dict[str, torch.Tensor]
    head: Dict[str, torch.Tensor]
    meta: dict
    cfg: Optional[Config]


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'dict' and not node.args:
        return {k.arg: _literal(k.value) for k in node.keywords}
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(e) for e in node.elts]
    return ast.literal_eval(node)


def checkpoint_config(checkpoint: str, meta: dict) -> Optional[Config]:
    """The config of ``checkpoint``, never run (a checkpoint carries data only): mmengine's
    ``meta['cfg']`` text (assignments of literals) or, for the stage snapshots that lack it, the
    ``config`` of the run record (``RunRecordHook``) in the checkpoint's folder."""
    text = meta.get('cfg') if isinstance(meta, dict) else None
    try:
        body = ast.parse(text).body if isinstance(text, str) else []
    except SyntaxError:
        body = []
    cfg = {}
    for node in body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            try:
                cfg[node.targets[0].id] = _literal(node.value)
            except (ValueError, TypeError, SyntaxError):
                pass
    cfg = cfg or run_record(checkpoint).get('config')
    return Config(cfg) if cfg else None


def run_record(checkpoint: str) -> dict:
    """The run record (``RunRecordHook``) in the folder of ``checkpoint``, or {}."""
    path = osp.join(osp.dirname(osp.abspath(checkpoint)), RUN_RECORD)
    if not osp.isfile(path):
        return {}
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _num_heads(state: dict, dims: int, cfg_vit: Optional[dict], filename: str) -> int:
    if _TABLE in state:
        return state[_TABLE].shape[1]
    if isinstance(cfg_vit, dict) and cfg_vit.get('arch', 'base') in ARCH_SETTINGS:
        arch = ARCH_SETTINGS[cfg_vit.get('arch', 'base')]
        if (cfg_vit.get('embed_dims') or arch[0]) == dims:
            return cfg_vit.get('num_heads') or arch[2]
    arch = next((a for a in ARCH_SETTINGS.values() if a[0] == dims), None)
    if arch is None:
        raise CheckpointLoadError(
            f"checkpoint '{filename}': the head count of its {dims}-wide ViT is neither in the "
            'file nor standard; pass num_heads')
    return arch[2]


def read_vit(checkpoint: str, source: str = 'student', num_heads: Optional[int] = None) -> VitSpec:
    """The ViT of ``checkpoint``: under ``backbone.`` (student, fine-tuned backbone) or
    ``teacher.``; an exported backbone or official file without either prefix is the ViT itself.
    """
    ckpt = load_checkpoint(checkpoint)
    state = extract_state_dict(ckpt, checkpoint)
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    prefix = SOURCE_PREFIXES[source]
    if not any(k.startswith(tuple(SOURCE_PREFIXES.values())) for k in state):
        prefix = ''
    vit = strip_prefix(state, prefix)
    if 'patch_embed.proj.weight' not in vit:
        raise CheckpointLoadError(
            f"checkpoint '{checkpoint}' has no ViT under '{prefix}' (--source {source}); the "
            f'prefixes in the file are {key_prefixes(state)}')
    cfg = checkpoint_config(checkpoint, meta)
    cfg_vit = (cfg.get('model') or {}).get('teacher' if prefix == 'teacher.' else 'backbone') \
        if cfg else None
    dims, in_chans, patch, _ = vit['patch_embed.proj.weight'].shape
    depth = 1 + max((int(k.split('.')[1]) for k in vit if k.startswith('blocks.')), default=-1)
    if 'pos_embed' in vit:
        side = math.isqrt(vit['pos_embed'].shape[1] - 1)
    else:  # a (2s - 1)^2 + 3 row relative position table
        side = (math.isqrt(vit[_TABLE].shape[0] - 3) + 1) // 2 if _TABLE in vit else 0
    kwargs = dict(
        embed_dims=dims,
        depth=depth,
        num_heads=num_heads or (_num_heads(vit, dims, cfg_vit, checkpoint) if depth else 1),
        img_size=side * patch or (cfg_vit or {}).get('img_size', 224),
        patch_size=patch,
        in_channels=in_chans,
        mlp_ratio=vit['blocks.0.mlp.fc1.weight'].shape[0] / dims if depth else 4.,
        qkv_bias='blocks.0.attn.qkv.bias' in vit or not depth,
        layer_scale_init_value=0.1 if 'blocks.0.ls1.gamma' in vit else 0.,
        use_rel_pos_bias=_TABLE in vit,
        out_type='avg_featmap' if 'fc_norm.weight' in vit else 'cls_token',
        final_norm='norm.weight' in vit)
    if 'pos_embed' not in vit:  # BEiT-style fine-tuning: position from the bias tables only
        kwargs['use_abs_pos_emb'] = False
    head = strip_prefix(state, 'head.fc.') if prefix == 'backbone.' else {}
    return VitSpec(kwargs, prefix, vit, head, meta, cfg)


def data_preprocessor(spec: VitSpec) -> dict:
    """``ClsDataPreprocessor`` with the mean/std of the checkpoint's config (ImageNet's if none)."""
    prep = ((spec.cfg.get('model') or {}).get('data_preprocessor') if spec.cfg else None) or {}
    return dict(
        type='ClsDataPreprocessor',
        mean=prep.get('mean', IMAGENET_MEAN),
        std=prep.get('std', IMAGENET_STD),
        to_rgb=prep.get('to_rgb', True))


def get_model(checkpoint: str,
              source: str = 'student',
              num_heads: Optional[int] = None,
              device: str = 'cpu',
              **backbone) -> torch.nn.Module:
    """An mmpretrain ``ImageClassifier`` in eval mode: ``DBotViT`` as in ``checkpoint`` (keyword
    arguments such as ``out_type='featmap'``, ``out_indices`` override), strictly loaded; the
    file's ``LinearClsHead``, mean/std and test pipeline where it has them."""
    spec = read_vit(checkpoint, source, num_heads)
    head = None
    if spec.head:
        num_classes, dims = spec.head['weight'].shape
        head = dict(type='LinearClsHead', num_classes=num_classes, in_channels=dims)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(spec.kwargs, type='DBotViT', **backbone),
            head=head,
            data_preprocessor=data_preprocessor(spec)))
    report = load_backbone_checkpoint(model.backbone, checkpoint, prefix=spec.prefix)
    if report.missing or report.unexpected:
        raise CheckpointLoadError(
            f"checkpoint '{checkpoint}' (prefix '{spec.prefix}') does not fill the DBotViT built "
            f'from its shapes: missing {report.missing}, unused {report.unexpected}')
    if head:
        model.head.fc.load_state_dict(spec.head)
    size = spec.kwargs['img_size']
    pipeline = [  # mmpretrain's ViT test pipeline (resize 256, crop 224 at 224 px)
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=size * 8 // 7, edge='short', interpolation='bicubic'),
        dict(type='CenterCrop', crop_size=size),
        dict(type='PackInputs')
    ]
    test = (spec.cfg.get('test_dataloader') if spec.cfg else None) or {}
    pipeline = test.get('dataset', {}).get('pipeline') or pipeline
    model._config = Config(dict(test_dataloader=dict(dataset=dict(pipeline=pipeline))))
    model._dataset_meta, model._metainfo = spec.meta.get('dataset_meta', {}), None
    return model.to(device).eval()
