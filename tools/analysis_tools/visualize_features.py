"""Pictures of what dBOT learned: per image and checkpoint, the first three principal components of
the patch features as RGB (as in the DINO / DINOv2 figures) and the last block's CLS attention.

    python tools/analysis_tools/visualize_features.py work_dirs/dbot/dbot_stage*_epoch_*.pth \
        --images a.jpg b.jpg --out work_dirs/features [--device cuda]

One PNG per image, a row per checkpoint (a dBOT or dBOT-CLIP pretraining checkpoint), columns:
the image (short edge resized to the model's input, centre crop); the teacher's target (DBOT: its
last block's tokens normalised per token, as the loss sees them; DBOTCLIP: CLIP's tokens); the
student's prediction at the masked patches (decoder / lm_head output on the target's components
and scale, so matching colours are a good prediction; visible patches grey; the same seeded mask
for every checkpoint); the student encoder's tokens on the whole image (its own components); the
CLS token's attention in the student's last block, mean over heads (computed from q and k: timm's
fused attention returns no weights). Components are fitted per image on its patch tokens (centred
SVD, first three, each scaled to [0, 1] by its min and max, sign: the largest loading positive).
The model is built from --config, else the config text in each checkpoint's meta or its run
record (read as literals, never run).
"""
import argparse
import os
import os.path as osp

import matplotlib
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import track_iter_progress
from mmpretrain.registry import MODELS
from PIL import Image

from dbot_mm.apis import checkpoint_config
from dbot_mm.models.heads.dbot_head import normalize_target
from dbot_mm.models.selfsup.dbot import random_masking
from dbot_mm.utils.checkpoint import (
    CheckpointLoadError,
    exit_on_checkpoint_errors,
    extract_state_dict,
    load_checkpoint,
)

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ('image', 'teacher target', 'student prediction\n(masked patches)', 'student encoder',
           'CLS attention\n(last block)')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoints', nargs='+', help='dBOT pretraining checkpoints (rows)')
    parser.add_argument('--images', nargs='+', required=True, help='image files')
    parser.add_argument('--out', required=True, help='folder for one PNG per image')
    parser.add_argument('--config', help='config of checkpoints without one in their meta')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--mask-seed', type=int, default=0, help='seed of the student mask')
    return parser.parse_args(argv)


def pca_rgb(feats: torch.Tensor, fit: torch.Tensor = None) -> torch.Tensor:
    """(L, C) tokens -> (L, 3) in [0, 1]: the first three principal components of the centred
    ``fit`` tokens (default: ``feats``), each min-max scaled over ``fit``, applied to ``feats``."""
    fit = feats if fit is None else fit
    fit, feats = fit.double(), feats.double()
    mean = fit.mean(0)
    comps = torch.linalg.svd(fit - mean, full_matrices=False)[2][:3]
    comps = comps * comps.gather(1, comps.abs().argmax(1, keepdim=True)).sign()
    ref = (fit - mean) @ comps.T
    lo, hi = ref.min(0).values, ref.max(0).values
    rgb = ((feats - mean) @ comps.T - lo) / (hi - lo).clamp_min(1e-12)
    return torch.nn.functional.pad(rgb.clamp(0, 1), (0, 3 - rgb.shape[1])).float()


