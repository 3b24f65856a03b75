"""Properties of a ViT's representations: mean attention distance and singular-value percentage.

The paper's property analysis (models distilled from different targets behave alike) measures
both for every block. The definitions are those of the official ``analysis/analysis.py`` and its
model ``analysis/vision_transformer.py`` (github liuxingbin/dbot, branch ``main``):

- attention map (``vision_transformer.py: Attention.forward``): ``softmax(q k^T * head_dim^-0.5)``
  of each block and head, on the block's normed input ``norm1(x)``, all tokens incl. CLS, eval
  mode. DBotViT runs timm's fused SDPA, which never materialises the map, so
  :func:`attention_probs` recomputes it from the block's ``attn.qkv`` on exactly the input (and
  the relative position bias, where a model has one) that the block passed to ``attn``.
- mean attention distance (``analysis.py: compute_distance_matrix, compute_mean_attention_dist``):
  the CLS row and column are cut out of the map *without* renormalising the rows (attention paid
  to CLS is dropped); the distance of patches i and j is ``patch_size`` times the Euclidean
  distance of their (row, col) grid positions, i.e. in input pixels; per query patch
  ``sum_j a_ij d_ij``, averaged over the query patches: one number per block and head.
- singular-value percentage (``analysis.py: svd``; ``vision_transformer.py: forward`` with
  ``return_type='svd'``): the output of each block (residual stream, no final norm), patch tokens
  only (CLS excluded), each token L2-normalised over its channels; per image the singular values
  ``s`` of that (num_patches, C) matrix; ``sum(s[:k]) / sum(s)`` for k = 1..5.
- both are averaged over images; the images (``analysis.py: get_dataset``) are RGB, resized to 256
  on the short side (bicubic), centre-cropped to 224, normalised with ImageNet mean/std.

Deliberate differences:

- every image weighs the same. The official ``attention`` averages the maps of a batch, then the
  batch means, which differs only when the last batch is smaller; as the distance is linear in the
  map, the mean of per-image distances equals the distance of the mean map, so the maps are not
  kept (the official code saves them as ``*_attn.npy``).
- any patch size, input size, width and depth (official: ViT-B/16, 224, 12 blocks; its
  ``patch_size=16`` is hard-coded); the resize keeps the 256/224 ratio; a rectangular token grid
  (h, w) is row-major as the official ``(i // length, i % length)`` of a square one.
- images: any image files under a folder at any depth, optionally an evenly spaced subset
  (official: torchvision ``ImageFolder`` of ImageNet val).
- singular values by ``torch.linalg.svdvals`` on a batch, in float32 (official: numpy float32, one
  image at a time).
"""
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from timm.data.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torchvision import transforms

from dbot_mm.models.backbones.vit import ARCH_SETTINGS, DBotViT
from dbot_mm.models.utils.pretrained import (
    SOURCE_PREFIXES,
    key_prefixes,
    load_backbone_checkpoint,
    strip_prefix,
)
from dbot_mm.utils.checkpoint import CheckpointLoadError, extract_state_dict, load_checkpoint

NUM_K = 5  # top-k singular values, k = 1..5 (official analysis.py: svd)
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')


# ----------------------------------------------------------------------------------- the math
def patch_distance_matrix(grid: Tuple[int, int], patch_size: int) -> torch.Tensor:
    """(h*w, h*w) distances in pixels between the patches of a row-major (h, w) token grid."""
    h, w = grid
    rows = torch.arange(h, dtype=torch.float64).repeat_interleave(w)
    cols = torch.arange(w, dtype=torch.float64).repeat(h)
    coords = torch.stack([rows, cols], dim=-1)
    return patch_size * (coords[:, None] - coords[None]).pow(2).sum(-1).sqrt()


