"""The one ViT of dbot_mm.

The same class is the dBOT student (masked forward), the dBOT teacher (full forward, last block
without the final norm), the ImageNet classifier backbone and the COCO / ADE20K dense backbone.
Block, attention (fused SDPA), MLP, drop path, layer scale and patch embedding are timm's; key
names are timm's / MAE's (``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.N.*``,
``norm``), so official dBOT/MAE checkpoints map onto it by name.
"""
from functools import partial
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from timm.layers import PatchEmbed, resample_abs_pos_embed
from timm.models.vision_transformer import Block as TimmBlock

from ..utils.init import mae_init_
from ..utils.pos_embed import get_2d_sincos_pos_embed
from ..utils.rel_pos_bias import RelativePositionBias

ARCH_SETTINGS = {
    # embed_dims, depth, num_heads
    'tiny': (192, 12, 3),
    'small': (384, 12, 6),
    'base': (768, 12, 12),
    'large': (1024, 24, 16),
    'huge': (1280, 32, 16),
}

OUT_TYPES = ('cls_token', 'avg_featmap', 'featmap', 'raw')


def _resolve_out_indices(out_indices: Union[int, Sequence[int]], depth: int) -> Tuple[int, ...]:
    """Block indices (negative counts from the last); a bad value fails here instead of wrapping
    modulo the depth (ViT-L's (7, 11, 15, 23) on a ViT-B would give fewer maps)."""
    indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
    n = max(depth, 1)  # depth 0 (embeddings only) has one output: index 0 or -1
    if not indices:
        raise ValueError(f'DBotViT: out_indices is empty (depth {depth})')
    for i in indices:
        if not -n <= i < n:
            raise ValueError(f'DBotViT: out_indices value {i} is out of range for depth {depth} '
                             f'(valid: {-n}..{n - 1})')
    resolved = tuple(i % n for i in indices)
    if list(resolved) != sorted(set(resolved)):
        raise ValueError(f'DBotViT: out_indices {tuple(indices)} must name distinct blocks in '
                         f'increasing order (depth {depth}: they are blocks {resolved})')
    return resolved


def _rel_pos_grid_message(img_hw, hw, grid, patch) -> str:
    """What works with a relative position bias of a fixed token grid, in one line."""
    crop = f'{grid[0] * patch}x{grid[1] * patch}'
    return (f'DBotViT (use_rel_pos_bias=True): a {img_hw[0]}x{img_hw[1]} input gives a '
            f'{hw[0]}x{hw[1]} token grid, but the relative position bias was built for '
            f'{grid[0]}x{grid[1]} (img_size {crop}, patch {patch}); every forward must see '
            f'{crop} pixels: slide inference with crop_size {crop}, and pad smaller test images '
            f'to it (mmseg: model.data_preprocessor.test_cfg=dict(size=crop_size)); or set '
            f'use_rel_pos_bias=False')


class Block(TimmBlock):
    """timm's pre-norm block, plus an optional per-block relative position bias (BEiT style)."""

    def __init__(self, dim, num_heads, *args, window_size=None, **kwargs):
        super().__init__(dim, num_heads, *args, **kwargs)
        self.rel_pos_bias = RelativePositionBias(window_size, num_heads) if window_size else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None
        if self.rel_pos_bias is not None:
            bias = self.rel_pos_bias(x.shape[1]).to(x.dtype)
        return super().forward(x, attn_mask=bias)


