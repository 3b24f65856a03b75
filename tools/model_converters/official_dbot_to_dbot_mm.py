"""Convert an official dBOT / MAE checkpoint (github.com/liuxingbin/dbot, branches main and beit:
``{'model': state_dict, ...}``, timm key names) to dbot_mm's layout, so released weights start
downstream runs, continue pretraining (``load_from``) or load as a teacher.

    python tools/model_converters/official_dbot_to_dbot_mm.py 84.5_dbot_base_pre.pth \
        dbot_vit-b_official.pth [--teacher checkpoint-teacher-1600.pth]

SRC may be a file or an http(s) URL. It is read with ``torch.load(weights_only=True)``: the
official ``misc.save_model`` layout (``model``, ``optimizer``, ``epoch``, ``scaler``, ``args``)
loads as data. The output is ``{'state_dict': ..., 'meta': ...}``, tensors only, with the keys
``backbone.*`` (encoder), ``neck.*`` (decoder, ``decoder_predp`` -> ``neck.decoder_pred``),
``head.fc.*`` (fine-tuned head) and, with ``--teacher`` (the official teacher file, saved apart
from the student), ``teacher.*``. The optimizer, loss scaler and arguments are not carried over.

The official student is ``MaskedAutoencoderViT`` of models_mae.py: encoder ``patch_embed``,
``cls_token``, ``pos_embed``, ``blocks``, ``norm``; decoder ``decoder_embed``, ``mask_token``,
``decoder_pos_embed``, ``decoder_blocks``, ``decoder_norm`` and ``decoder_predp`` (the Linear to
the teacher's width; MAE names it ``decoder_pred``). The teacher is the same class with
``decoder_depth=0`` (encoder keys only). An unknown key is an error naming it.

A beit-branch file (the CLIP-distilled students: modeling_pretrain.py's
``VisionTransformerForMaskedImageModeling`` or modeling_finetune.py's ``VisionTransformer``, saved
by utils.save_model as ``model``, or by DeepSpeed as ``module``) is recognised by its keys and
mapped onto DBotViT: ``attn.q_bias`` / ``v_bias`` -> ``attn.qkv.bias`` with a zero key part (what
its attention adds), ``gamma_1/2`` -> ``ls1/ls2.gamma``, ``attn.relative_position_bias_table`` ->
``rel_pos_bias.relative_position_bias_table``; the shared ``rel_pos_bias`` table is copied into
every block (run_finetune.py does the same before fine-tuning; the blocks add the same bias, so
the features are unchanged; added to a block's own table where it has one), the
``relative_position_index`` buffers are checked against BEiT's layout and dropped; ``mask_token``
and ``lm_head`` go to the top level, as ``DBOTCLIP`` holds them; ``head`` -> ``head.fc``.
"""
import argparse
import math
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import torch
from timm.layers import gen_relative_position_index

from dbot_mm.utils.checkpoint import exit_on_checkpoint_errors, extract_state_dict, load_checkpoint

ENCODER_PREFIXES = ('patch_embed.', 'cls_token', 'pos_embed', 'blocks.', 'norm.', 'fc_norm.')
DECODER_PREFIXES = ('decoder_embed.', 'mask_token', 'decoder_pos_embed', 'decoder_blocks.',
                    'decoder_norm.', 'decoder_pred.')
# official decoder name -> ours (DBotDecoder follows MAE's ``decoder_pred``)
DECODER_RENAMES = {'decoder_predp.': 'decoder_pred.'}
# Keys of the beit branch (symmetric ViT, CLIP teachers): q/v biases, relative position bias,
# layer scale gamma_1/2, lm_head; DBotViT has none of these names.
_BEIT_PATTERN = re.compile(
    r'^(blocks\.\d+\.(attn\.(q_bias|v_bias|relative_position_bias_table)|gamma_[12])|lm_head\.'
    r'|rel_pos_bias\.)')