def mean_attention_distance(attn: torch.Tensor,
                            grid: Tuple[int, int],
                            patch_size: int,
                            num_prefix_tokens: int = 1) -> torch.Tensor:
    """Mean attention distance (pixels) of attention maps ``(..., N, N)`` -> ``(...)``.

    The prefix (CLS) rows and columns are removed without renormalising the rows, as the official
    ``compute_mean_attention_dist``.
    """
    a = attn[..., num_prefix_tokens:, num_prefix_tokens:]
    n = grid[0] * grid[1]
    if a.shape[-1] != n or a.shape[-2] != n:
        raise ValueError(f'attention over {a.shape[-1]} patch tokens does not fit the token '
                         f'grid {tuple(grid)} ({n} patches)')
    dist = patch_distance_matrix(grid, patch_size).to(device=a.device, dtype=a.dtype)
    # sum_ij a_ij d_ij / n: one contraction, no (..., N, N) product tensor.
    return torch.einsum('...ij,ij->...', a, dist) / n


def singular_value_percentage(tokens: torch.Tensor, num_k: int = NUM_K) -> torch.Tensor:
    """``sum(s[:k]) / sum(s)``, k = 1..num_k, of each L2-normalised token matrix ``(..., N, C)``
    -> ``(..., num_k)``. A matrix with fewer than k singular values gives 1 (numpy's ``s[:k]``)."""
    x = tokens.float()
    x = x / x.norm(dim=-1, keepdim=True)
    s = torch.linalg.svdvals(x)
    cum = s.cumsum(dim=-1)
    idx = torch.arange(num_k, device=s.device).clamp(max=s.shape[-1] - 1)
    return cum[..., idx] / cum[..., -1:]