@MODELS.register_module()
class DBotViT(BaseModule):
    """Vision Transformer (ViT) for dBOT pretraining and every downstream task.

    Args:
        arch: 'tiny' | 'small' | 'base' | 'large' | 'huge'; overridden by the explicit arguments.
        embed_dims, depth, num_heads: override the arch; ``depth=0`` is the stage-1 teacher of
            ViT-L/H (patch embedding + position + CLS only).
        img_size, patch_size: the training input; other sizes work (position embedding resized,
            inputs padded to a multiple of the patch size).
        drop_path_rate: stochastic depth, linear 0 -> rate over the blocks.
        layer_scale_init_value: layer scale (0 = off).
        use_rel_pos_bias: per-block relative position bias initialised at zero (ADE20K recipe).
        freeze_pos_embed: True for the fixed 2-D sin-cos embedding of pretraining; False lets
            fine-tuning learn it (initialised from the checkpoint).
        out_type: 'cls_token' (after the final norm), 'avg_featmap' (mean of patch tokens and
            ``fc_norm``, the MAE fine-tuning head input), 'featmap' (B, C, H, W maps) or 'raw'
            (tokens, B, 1 + L, C).
        out_indices: blocks whose outputs are returned ('featmap'/'raw'); -1 is the last.
        final_norm: apply ``norm`` after the last block (cls_token / raw outputs of it).
        with_cp: activation checkpointing of every block.
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` loads with
            strict key checks (see :func:`dbot_mm.models.utils.load_backbone_checkpoint`).
    """

    def __init__(self,
                 arch: str = 'base',
                 embed_dims: Optional[int] = None,
                 depth: Optional[int] = None,
                 num_heads: Optional[int] = None,
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: float = 0.,
                 use_rel_pos_bias: bool = False,
                 freeze_pos_embed: bool = True,
                 out_type: str = 'cls_token',
                 out_indices: Union[int, Sequence[int]] = -1,
                 final_norm: bool = True,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if arch not in ARCH_SETTINGS:
            raise ValueError(
                f'DBotViT: unknown arch {arch!r}, expected one of {list(ARCH_SETTINGS)}')
        if out_type not in OUT_TYPES:
            raise ValueError(f'DBotViT: unknown out_type {out_type!r}, expected one of {OUT_TYPES}')
        default_dims, default_depth, default_heads = ARCH_SETTINGS[arch]
        self.arch = arch
        self.embed_dims = embed_dims or default_dims
        self.depth = default_depth if depth is None else depth
        self.num_heads = num_heads or default_heads
        self.patch_size = patch_size
        self.out_type = out_type
        self.final_norm = final_norm
        self.with_cp = with_cp
        self.layer_scale_init_value = layer_scale_init_value
        norm_layer = partial(nn.LayerNorm, eps=1e-6)

        self.patch_embed = PatchEmbed(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_channels,
            embed_dim=self.embed_dims,
            output_fmt='NHWC',
            strict_img_size=False,
            dynamic_img_pad=True)
        self.grid_size = tuple(self.patch_embed.grid_size)
        num_patches = self.grid_size[0] * self.grid_size[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        # Created frozen in __init__: mmengine's Runner wraps the model in DDP when it is built,
        # before train() calls init_weights, and DDP only registers parameters that need grads.
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, self.embed_dims), requires_grad=not freeze_pos_embed)
        self.pos_drop = nn.Dropout(drop_rate)

        dpr = torch.linspace(0, drop_path_rate, self.depth).tolist() if self.depth else []
        self.blocks = nn.ModuleList([
            Block(
                self.embed_dims,
                self.num_heads,
                mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias,
                proj_drop=drop_rate,
                attn_drop=attn_drop_rate,
                drop_path=dpr[i],
                init_values=layer_scale_init_value or None,
                norm_layer=norm_layer,
                window_size=self.grid_size if use_rel_pos_bias else None) for i in range(self.depth)
        ])
        self.norm = norm_layer(self.embed_dims) if final_norm else nn.Identity()
        self.fc_norm = norm_layer(self.embed_dims) if out_type == 'avg_featmap' else nn.Identity()

        self.out_indices = _resolve_out_indices(out_indices, self.depth)
        self.use_rel_pos_bias = bool(use_rel_pos_bias and self.depth)
        self.reset_parameters()

    # ----------------------------------------------------------------------------- init
    def reset_parameters(self) -> None:
        """MAE initialisation, in place (optimizer and DDP keep their Parameter references).

        Called again by the bootstrapping hook to re-initialise the student at a stage boundary.
        """
        pos = get_2d_sincos_pos_embed(self.embed_dims, self.grid_size, cls_token=True)
        self.pos_embed.data.copy_(pos.unsqueeze(0))
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.patch_embed.proj.bias)
        nn.init.normal_(self.cls_token, std=.02)
        mae_init_(self)
        for blk in self.blocks:
            for ls in (blk.ls1, blk.ls2):
                if hasattr(ls, 'gamma'):
                    nn.init.constant_(ls.gamma, self.layer_scale_init_value)
            if blk.rel_pos_bias is not None:
                nn.init.zeros_(blk.rel_pos_bias.relative_position_bias_table)

    def init_weights(self) -> None:
        """Load a pretrained checkpoint with strict, loud key checks, or keep the MAE init."""
        from ..utils.pretrained import load_backbone_checkpoint, pretrained_from_init_cfg
        pretrained = pretrained_from_init_cfg(self.init_cfg, type(self).__name__)
        if pretrained is not None:
            load_backbone_checkpoint(
                self,
                pretrained.checkpoint,
                prefix=pretrained.prefix,
                map_location=pretrained.map_location)
            self._is_init = True
            return
        super().init_weights()

    # -------------------------------------------------------------------------- forward
    def patchify(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch tokens (B, L, C) with their position embedding, and the token grid (H, W)."""
        img_hw = tuple(x.shape[-2:])
        x = self.patch_embed(x)
        hw = (x.shape[1], x.shape[2])
        if self.use_rel_pos_bias and hw != self.grid_size:
            raise ValueError(_rel_pos_grid_message(img_hw, hw, self.grid_size, self.patch_size))
        pos = self.pos_embed
        if hw != self.grid_size:
            # bicubic without antialias, as MAE's interpolate_pos_embed and our loader
            pos = resample_abs_pos_embed(
                pos, new_size=hw, old_size=self.grid_size, num_prefix_tokens=1, antialias=False)
        x = x.flatten(1, 2) + pos[:, 1:]
        return x, hw

    def add_cls_token(self, x: torch.Tensor) -> torch.Tensor:
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        return self.pos_drop(torch.cat([cls, x], dim=1))

    def run_block(self, blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(blk, x, use_reentrant=False)
        return blk(x)

    def forward_masked(self, x: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """Student: encode CLS + the visible patches ``ids_keep`` (K*B, L_vis) of K masks per
        image (patch embedding computed once per image); final norm applied."""
        x, _ = self.patchify(x)
        if ids_keep.shape[0] != x.shape[0]:
            x = x.repeat(ids_keep.shape[0] // x.shape[0], 1, 1)
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = self.add_cls_token(x)
        for blk in self.blocks:
            x = self.run_block(blk, x)
        return self.norm(x)

    def forward_target(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher: all tokens incl. CLS of the last block, without the final norm (official
        models_mae.py ``forward_teacher`` with its default ``tlayernorm=0``)."""
        x, _ = self.patchify(x)
        x = self.add_cls_token(x)
        for blk in self.blocks:
            x = self.run_block(blk, x)
        return x

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Downstream forward: a tuple with one output per ``out_indices`` entry."""
        B = x.shape[0]
        x, (h, w) = self.patchify(x)
        x = self.add_cls_token(x)
        outs = []
        for i, blk in enumerate(self.blocks):
            x = self.run_block(blk, x)
            if i == self.depth - 1:
                x = self.norm(x)
            if i in self.out_indices:
                outs.append(self._format_output(x, h, w, B))
        if self.depth == 0:
            outs.append(self._format_output(self.norm(x), h, w, B))
        return tuple(outs)

    def _format_output(self, x, h, w, B):
        if self.out_type == 'raw':
            return x
        if self.out_type == 'cls_token':
            return x[:, 0]
        if self.out_type == 'avg_featmap':
            return self.fc_norm(x[:, 1:].mean(dim=1))
        return x[:, 1:].reshape(B, h, w, -1).permute(0, 3, 1, 2).contiguous()

    # ------------------------------------------------------------------------ layer decay
    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer id of a parameter for layer-wise lr decay: embeddings 0, block i -> i + 1,
        everything after the blocks (norms, heads) depth + 1. Returns (layer_id, num_layers)."""
        num_layers = self.depth + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith(('cls_token', 'pos_embed', 'patch_embed', 'mask_token')):
            return 0, num_layers
        if name.startswith('blocks.'):
            return int(name.split('.')[1]) + 1, num_layers
        return num_layers - 1, num_layers