# beit-branch name -> DBotViT's (q/v biases and the shared table are handled apart)
BEIT_RENAMES = (('.gamma_1', '.ls1.gamma'), ('.gamma_2', '.ls2.gamma'),
                ('.attn.relative_position_bias_table',
                 '.rel_pos_bias.relative_position_bias_table'))
_TABLE = 'rel_pos_bias.relative_position_bias_table'
_OURS = ('backbone.', 'neck.', 'teacher.', 'head.fc.', 'data_preprocessor.')


class OfficialCheckpointError(ValueError):
    """The file is not a main-branch official dBOT / MAE checkpoint (one-line message)."""


def _listed(keys: List[str], limit: int = 8) -> str:
    return str(keys[:limit]) + (f' (+{len(keys) - limit} more)' if len(keys) > limit else '')


def _rename(key: str) -> str:
    for old, new in DECODER_RENAMES.items():
        if key.startswith(old):
            return new + key[len(old):]
    return key


def _check_index(index: torch.Tensor, table: torch.Tensor, key: str, source: str) -> None:
    """A saved ``relative_position_index`` must be BEiT's for the window of its table."""
    if table is None:
        raise OfficialCheckpointError(f'{source}: {key} without its relative_position_bias_table')
    side = (math.isqrt(table.shape[0] - 3) + 1) // 2
    expected = gen_relative_position_index((side, side), class_token=True)
    if index.shape != expected.shape or not torch.equal(index.long(), expected):
        raise OfficialCheckpointError(
            f'{source}: {key} is not the relative position index of a {side}x{side} window with '
            f'a CLS token (beit modeling_finetune.py RelativePositionBias); cannot convert it')


def convert_beit_state_dict(keys: List[str], values: List[torch.Tensor],
                            source: str) -> Dict[str, torch.Tensor]:
    """A beit-branch state dict in DBotViT's layout (see the module docstring)."""
    state, out, unknown = dict(zip(keys, values)), {}, []
    for k, v in state.items():
        if k.endswith('relative_position_index'):
            _check_index(v, state.get(k.replace('_index', '_bias_table')), k, source)
        elif k.endswith('.attn.v_bias') or k == _TABLE:
            continue
        elif k.endswith('.attn.q_bias'):
            v_bias = state[k[:-len('q_bias')] + 'v_bias']
            out['backbone.' + k[:-len('q_bias')] + 'qkv.bias'] = torch.cat(
                [v, torch.zeros_like(v), v_bias])
        elif k.startswith(('mask_token', 'lm_head.')):
            out[k] = v
        elif k.startswith('head.'):
            out['head.fc.' + k[len('head.'):]] = v
        elif k.startswith(ENCODER_PREFIXES):
            for old, new in BEIT_RENAMES:
                k = k.replace(old, new)
            out['backbone.' + k] = v
        else:
            unknown.append(k)
    if unknown:
        raise OfficialCheckpointError(
            f'{source}: keys that are not of a beit-branch ViT (modeling_pretrain.py / '
            f'modeling_finetune.py): {_listed(unknown)}')
    if _TABLE in state:
        blocks = sorted({int(k.split('.')[1]) for k in state if k.startswith('blocks.')})
        for i in blocks:
            key = f'backbone.blocks.{i}.{_TABLE}'
            out[key] = out[key] + state[_TABLE] if key in out else state[_TABLE].clone()
    return out


