"""The one ViT of dbot_mm: timm's ``VisionTransformer`` with MAE's init and dBOT's forwards.

The same class is the dBOT student (masked forward), the dBOT teacher (full forward, last block
without the final norm), the ImageNet classifier backbone and the COCO / ADE20K dense backbone.
Patch embedding, blocks (fused SDPA attention, layer scale, drop path), relative position bias and
``forward_intermediates`` are timm's; key names are timm's / MAE's (``patch_embed.proj``,
``cls_token``, ``pos_embed``, ``blocks.N.*``, ``norm``), so official dBOT/MAE checkpoints map onto
it by name.
"""
import copy
from functools import partial
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from timm.layers import RelPosBias, resample_abs_pos_embed, to_2tuple
from timm.models.vision_transformer import Block as TimmBlock
from timm.models.vision_transformer import VisionTransformer

from ..utils.init import mae_init_
from ..utils.pos_embed import get_2d_sincos_pos_embed
from ..utils.pretrained import load_backbone_checkpoint, pretrained_from_init_cfg

ARCH_SETTINGS = {
    # embed_dims, depth, num_heads
    'tiny': (192, 12, 3),
    'small': (384, 12, 6),
    'base': (768, 12, 12),
    'large': (1024, 24, 16),
    'huge': (1280, 32, 16),
}

OUT_TYPES = ('cls_token', 'avg_featmap', 'featmap', 'raw')


def _check_out_indices(out_indices: Union[int, Sequence[int]], depth: int) -> Tuple[int, ...]:
    """Block indices (negative counts from the last; an int is one block, not timm's "last n");
    a bad value fails here instead of wrapping modulo the depth (ViT-L's (7, 11, 15, 23) on a
    ViT-B would give fewer maps). Depth 0 (embeddings only) has one output, index 0 or -1."""
    indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
    n = max(depth, 1)
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


class RelativePositionBias(RelPosBias):
    """timm's relative position bias with BEiT's CLS entries, initialised at zero (official
    ``beit`` branch, ``init_values`` recipe); called with the token count, which must be its
    grid's (a masked forward or another input size cannot use it)."""

    def __init__(self, window_size: Tuple[int, int], num_heads: int):
        super().__init__(tuple(window_size), num_heads, prefix_tokens=1)

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.relative_position_bias_table)  # and no random draw
        self._init_buffers()

    def forward(self, num_tokens: int) -> torch.Tensor:
        n = self.bias_shape[0]
        if num_tokens != n:
            raise ValueError(
                f'RelativePositionBias: built for a {self.window_size[0]}x{self.window_size[1]} '
                f'token grid ({n} tokens incl. CLS) but got {num_tokens} tokens: every input '
                f'must give exactly that grid (a masked forward cannot use the bias)')
        return self.get_bias()


class Block(TimmBlock):
    """timm's pre-norm block, plus an optional per-block relative position bias (BEiT style)."""

    def __init__(self, dim, num_heads, *args, window_size=None, **kwargs):
        super().__init__(dim, num_heads, *args, **kwargs)
        self.rel_pos_bias = RelativePositionBias(window_size, num_heads) if window_size else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.rel_pos_bias is None else self.rel_pos_bias(x.shape[1]).to(x.dtype)
        return super().forward(x, attn_mask=bias)


