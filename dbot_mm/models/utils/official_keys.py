"""Key mapping from the official dBOT / MAE checkpoints (``{'model': ...}``, timm names) to
dbot_mm's ``DBOT`` (student ``backbone.``, decoder ``neck.``, ``teacher.``) or, for fine-tuned
classifiers, mmpretrain's ``ImageClassifier`` (``head.fc``)."""
from typing import Dict

import torch

ENCODER_PREFIXES = ('patch_embed.', 'cls_token', 'pos_embed', 'blocks.', 'norm.', 'fc_norm.')
DECODER_PREFIXES = ('decoder_embed.', 'mask_token', 'decoder_pos_embed', 'decoder_blocks.',
                    'decoder_norm.', 'decoder_pred.')


def convert_official_state_dict(state_dict: Dict[str, torch.Tensor],
                                source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """Rename every key; an unknown key is an error naming it (nothing is dropped silently)."""
    out, unknown = {}, []
    for k, v in state_dict.items():
        k = k[len('module.'):] if k.startswith('module.') else k
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
        raise KeyError(f'{source}: keys not in the official dBOT/MAE format: {unknown[:8]}'
                       + (f' (+{len(unknown) - 8} more)' if len(unknown) > 8 else ''))
    if not any(k.startswith('backbone.') for k in out):
        raise KeyError(f'{source}: no encoder keys (patch_embed., blocks., ...) found')
    return out