def convert_official_state_dict(state_dict: Dict[str, torch.Tensor],
                                source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """Rename every key; an unknown key is an error naming it (nothing is dropped silently)."""
    keys = [k[len('module.'):] if k.startswith('module.') else k for k in state_dict]
    if any(_BEIT_PATTERN.match(k) for k in keys):
        return convert_beit_state_dict(keys, list(state_dict.values()), source)
    ours = [k for k in keys if k.startswith(_OURS)]
    if len(ours) == len(keys) and any(k.startswith(('backbone.', 'neck.')) for k in keys):
        raise OfficialCheckpointError(
            f'{source}: already in the dbot_mm layout ({_listed(ours, 3)}); use it as it is')
    out, unknown = {}, []
    for k, v in zip(keys, state_dict.values()):
        k = _rename(k)
        if k.startswith(ENCODER_PREFIXES):
            out['backbone.' + k] = v
        elif k.startswith(DECODER_PREFIXES):
            out['neck.' + k] = v
        elif k.startswith('teacher.'):
            out[k] = v
        elif k.startswith('head.'):
            out['head.fc.' + k[len('head.'):]] = v
        else:
            unknown.append(k)
    if unknown:
        raise OfficialCheckpointError(
            f'{source}: keys that are neither encoder ({", ".join(ENCODER_PREFIXES)}), decoder '
            f'(decoder_*, mask_token) nor head keys of a main-branch dBOT/MAE model: '
            f'{_listed(unknown)}')
    if not any(k.startswith('backbone.') for k in out):
        raise OfficialCheckpointError(
            f'{source}: no encoder keys (patch_embed., blocks., ...) found; keys: '
            f'{_listed(keys)}')
    return out


def convert_official_teacher(state_dict: Dict[str, torch.Tensor],
                             source: str = 'teacher') -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """The official teacher's encoder as ``teacher.*``; returns it and the decoder keys left out
    (a student file given as the teacher: the official code copies only the encoder, with
    ``load_state_dict(strict=False)``, into its teacher)."""
    converted = convert_official_state_dict(state_dict, source)
    teacher = {
        'teacher.' + k[len('backbone.'):]: v
        for k, v in converted.items() if k.startswith('backbone.')
    }
    left_out = [k for k in converted if not k.startswith('backbone.')]
    return teacher, left_out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth file or URL)')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--teacher',
        help="official teacher checkpoint (checkpoint-teacher-N.pth; "
        "its encoder becomes 'teacher.*')")
    return parser.parse_args(argv)


def _official_state(src: str) -> Tuple[dict, dict]:
    """The checkpoint and its state dict (``model``, ``state_dict`` or the file itself)."""
    ckpt = load_checkpoint(src)
    return ckpt, extract_state_dict(ckpt, src)


def convert(src: str, dst: str, teacher: Optional[str] = None) -> dict:
    """Write the converted file; returns what was written. Raises one-line errors (see main)."""
    ckpt, state = _official_state(src)
    converted = convert_official_state_dict(state, source=src)
    meta = dict(converted_from=osp.basename(src))
    if isinstance(ckpt.get('epoch'), int):
        meta['official_epoch'] = ckpt['epoch']
    if teacher:
        _, teacher_state = _official_state(teacher)
        teacher_keys, left_out = convert_official_teacher(teacher_state, source=teacher)
        converted.update(teacher_keys)
        meta.update(teacher_from=osp.basename(teacher), teacher_keys_left_out=len(left_out))
    result = dict(state_dict=converted, meta=meta)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(result, dst)
    return result


def main(argv=None):
    args = parse_args(argv)
    with exit_on_checkpoint_errors(OfficialCheckpointError):
        result = convert(args.src, args.dst, args.teacher)
    state, meta = result['state_dict'], result['meta']
    counts = {
        p: sum(k.startswith(p) for k in state)
        for p in ('backbone.', 'neck.', 'head.fc.', 'teacher.', 'lm_head.')
    }
    parts = ', '.join(f'{n} {p[:-1]}' for p, n in counts.items() if n)
    note = (f" ({meta['teacher_keys_left_out']} decoder keys of the teacher file left out)"
            if meta.get('teacher_keys_left_out') else '')
    print(f'converted {len(state)} tensors ({parts}) from {args.src} to {args.dst}{note}')
    keys = [k for k in state if k.startswith('backbone.')]
    rel_pos, scale = any(k.endswith(_TABLE) for k in keys), any('.ls1.' in k for k in keys)
    print(f"its DBotViT: use_abs_pos_emb={'backbone.pos_embed' in keys}, "
          f"use_rel_pos_bias={rel_pos}, layer scale {'yes' if scale else 'no'}")


if __name__ == '__main__':
    main()