@MODELS.register_module()
class DBotViT(VisionTransformer, BaseModule):
    """Vision Transformer (ViT) for dBOT pretraining and every downstream task.

    Args:
        arch: 'tiny' | 'small' | 'base' | 'large' | 'huge'; overridden by the explicit arguments.
        embed_dims, depth, num_heads: override the arch; ``depth=0`` is the stage-1 teacher of
            ViT-L/H (patch embedding + position + CLS only).
        img_size, patch_size: the training input; other sizes work (position embedding resized,
            inputs padded to a multiple of the patch size).
        drop_rate: dropout after the position embedding and in the blocks' projections.
        drop_path_rate: stochastic depth, linear 0 -> rate over the blocks.
        layer_scale_init_value: layer scale (0 = off).
        use_rel_pos_bias: per-block relative position bias initialised at zero (ADE20K recipe),
            or loaded (a beit-branch file's shared table is copied into every block when it is
            converted, as its run_finetune.py does).
        use_abs_pos_emb: False: no ``pos_embed`` (timm ``Beit``'s option; the beit branch's
            run_finetune.py default, position from the relative position bias alone).
        qkv_bias: a bias on q, k and v (timm's ``qkv.bias``). BEiT's q/v-only bias is this one
            with a zero key part: a key bias adds the same q.b_k to every score of a query,
            which the softmax cancels, so a learnt one changes nothing either.
        freeze_pos_embed: True for the fixed 2-D sin-cos embedding of pretraining; False lets
            fine-tuning learn it (initialised from the checkpoint).
        out_type: 'cls_token' (after the final norm), 'avg_featmap' (mean of patch tokens and
            ``fc_norm``, the MAE fine-tuning head input), 'featmap' (B, C, H, W maps) or 'raw'
            (tokens, B, 1 + L, C).
        out_indices: blocks whose outputs are returned; -1 is the last.
        final_norm: apply ``norm`` after the last block (to the last block's output only).
        with_cp: activation checkpointing of every block (timm's ``grad_checkpointing``).
        init_cfg: ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` loads with
            strict key checks (:func:`dbot_mm.models.utils.pretrained.load_backbone_checkpoint`);
            ``drop_trained=True`` (or a list of key parts) lets it drop trained weights this
            model has no place for.
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
                 use_abs_pos_emb: bool = True,
                 freeze_pos_embed: bool = True,
                 out_type: str = 'cls_token',
                 out_indices: Union[int, Sequence[int]] = -1,
                 final_norm: bool = True,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        if arch not in ARCH_SETTINGS:
            raise ValueError(
                f'DBotViT: unknown arch {arch!r}, expected one of {list(ARCH_SETTINGS)}')
        if out_type not in OUT_TYPES:
            raise ValueError(f'DBotViT: unknown out_type {out_type!r}, expected one of {OUT_TYPES}')
        default_dims, default_depth, default_heads = ARCH_SETTINGS[arch]
        depth = default_depth if depth is None else depth
        out_indices = _check_out_indices(out_indices, depth)
        num_heads = num_heads or default_heads
        grid = tuple(s // patch_size for s in to_2tuple(img_size))  # PatchEmbed's grid_size
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        avg = out_type == 'avg_featmap'
        super().__init__(
            img_size=img_size,
            patch_size=patch_size,
            in_chans=in_channels,
            num_classes=0,
            embed_dim=embed_dims or default_dims,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            init_values=layer_scale_init_value or None,
            pos_embed='learn' if use_abs_pos_emb else 'none',
            final_norm=final_norm or avg,
            fc_norm=avg,
            dynamic_img_size=True,
            dynamic_img_pad=True,
            pos_drop_rate=drop_rate,
            proj_drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
            weight_init='skip',  # MAE's init below
            norm_layer=norm_layer,
            block_fn=partial(Block, window_size=grid if use_rel_pos_bias else None))
        self.init_cfg = copy.deepcopy(init_cfg)  # BaseModule's (its __init__ ran without it)
        if final_norm and avg:  # timm keeps one of the two; mmpretrain's avg_featmap allows both
            self.norm = norm_layer(self.embed_dim)
        # Frozen in __init__: mmengine's Runner wraps the model in DDP when it is built, before
        # train() calls init_weights, and DDP only registers parameters that need grads.
        if use_abs_pos_emb:
            self.pos_embed.requires_grad_(not freeze_pos_embed)
        self.set_grad_checkpointing(with_cp)
        self.arch, self.depth, self.num_heads = arch, depth, num_heads
        self.embed_dims = self.embed_dim
        self.patch_size = patch_size
        self.grid_size = tuple(self.patch_embed.grid_size)
        self.out_type, self.out_indices, self.final_norm = out_type, out_indices, final_norm
        self.layer_scale_init_value = layer_scale_init_value
        self.use_rel_pos_bias = bool(use_rel_pos_bias and depth)
        self.use_abs_pos_emb = use_abs_pos_emb
        self.reset_parameters()

    @property
    def with_cp(self) -> bool:
        return self.grad_checkpointing

    # ----------------------------------------------------------------------------- init
    def reset_parameters(self) -> None:
        """MAE initialisation, in place (optimizer and DDP keep their Parameter references).

        Called again by the bootstrapping hook to re-initialise the student at a stage boundary.
        """
        if self.pos_embed is not None:
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
                blk.rel_pos_bias.reset_parameters()

    def init_weights(self) -> None:
        """Load a pretrained checkpoint with strict, loud key checks, or keep the MAE init
        (mmengine's ``init_weights``, not timm's)."""
        pretrained = pretrained_from_init_cfg(self.init_cfg, type(self).__name__)
        if pretrained is None:
            return BaseModule.init_weights(self)
        load_backbone_checkpoint(
            self,
            pretrained.checkpoint,
            prefix=pretrained.prefix,
            map_location=pretrained.map_location,
            drop_trained=pretrained.drop_trained)
        self._is_init = True

    # -------------------------------------------------------------------------- forward
    def _check_grid(self, x: torch.Tensor) -> Tuple[int, int]:
        """The token grid of images ``x``; a relative position bias fits its own grid only."""
        hw = tuple(self.patch_embed.dynamic_feat_size(x.shape[-2:]))
        if self.use_rel_pos_bias and hw != self.grid_size:
            (gh, gw), p = self.grid_size, self.patch_size
            crop = f'{gh * p}x{gw * p}'
            raise ValueError(
                f'DBotViT (use_rel_pos_bias=True): a {x.shape[-2]}x{x.shape[-1]} input gives a '
                f'{hw[0]}x{hw[1]} token grid, but the relative position bias was built for '
                f'{gh}x{gw} (img_size {crop}, patch {p}); every forward must see {crop} pixels: '
                f'slide inference with crop_size {crop}, and pad smaller test images to it '
                f'(mmseg: model.data_preprocessor.test_cfg=dict(size=crop_size)); or set '
                f'use_rel_pos_bias=False')
        return hw

    def _add_pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) patch embeddings -> (B, H*W, C) tokens with their position embedding."""
        hw = tuple(x.shape[1:3])
        pos = self.pos_embed
        if pos is None:
            return x.flatten(1, 2)
        if hw != self.grid_size:
            # bicubic without antialias, as MAE's interpolate_pos_embed and our loader (timm's
            # _pos_embed antialiases)
            pos = resample_abs_pos_embed(
                pos, new_size=hw, old_size=self.grid_size, num_prefix_tokens=1, antialias=False)
        return x.flatten(1, 2) + pos[:, 1:]

    def embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> patch tokens (B, L, C) with their position embedding, no CLS yet (MAE's
        ``forward_encoder`` before the masking)."""
        self._check_grid(x)
        return self._add_pos_embed(self.patch_embed(x))

    def add_cls_token(self, x: torch.Tensor) -> torch.Tensor:
        cls = self.cls_token if self.pos_embed is None else self.cls_token + self.pos_embed[:, :1]
        cls = cls.expand(x.shape[0], -1, -1)
        return self.pos_drop(torch.cat([cls, x], dim=1))

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        """timm's step after ``patch_embed`` in ``forward_intermediates``."""
        return self.add_cls_token(self._add_pos_embed(x))

    def run_blocks(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            if self.grad_checkpointing and x.requires_grad:
                x = cp.checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        return x

    def forward_masked(self, x: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """Student: encode CLS + the visible patches ``ids_keep`` (K*B, L_vis) of K masks per
        image (patch embedding computed once per image); final norm applied."""
        x = self.embed_patches(x)
        if ids_keep.shape[0] != x.shape[0]:
            x = x.repeat(ids_keep.shape[0] // x.shape[0], 1, 1)
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return self.norm(self.run_blocks(self.add_cls_token(x)))

    def forward_target(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher: all tokens incl. CLS of the last block, without the final norm (official
        models_mae.py ``forward_teacher`` with its default ``tlayernorm=0``)."""
        return self.run_blocks(self.add_cls_token(self.embed_patches(x)))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Downstream: one output per ``out_indices`` entry, the last block's after the final
        norm and the others before it (mmpretrain's convention; timm norms all or none)."""
        hw = self._check_grid(x)
        if self.depth:
            final, outs = self.forward_intermediates(
                x, self.out_indices, return_prefix_tokens=True, output_fmt='NLC')
        else:  # the embeddings-only stage-1 teacher
            final, outs = self.norm(self._pos_embed(self.patch_embed(x))), [None]
        last = max(self.depth - 1, 0)
        outs = [(final[:, 1:], final[:, :1]) if i == last else out
                for i, out in zip(self.out_indices, outs)]
        return tuple(self._format_output(patches, cls, hw) for patches, cls in outs)

    def _format_output(self, patches, cls, hw):
        if self.out_type == 'raw':
            return torch.cat([cls, patches], dim=1)
        if self.out_type == 'cls_token':
            return cls[:, 0]
        if self.out_type == 'avg_featmap':
            return self.fc_norm(patches.mean(dim=1))
        return patches.reshape(patches.shape[0], *hw, -1).permute(0, 3, 1, 2).contiguous()

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
