"""Fixed 2-D sin-cos position embedding, exactly as MAE's ``get_2d_sincos_pos_embed``.

MAE's layout: the first half of the channels encodes the column (w) coordinate, the second half
the row (h); each half is [sin, cos] over frequencies 1 / 10000^(i / (D/4)). (mmpretrain's
``build_2d_sincos_position_embedding`` swaps rows and columns, so it is not reused.)
"""
from typing import Tuple

import torch


def _sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.)
    omega = 1. / 10000**omega
    out = pos.reshape(-1).double()[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1)


def get_2d_sincos_pos_embed(embed_dims: int,
                            grid_size: Tuple[int, int],
                            cls_token: bool = False) -> torch.Tensor:
    """(H*W [+1], D) float32 embedding; the CLS slot (0) is all zeros."""
    if embed_dims % 4:
        raise ValueError(f'sin-cos position embedding needs embed_dims % 4 == 0, got {embed_dims}')
    h, w = grid_size
    grid_h, grid_w = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing='ij')
    emb = torch.cat([_sincos_1d(embed_dims // 2, grid_w), _sincos_1d(embed_dims // 2, grid_h)], 1)
    if cls_token:
        emb = torch.cat([torch.zeros(1, embed_dims, dtype=emb.dtype), emb], dim=0)
    return emb.float()
