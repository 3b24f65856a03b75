"""Convert an mmpretrain checkpoint with a ViT backbone (``MAE`` / ``MAEViT``, or any model with a
``VisionTransformer`` backbone) to dbot_mm's layout, so that mmpretrain's MAE is evaluated through
the same downstream ``DBotViT`` as dBOT.

    python tools/model_converters/mmpretrain_vit_to_dbot_mm.py \
        work_dirs/mae_vit-base-p16/epoch_1600.pth checkpoints/mae_vit-b_dbot_mm.pth

SRC may be a file or an http(s) URL, read with ``torch.load(weights_only=True)``. The output is
``{'state_dict': {'backbone.<timm key>': ...}, 'meta': {...}}``, written atomically; the keys
outside ``backbone.`` (MAE's decoder ``neck.*``, ``head.*``, a target generator) are left out and
counted. Load it with ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.

The two encoders compute the same function: pre-norm blocks, LayerNorm eps 1e-6, fused qkv in
timm's (3, heads, head_dim) order, GELU MLP, a CLS token, a position embedding added to CLS and
patch tokens alike. ``pos_embed`` is carried over: MAEViT saves its fixed sin-cos table, laid out
differently from MAE's ``get_2d_sincos_pos_embed`` that DBotViT initialises with. Layer scale
(``gamma1``/``gamma2``) maps to timm's ``ls1``/``ls2``, the avg-pool norm ``ln2`` to ``fc_norm``.
Anything else (``pre_norm`` of CLIP-style ViTs, a patch-embedding norm, SwiGLU FFNs) has no
DBotViT counterpart and is an error.
"""
import argparse
import io
import re
from collections import Counter, OrderedDict
from typing import Dict, List, Tuple

import torch

from dbot_mm.utils.checkpoint import (
    atomic_write,
    exit_on_checkpoint_errors,
    extract_state_dict,
    load_checkpoint,
)

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
        new = next((p.sub(r, key) for p, r in _RENAMES if p.match(key)), '')
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='mmpretrain / mmengine checkpoint (.pth file or URL)')
    parser.add_argument('dst', help='output file')
    return parser.parse_args(argv)


def convert(src: str, dst: str) -> dict:
    """Write the converted file; returns what was written and the keys left out (``dropped``).
    Raises one-line errors (see main)."""
    # logger='silent': the summary line of main() says what was read
    state = extract_state_dict(load_checkpoint(src, logger='silent'), src)
    converted = mmpretrain_vit_to_timm(state, source=src)
    _, dropped = split_backbone(state)
    state_dict = {f'backbone.{k}': v for k, v in converted.items()}
    result = dict(
        state_dict=state_dict, meta=dict(converted_from=src, source_format='mmpretrain ViT'))
    buffer = io.BytesIO()
    torch.save(result, buffer)
    atomic_write(buffer.getvalue(), dst)
    return dict(result, dropped=dropped)


def main(argv=None):
    args = parse_args(argv)
    with exit_on_checkpoint_errors(ValueError):
        result = convert(args.src, args.dst)
    dropped = Counter(k.split('.', 1)[0] for k in result['dropped'])
    left_out = ', '.join(f'{n} {p}.*' for p, n in dropped.items())
    note = f' (left out: {left_out})' if dropped else ''
    print(f"converted {len(result['state_dict'])} backbone tensors from {args.src} "
          f'to {args.dst}{note}')


if __name__ == '__main__':
    main()