def attention_weights(vit, x: torch.Tensor) -> torch.Tensor:
    """Softmax attention (B, heads, N, N) of ``vit``'s last block on images ``x``, from its q, k
    (+ relative position bias), as timm's fused ``Attention`` computes it."""
    tokens = vit.add_cls_token(vit.embed_patches(x))
    for blk in vit.blocks[:-1]:
        tokens = blk(tokens)
    blk = vit.blocks[-1]
    attn = blk.attn
    B, N, _ = tokens.shape
    qkv = attn.qkv(blk.norm1(tokens)).reshape(B, N, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    logits = attn.q_norm(qkv[0]) @ attn.k_norm(qkv[1]).transpose(-2, -1) * attn.scale
    if blk.rel_pos_bias is not None:
        logits = logits + blk.rel_pos_bias(N)
    return logits.softmax(-1)


def build_model(checkpoint: str, config: str = None, device: str = 'cpu'):
    """The pretraining model of ``checkpoint`` with all its weights (strict), in eval mode."""
    ckpt = load_checkpoint(checkpoint)
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    cfg = Config.fromfile(config) if config else checkpoint_config(checkpoint, meta)
    if cfg is None or cfg.get('model', {}).get('type') not in ('DBOT', 'DBOTCLIP'):
        raise CheckpointLoadError(
            f"checkpoint '{checkpoint}': no DBOT / DBOTCLIP config in its meta or run record; "
            'pass --config')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    state = extract_state_dict(ckpt, checkpoint)
    if hasattr(model, 'rebuild_teacher_as_student') and any(
            k.startswith('teacher.') and k not in model.state_dict() for k in state):
        model.rebuild_teacher_as_student()  # a ViT-L/H teacher after stage 1, as a resume does
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointLoadError(f"checkpoint '{checkpoint}' does not fit its config's "
                                  f'{cfg.model.type}: missing {missing[:6]}, unused '
                                  f'{unexpected[:6]}')
    stage, epoch = meta.get('dbot_stage'), meta.get('epoch')
    label = f'stage {stage}, epoch {epoch}' if stage else osp.basename(checkpoint)
    return model.to(device).eval(), label


def load_image(path: str, size: int) -> np.ndarray:
    img = Image.open(path).convert('RGB')
    scale = size / min(img.size)
    img = img.resize([max(size, round(s * scale)) for s in img.size], Image.BICUBIC)
    left, top = (img.size[0] - size) // 2, (img.size[1] - size) // 2
    return np.array(img.crop((left, top, left + size, top + size)))


@torch.no_grad()
def feature_maps(model, rgb: np.ndarray, mask_seed: int = 0) -> list:
    """The four (h, w, 3) / (h, w) maps of one image, as in the module docstring."""
    vit, prep = model.backbone, model.data_preprocessor
    device = prep.mean.device
    x = (torch.from_numpy(rgb).permute(2, 0, 1).float().to(device) - prep.mean) / prep.std
    x = x[None]
    h, w = vit.patch_embed.dynamic_feat_size(x.shape[-2:])
    with torch.random.fork_rng(devices=[device] if device.type == 'cuda' else []):
        torch.manual_seed(mask_seed)
        ids_keep, ids_restore, mask = random_masking(1, h * w, getattr(model, 'mask_ratio', 0.4),
                                                     device)
    if hasattr(model, 'lm_head'):  # DBOTCLIP: cosine loss, directions compared
        target = torch.nn.functional.normalize(model.teacher(x)[0, 1:].float(), dim=-1)
        pred = model.lm_head(model.forward_masked(x, mask.bool())[0, 1:])
        pred = torch.nn.functional.normalize(pred, dim=-1)
    else:
        target = normalize_target(model.compute_target(x))[0, 1:]
        pred = model.neck(vit.forward_masked(x, ids_keep), ids_restore)[0, 1:]
    masked = mask[0].bool()
    prediction = pca_rgb(pred, fit=target)
    prediction[~masked] = 0.5
    encoder = vit.norm(vit.forward_target(x))[0, 1:]
    cls_attn = attention_weights(vit, x)[0, :, 0, 1:].mean(0)
    maps = [pca_rgb(target), prediction, pca_rgb(encoder), cls_attn / cls_attn.max()]
    return [m.reshape(h, w, -1).squeeze(-1).cpu().numpy() for m in maps]


def draw(rows, labels, title: str, path: str) -> None:
    fig, axes = plt.subplots(
        len(rows), len(COLUMNS), figsize=(2 * len(COLUMNS), 2 * len(rows) + .4), squeeze=False)
    for r, (row, label) in enumerate(zip(rows, labels)):
        for c, panel in enumerate(row):
            ax = axes[r, c]
            ax.imshow(panel, cmap='inferno' if panel.ndim == 2 else None, interpolation='nearest')
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(COLUMNS[c], fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    with exit_on_checkpoint_errors(ValueError):
        models = [build_model(c, args.config, args.device) for c in args.checkpoints]
        os.makedirs(args.out, exist_ok=True)
        written = []
        for i, image in enumerate(track_iter_progress(args.images)):
            rows = []
            for model, _ in models:
                rgb = load_image(image, model.backbone.patch_embed.img_size[0])
                rows.append([rgb] + feature_maps(model, rgb, args.mask_seed))
            stem = osp.splitext(osp.basename(image))[0]
            path = osp.join(args.out, f'{stem}.png' if len(args.images) == 1 else f'{i}_{stem}.png')
            title = osp.join(osp.basename(osp.dirname(osp.abspath(image))), osp.basename(image))
            draw(rows, [label for _, label in models], title, path)
            written.append(path)
    print(f'wrote {len(written)} figure(s) to {args.out}')
    return written


if __name__ == '__main__':
    main()
