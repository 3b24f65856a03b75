"""Key mapping from mmpretrain's ViT (``VisionTransformer`` and its MAE subclass ``MAEViT``,
mmpretrain 1.x) to timm's names, which ``DBotViT`` uses, so that an mmpretrain MAE (or any
mmpretrain model with such a backbone) is evaluated through the same downstream backbone as dBOT.

The two encoders compute the same function: pre-norm blocks, LayerNorm eps 1e-6 (the default
``norm_cfg`` of both mmpretrain classes and DBotViT's), fused qkv in timm's (3, heads, head_dim)
order, GELU MLP, a CLS token, and a position embedding added to CLS and patch tokens alike.
``pos_embed`` must be carried over: MAEViT saves its fixed sin-cos table in the state dict, and it
is laid out differently from MAE's ``get_2d_sincos_pos_embed`` that DBotViT initialises with.
Layer scale (``gamma1``/``gamma2``, off in MAEViT) maps to timm's ``ls1``/``ls2``; the avg-pool
norm ``ln2`` of ``out_type='avg_featmap'`` to ``fc_norm``. Anything else (``pre_norm`` of CLIP-style
ViTs, a patch-embedding norm, SwiGLU FFNs) has no DBotViT counterpart and is an error.
"""
import re
from collections import OrderedDict
from typing import Dict, List, Tuple

import torch

BACKBONE_PREFIX = 'backbone.'

# mmpretrain name (regex, after the backbone prefix) -> timm name
_RENAMES = [(re.compile(p), r) for p, r in (
    (r'^patch_embed\.projection\.(weight|bias)$', r'patch_embed.proj.\1'),
    (r'^(cls_token|pos_embed)$', r'\1'),
    (r'^layers\.(\d+)\.ln1\.(weight|bias)$', r'blocks.\1.norm1.\2'),
    (r'^layers\.(\d+)\.ln2\.(weight|bias)$', r'blocks.\1.norm2.\2'),
    (r'^layers\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$', r'blocks.\1.attn.\2.\3'),
    (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.ls1.gamma'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)$', r'blocks.\1.mlp.fc1.\2'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.(weight|bias)$', r'blocks.\1.mlp.fc2.\2'),
    (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.ls2.gamma'),
    (r'^ln1\.(weight|bias)$', r'norm.\1'),
    (r'^ln2\.(weight|bias)$', r'fc_norm.\1'),
)]
# names that are already timm's (a dbot_mm or official file): nothing to convert
_TIMM_NAMES = re.compile(r'^(blocks\.\d+\.|patch_embed\.proj\.|norm\.)')


def split_backbone(
        state_dict: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """The backbone's tensors (``backbone.`` removed) and the keys left out (decoder ``neck.``,
    ``head.``, ``target_generator.``, ...). A state dict without any ``backbone.`` key is taken to
    be a backbone's own (``VisionTransformer.state_dict()``)."""
    if not any(k.startswith(BACKBONE_PREFIX) for k in state_dict):
        return OrderedDict(state_dict), []
    backbone = OrderedDict((k[len(BACKBONE_PREFIX):], v) for k, v in state_dict.items()
                           if k.startswith(BACKBONE_PREFIX))
    return backbone, [k for k in state_dict if not k.startswith(BACKBONE_PREFIX)]


def _rename(key: str) -> str:
    for pattern, repl in _RENAMES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    return ''


def mmpretrain_vit_to_timm(state_dict: Dict[str, torch.Tensor],
                           source: str = 'checkpoint') -> 'OrderedDict[str, torch.Tensor]':
    """timm-named encoder tensors of an mmpretrain ViT / MAEViT state dict (full model with
    ``backbone.*`` keys, whose other keys are dropped, or the backbone's own).

    Raises:
        ValueError: one line naming ``source`` and the first backbone key that does not map, or
            saying that the backbone has no ViT encoder (no ``cls_token`` / ``patch_embed``).
    """
    backbone, _ = split_backbone(state_dict)
    prefix = BACKBONE_PREFIX if any(k.startswith(BACKBONE_PREFIX) for k in state_dict) else ''
    out = OrderedDict()
    for key, value in backbone.items():
        new = _rename(key)
        if not new:
            hint = (' (it has timm names already: load the file as it is)'
                    if _TIMM_NAMES.match(key) else '')
            raise ValueError(
                f"{source}: cannot map '{prefix}{key}' of an mmpretrain VisionTransformer/"
                f'MAEViT backbone to a DBotViT key{hint}')
        out[new] = value
    for required in ('patch_embed.proj.weight', 'cls_token'):
        if required not in out:
            raise ValueError(
                f'{source}: the backbone has no {required} (keys: {list(backbone)[:4]}); DBotViT '
                'needs a ViT with a patch embedding and a class token (with_cls_token=True)')
    return out
