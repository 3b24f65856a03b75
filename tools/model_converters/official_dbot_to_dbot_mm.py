"""Convert an official dBOT / MAE checkpoint (main branch of github.com/liuxingbin/dbot:
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
"""
import argparse
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import torch

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


def convert_official_state_dict(state_dict: Dict[str, torch.Tensor],
                                source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """Rename every key; an unknown key is an error naming it (nothing is dropped silently)."""
    keys = [k[len('module.'):] if k.startswith('module.') else k for k in state_dict]
    beit = [k for k in keys if _BEIT_PATTERN.match(k)]
    if beit:
        raise OfficialCheckpointError(
            f"{source}: a beit-branch dBOT checkpoint (symmetric ViT with {_listed(beit, 3)}); "
            'only the main-branch layout (models_mae.py / models_vit.py) converts to DBotViT')
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
        for p in ('backbone.', 'neck.', 'head.fc.', 'teacher.')
    }
    parts = ', '.join(f'{n} {p[:-1]}' for p, n in counts.items() if n)
    note = (f" ({meta['teacher_keys_left_out']} decoder keys of the teacher file left out)"
            if meta.get('teacher_keys_left_out') else '')
    print(f'converted {len(state)} tensors ({parts}) from {args.src} to {args.dst}{note}')


if __name__ == '__main__':
    main()
