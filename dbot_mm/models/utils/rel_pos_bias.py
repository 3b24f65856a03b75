"""Per-block relative position bias with a CLS token (BEiT), initialised at zero."""
from typing import Tuple

import torch
import torch.nn as nn


class RelativePositionBias(nn.Module):
    """Learned bias (num_heads, N, N) for N = Wh*Ww + 1 tokens, added to the attention logits."""

    def __init__(self, window_size: Tuple[int, int], num_heads: int):
        super().__init__()
        self.window_size = tuple(window_size)
        wh, ww = self.window_size
        num_relative = (2 * wh - 1) * (2 * ww - 1) + 3  # + cls->token, token->cls, cls->cls
        self.relative_position_bias_table = nn.Parameter(torch.zeros(num_relative, num_heads))

        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing='ij'))
        coords = coords.flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
        rel[:, :, 0] += wh - 1
        rel[:, :, 1] += ww - 1
        rel[:, :, 0] *= 2 * ww - 1
        index = torch.zeros(wh * ww + 1, wh * ww + 1, dtype=torch.long)
        index[1:, 1:] = rel.sum(-1)
        index[0, 0:] = num_relative - 3
        index[0:, 0] = num_relative - 2
        index[0, 0] = num_relative - 1
        self.register_buffer('relative_position_index', index, persistent=False)

    def forward(self, num_tokens: int) -> torch.Tensor:
        n = self.relative_position_index.shape[0]
        if num_tokens != n:
            # DBotViT names the image and crop sizes before this; here only token counts exist.
            raise ValueError(
                f'RelativePositionBias: built for a {self.window_size[0]}x{self.window_size[1]} '
                f'token grid ({n} tokens incl. CLS) but got {num_tokens} tokens: every input '
                f'must give exactly that grid (a masked forward cannot use the bias)')
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