def attention_probs(attn: nn.Module,
                    x: torch.Tensor,
                    attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The softmax attention map (B, heads, N, N) of a timm ``Attention`` on its input ``x``
    (the block's ``norm1`` output) with the additive / boolean ``attn_mask`` it was given."""
    B, N, _ = x.shape
    heads = attn.num_heads
    qkv = attn.qkv(x).reshape(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    q, k = attn.q_norm(q), attn.k_norm(k)
    logits = (q.float() * attn.scale) @ k.float().transpose(-2, -1)
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            logits = logits.masked_fill(~attn_mask, float('-inf'))
        else:
            logits = logits + attn_mask.float()
    return logits.softmax(dim=-1)


class RepresentationProbe:
    """Forward hooks on a :class:`DBotViT` that sum, over the images it sees, each block's mean
    attention distance per head and its singular-value percentages (see the module docstring).

    Use as a context manager around forwards of the model; :meth:`results` gives the averages.
    """

    def __init__(self, model: DBotViT, num_k: int = NUM_K):
        if not len(model.blocks):
            raise ValueError('the model has no transformer blocks: nothing to analyse')
        self.model = model
        self.num_k = num_k
        self.patch_size = model.patch_size
        self.num_prefix_tokens = 1  # CLS
        self._handles = []
        self.distance_sum = torch.zeros(len(model.blocks), model.num_heads, dtype=torch.float64)
        self.svd_sum = torch.zeros(len(model.blocks), num_k, dtype=torch.float64)
        self.num_images = 0
        self._grid = None

    def __enter__(self) -> 'RepresentationProbe':
        self._handles.append(self.model.patch_embed.register_forward_hook(self._on_patch_embed))
        for i, blk in enumerate(self.model.blocks):
            self._handles.append(
                blk.attn.register_forward_hook(self._attention_hook(i), with_kwargs=True))
            self._handles.append(blk.register_forward_hook(self._block_hook(i)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _on_patch_embed(self, module, args, output):
        # DBotViT's PatchEmbed is NHWC: (B, h, w, C) gives the token grid of this batch.
        self._grid = (output.shape[1], output.shape[2])
        self.num_images += output.shape[0]

    def _attention_hook(self, index: int):

        def hook(module, args, kwargs, output):
            x = args[0]
            mask = kwargs.get('attn_mask', args[1] if len(args) > 1 else None)
            probs = attention_probs(module, x, mask)
            dist = mean_attention_distance(probs, self._grid, self.patch_size,
                                           self.num_prefix_tokens)
            self.distance_sum[index] += dist.sum(0).double().cpu()

        return hook

    def _block_hook(self, index: int):

        def hook(module, args, output):
            pct = singular_value_percentage(output[:, self.num_prefix_tokens:], self.num_k)
            self.svd_sum[index] += pct.sum(0).double().cpu()

        return hook

    def results(self) -> Dict[str, object]:
        """``attention_distance`` (blocks, heads) in pixels, ``singular_value_percentage``
        (blocks, num_k), both averaged over ``num_images``; ``grid`` the token grid (h, w)."""
        if not self.num_images:
            raise ValueError('the probe has seen no images')
        return dict(
            attention_distance=(self.distance_sum / self.num_images).numpy(),
            singular_value_percentage=(self.svd_sum / self.num_images).numpy(),
            num_images=self.num_images,
            grid=tuple(self._grid))


@torch.no_grad()
def analyze_model(model: DBotViT,
                  data_loader,
                  device='cpu',
                  num_k: int = NUM_K,
                  progress=None) -> Dict[str, object]:
    """Run ``model`` over every batch of images of ``data_loader`` and return
    :meth:`RepresentationProbe.results`; ``progress.update(n)`` is called per batch of n."""
    model.eval().to(device)
    with RepresentationProbe(model, num_k) as probe:
        for images in data_loader:
            # the teacher forward: all tokens through every block, nothing masked
            model.forward_target(images.to(device, non_blocking=True))
            if progress is not None:
                progress.update(len(images))
    return probe.results()


# ----------------------------------------------------------------------------------- the images
def find_images(folder: str, num_images: Optional[int] = None) -> List[str]:
    """Image files under ``folder`` at any depth, sorted; ``num_images`` of them evenly spaced
    over the sorted list (so every class folder of an ImageNet-style tree is sampled)."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f"--data '{folder}' is not a folder")
    files = sorted(
        osp.join(root, name) for root, _, names in os.walk(folder, followlinks=True)
        for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under '{folder}'")
    if num_images is not None and num_images < len(files):
        if num_images < 1:
            raise ValueError(f'--num-images must be positive, got {num_images}')
        picks = np.linspace(0, len(files) - 1, num_images).round().astype(int)
        files = [files[i] for i in picks]
    return files


def eval_transform(img_size: Tuple[int, int]):
    """The official ``get_dataset`` transform, for any input size: bicubic resize of the short
    side to 256/224 of the crop, centre crop, ImageNet mean/std."""
    h, w = img_size
    return transforms.Compose([
        transforms.Resize(
            int(min(h, w) * 256 / 224), interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop((h, w)),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    ])


class ImageFiles(torch.utils.data.Dataset):
    """Images of a file list as normalised tensors (labels are not needed here; torchvision's
    ``ImageFolder`` would need exactly one level of class folders, each with images)."""

    def __init__(self, files: Sequence[str], img_size: Tuple[int, int]):
        self.files = list(files)
        self.transform = eval_transform(img_size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        path = self.files[index]
        try:
            with Image.open(path) as img:
                img = img.convert('RGB')
        except OSError as e:
            raise OSError(f"cannot read image '{path}': {e}") from e
        return self.transform(img)


# ----------------------------------------------------------------------------------- the model
def select_prefix(state: Dict[str, torch.Tensor], source: str, filename: str = '') -> str:
    """``'backbone.'`` / ``'teacher.'`` for the student / teacher of a dBOT checkpoint (or the
    backbone of any mmengine model), ``''`` for a bare backbone file (exported, official, timm)."""
    if source not in SOURCE_PREFIXES:
        raise ValueError(f'source must be one of {sorted(SOURCE_PREFIXES)}, got {source!r}')
    prefixes = key_prefixes(state)
    if SOURCE_PREFIXES[source] in prefixes:
        return SOURCE_PREFIXES[source]
    if source == 'student' and 'patch_embed.proj.weight' in state:
        return ''
    bare = ' and no bare patch_embed.proj.weight' if source == 'student' else ''
    raise CheckpointLoadError(
        f"checkpoint '{filename}' has no {source} ViT (no keys under "
        f"'{SOURCE_PREFIXES[source]}'{bare}); the prefixes in the file are {prefixes}")


def infer_vit_config(state: Dict[str, torch.Tensor],
                     arch: Optional[str] = None,
                     num_heads: Optional[int] = None,
                     filename: str = '') -> dict:
    """``DBotViT`` arguments for the bare ViT ``state`` (no prefix), from its shapes.

    The number of heads is not in the weights: ``num_heads`` if given, else the relative position
    bias table's, else ``arch``'s, else the standard arch of that width (tiny ... huge).
    """
    weight = state.get('patch_embed.proj.weight')
    if weight is None or weight.ndim != 4 or weight.shape[-1] != weight.shape[-2]:
        raise CheckpointLoadError(
            f"checkpoint '{filename}': no square-kernel patch_embed.proj.weight, not a ViT")
    if 'blocks.0.attn.q_bias' in state:
        raise CheckpointLoadError(
            f"checkpoint '{filename}' is a BEiT-style ViT (attn.q_bias / v_bias), which DBotViT "
            'does not implement')
    embed_dims, in_channels, patch_size = weight.shape[0], weight.shape[1], weight.shape[-1]
    blocks = {int(m.group(1)) for m in map(re.compile(r'^blocks\.(\d+)\.').match, state) if m}
    depth = max(blocks) + 1 if blocks else 0
    if not depth:
        raise CheckpointLoadError(
            f"checkpoint '{filename}' has no transformer blocks (a depth-0 stage-1 teacher?): "
            'nothing to analyse')
    fc1 = state.get('blocks.0.mlp.fc1.weight')
    table = state.get('blocks.0.rel_pos_bias.relative_position_bias_table')
    cfg = dict(
        embed_dims=embed_dims,
        depth=depth,
        patch_size=patch_size,
        in_channels=in_channels,
        mlp_ratio=fc1.shape[0] / embed_dims if fc1 is not None else 4.,
        qkv_bias='blocks.0.attn.qkv.bias' in state,
        layer_scale_init_value=1e-5 if 'blocks.0.ls1.gamma' in state else 0.,
        use_rel_pos_bias=table is not None)
    if arch is not None:
        if arch not in ARCH_SETTINGS:
            raise ValueError(f'unknown arch {arch!r}, expected one of {list(ARCH_SETTINGS)}')
        dims, arch_depth, heads = ARCH_SETTINGS[arch]
        if (dims, arch_depth) != (embed_dims, depth):
            raise CheckpointLoadError(
                f"--arch {arch} ({dims} wide, {arch_depth} blocks) does not fit checkpoint "
                f"'{filename}' ({embed_dims} wide, {depth} blocks)")
    elif table is not None:
        heads = table.shape[1]
    else:
        by_width = {dims: h for dims, _, h in ARCH_SETTINGS.values()}
        heads = by_width.get(embed_dims)
    heads = num_heads or heads
    if not heads:
        raise CheckpointLoadError(
            f"checkpoint '{filename}': cannot infer the number of heads of a {embed_dims}-wide "
            'ViT (not a standard arch): pass --num-heads')
    if embed_dims % heads:
        raise CheckpointLoadError(
            f"checkpoint '{filename}': width {embed_dims} is not divisible by {heads} heads")
    cfg['num_heads'] = heads
    return cfg


def load_vit(checkpoint: str,
             source: str = 'student',
             img_size=(224, 224),
             arch: Optional[str] = None,
             num_heads: Optional[int] = None,
             logger='current') -> Tuple[DBotViT, dict]:
    """A ``DBotViT`` for ``img_size`` (h, w) with the weights of the ``source`` ViT of
    ``checkpoint``, loaded by :func:`load_backbone_checkpoint` (strict; ``pos_embed`` resized to
    the token grid). Returns the model and its description (prefix, arch arguments)."""
    state = extract_state_dict(load_checkpoint(checkpoint), checkpoint)
    prefix = select_prefix(state, source, checkpoint)
    cfg = infer_vit_config(strip_prefix(state, prefix), arch, num_heads, checkpoint)
    del state
    h, w = img_size
    if h % cfg['patch_size'] or w % cfg['patch_size']:
        raise ValueError(f"--img-size {h}x{w} is not a multiple of the patch size "
                         f"{cfg['patch_size']} of '{checkpoint}'")
    model = DBotViT(img_size=(h, w), out_type='raw', **cfg)
    load_backbone_checkpoint(model, checkpoint, prefix=prefix, logger=logger)
    return model, dict(prefix=prefix, source=source, **cfg)
