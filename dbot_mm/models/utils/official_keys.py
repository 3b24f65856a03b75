"""Key mapping from the official dBOT / MAE checkpoints (``{'model': ...}``, timm names) to
dbot_mm's ``DBOT`` (student ``backbone.``, decoder ``neck.``, ``teacher.``) or, for fine-tuned
classifiers, mmpretrain's ``ImageClassifier`` (``head.fc``).

The official student is ``MaskedAutoencoderViT`` of models_mae.py (main branch of
github.com/liuxingbin/dbot): encoder ``patch_embed``, ``cls_token``, ``pos_embed``, ``blocks``,
``norm``; decoder ``decoder_embed``, ``mask_token``, ``decoder_pos_embed``, ``decoder_blocks``,
``decoder_norm`` and ``decoder_predp`` (the Linear to the teacher's width; MAE names it
``decoder_pred``). ``misc.save_model`` writes the student alone; the teacher (the same class with
``decoder_depth=0``: encoder keys only) goes to its own ``checkpoint-teacher-N.pth``.
"""
import re
from typing import Dict, List, Tuple

import torch

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
