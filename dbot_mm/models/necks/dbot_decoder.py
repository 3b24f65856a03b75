"""dBOT's decoder: MAE's decoder, but it keeps the CLS token and predicts teacher features."""
from functools import partial
from typing import Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..backbones.vit import Block
from ..utils.init import mae_init_
from ..utils.pos_embed import get_2d_sincos_pos_embed


@MODELS.register_module()
class DBotDecoder(BaseModule):
    """Decoder 512 wide, 8 blocks, 16 heads (B, L and H alike), fixed sin-cos position embedding,
    learnable mask token, linear drop path, final LayerNorm, Linear to the teacher's width.

    Args:
        grid_size: the student's patch grid (H, W).
        embed_dims: the student encoder's width.
        target_dims: the teacher's width (what the last Linear predicts).
    """

    def __init__(self,
                 grid_size: Union[int, Tuple[int, int]] = 14,
                 embed_dims: int = 768,
                 target_dims: int = 768,
                 decoder_embed_dims: int = 512,
                 decoder_depth: int = 8,
                 decoder_num_heads: int = 16,
                 mlp_ratio: float = 4.,
                 drop_path_rate: float = 0.,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.grid_size = (grid_size, grid_size) if isinstance(grid_size, int) else tuple(grid_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.decoder_embed = nn.Linear(embed_dims, decoder_embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dims))
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, decoder_embed_dims), requires_grad=False)
        dpr = torch.linspace(0, drop_path_rate, decoder_depth).tolist()
        self.decoder_blocks = nn.ModuleList([
            Block(
                decoder_embed_dims,
                decoder_num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=True,
                drop_path=dpr[i],
                norm_layer=norm_layer) for i in range(decoder_depth)
        ])
        self.decoder_norm = norm_layer(decoder_embed_dims)
        self.decoder_pred = nn.Linear(decoder_embed_dims, target_dims)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """MAE initialisation, in place; called again at every stage boundary."""
        pos = get_2d_sincos_pos_embed(self.decoder_pos_embed.shape[-1], self.grid_size, True)
        self.decoder_pos_embed.data.copy_(pos.unsqueeze(0))
        nn.init.normal_(self.mask_token, std=.02)
        mae_init_(self)

    def init_weights(self) -> None:
        if self.init_cfg:
            return super().init_weights()
        self._is_init = True  # reset_parameters() already ran in __init__

    def forward(self, x: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """x: encoder output (B, 1 + L_vis, C); returns (B, 1 + L, target_dims), CLS first."""
        x = self.decoder_embed(x)
        B, L = ids_restore.shape
        mask_tokens = self.mask_token.expand(B, L + 1 - x.shape[1], -1)
        x_ = torch.cat([x[:, 1:], mask_tokens], dim=1)
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[2]))
        x = torch.cat([x[:, :1], x_], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))
