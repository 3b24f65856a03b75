"""CLIP image encoder as a frozen distillation teacher (official ``beit`` branch,
tokenizer/clip_encoder.py with ``--post_patch_norm True``): every token, CLS included, after
``ln_post`` and the projection ``proj``.

The network is mmpretrain's CLIP ``VisionTransformer`` (the one its MILAN target uses, OpenAI key
names); this module only reads a local OpenAI checkpoint (JIT archive or state dict, or the output
of tools/model_converters/clip_to_dbot_mm.py), infers the architecture from its shapes, and maps
the student's normalised input to CLIP's. Nothing is downloaded.

Precision: the weights are held in fp32 (an exact copy of OpenAI's fp16 values). The official
``clip.load`` converts them to fp16 on a GPU (clip/model.py ``convert_weights``: conv, Linear,
attention, ``proj``; LayerNorm and the embeddings stay fp32) and runs the teacher under autocast.
Under ``AmpOptimWrapper``'s autocast ours runs the same ops in the same dtypes on the same values
(fp16 matmuls and residual stream, fp32 LayerNorm); fp32 storage costs 2x the teacher's memory
(0.6 GB more for CLIP-L/14) and lets fp32 runs (CPU, tests) use it unchanged.
"""
import os
import zipfile
from typing import Dict, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.utils.clip_generator_helper import VisionTransformer
from mmpretrain.registry import MODELS

# OpenAI CLIP preprocessing (clip/clip.py _transform), on RGB in [0, 1]
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_WHERE = ('OpenAI CLIP weights (ViT-B-16.pt, ViT-L-14.pt) come from the URLs in openai/CLIP '
          'clip/clip.py _MODELS; download them beforehand, nothing is fetched at run time')


def _is_jit_archive(path: str) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith('constants.pkl') for n in zf.namelist())


def load_clip_visual_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """The image encoder's weights (OpenAI names without ``visual.``, fp32) of a local CLIP file:
    the OpenAI JIT archive, its state dict, or a converted file of visual keys only."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'CLIPTeacher: no CLIP checkpoint at {path!r}; {_WHERE}')
    if _is_jit_archive(path):
        state = torch.jit.load(path, map_location='cpu').state_dict()
    else:
        state = torch.load(path, map_location='cpu', weights_only=True)
        if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
            state = state['state_dict']
    if not isinstance(state, dict):
        raise ValueError(f'CLIPTeacher: {path!r} holds a {type(state).__name__}, not a state dict')
    if any(k.startswith('visual.') for k in state):
        state = {k[len('visual.'):]: v for k, v in state.items() if k.startswith('visual.')}
    if 'proj' not in state or 'conv1.weight' not in state:
        raise ValueError(f"CLIPTeacher: {path!r} has no CLIP ViT image encoder ('visual.proj', "
                         f"'visual.conv1.weight'); keys start with {sorted(state)[:3]}")
    return {k: v.float() for k, v in state.items()}


def interpolate_pos_encoding(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """(1 + N*N, C) CLIP position embedding -> (1 + grid*grid, C), as the official beit branch's
    clip/model.py ``interpolate_pos_encoding`` does at every forward: bicubic with the scale factor
    (grid + 0.1) / N (DINO's offset), which sets where the samples fall, not only the size."""
    n = round((pos.shape[0] - 1)**0.5)
    if grid == n:
        return pos
    scale = (grid + 0.1) / n
    patch = F.interpolate(
        pos[1:].reshape(1, n, n, -1).permute(0, 3, 1, 2),
        scale_factor=(scale, scale),
        mode='bicubic')
    return torch.cat([pos[:1], patch.permute(0, 2, 3, 1).reshape(grid * grid, -1)])


def build_clip_visual(width: int, layers: int, patch_size: int, grid: int,
                      output_dim: int) -> VisionTransformer:
    """mmpretrain's CLIP ViT with OpenAI's head count (width // 64, clip/model.py)."""
    return VisionTransformer(
        input_resolution=grid * patch_size,
        patch_size=patch_size,
        width=width,
        layers=layers,
        heads=width // 64,
        output_dim=output_dim)


@MODELS.register_module()
class CLIPTeacher(nn.Module):
    """Frozen CLIP image encoder giving (B, 1 + L, output_dim) target tokens.

    Args:
        checkpoint: local OpenAI CLIP file (required; see :func:`load_clip_visual_state_dict`).
        input_size: the teacher's input side (official ``--second_input_size``: 196 for
            CLIP-L/14 under a /16 student at 224); None = the student's input size. The position
            embedding is resized once to the resulting grid (:func:`interpolate_pos_encoding`;
            the official code does it at every forward, the same result for frozen weights).
        input_mean, input_std: the normalisation of the tensors it receives (the self-supervisor's
            data preprocessor, 0-255 scale); they are undone before CLIP's own normalisation.
    """

    def __init__(self,
                 checkpoint: str,
                 input_size: Optional[int] = None,
                 input_mean: Sequence[float] = (123.675, 116.28, 103.53),
                 input_std: Sequence[float] = (58.395, 57.12, 57.375)):
        super().__init__()
        state = load_clip_visual_state_dict(checkpoint)
        width, _, patch, _ = state['conv1.weight'].shape
        layers = len({k.split('.')[2] for k in state if k.startswith('transformer.resblocks.')})
        grid = round((state['positional_embedding'].shape[0] - 1)**0.5)
        self.patch_size = patch
        self.input_size = input_size
        self.embed_dims = state['proj'].shape[1]
        new_grid = input_size // patch if input_size else grid
        state['positional_embedding'] = interpolate_pos_encoding(state['positional_embedding'],
                                                                 new_grid)
        self.visual = build_clip_visual(width, layers, patch, new_grid, self.embed_dims)
        self.visual.load_state_dict(state, strict=True)
        self.requires_grad_(False)
        self.eval()
        self.register_buffer(
            'in_mean', torch.tensor(input_mean).view(1, 3, 1, 1) / 255, persistent=False)
        self.register_buffer(
            'in_std', torch.tensor(input_std).view(1, 3, 1, 1) / 255, persistent=False)
        self.register_buffer(
            'clip_mean', torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('clip_std', torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> 'CLIPTeacher':
        return super().train(False)  # frozen: always eval

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Student input -> RGB in [0, 1] (resized to ``input_size``) -> CLIP normalisation."""
        x = x * self.in_std + self.in_mean
        if self.input_size and x.shape[-1] != self.input_size:
            x = F.interpolate(
                x, size=(self.input_size, self.input_size), mode='bicubic',
                align_corners=False).clamp(0, 1)
        return (x - self.clip_mean) / self.clip_std

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens, _ = self.visual(self.preprocess(x))
        return tokens
