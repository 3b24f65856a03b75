"""The dBOT loss against an independent numpy computation written from the official
models_mae.py (forward_loss, --norm_feature_loss: unbiased variance, SmoothL1 beta 2, masked
patches + CLS)."""
import numpy as np
import torch

from dbot_mm.models import DBotHead


def reference_loss(pred, target, mask, beta=2.0, eps=1e-6):
    """Loop-level reference: per-token normalised target (unbiased var), SmoothL1(beta) mean over
    channels, averaged over CLS + masked patches."""
    pred, target, mask = (np.asarray(a, dtype=np.float64) for a in (pred, target, mask))
    total, count = 0.0, 0
    for b in range(pred.shape[0]):
        for n in range(pred.shape[1]):
            weight = 1.0 if n == 0 else mask[b, n - 1]
            if weight == 0:
                continue
            t = target[b, n]
            t = (t - t.mean()) / np.sqrt(t.var(ddof=1) + eps)
            d = np.abs(pred[b, n] - t)
            per_channel = np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta)
            total += per_channel.mean()
            count += 1
    return total / count


def _inputs(B=3, L=8, C=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    pred = torch.randn(B, L + 1, C, generator=g) * 3
    target = torch.randn(B, L + 1, C, generator=g) * 5 + 2
    mask = torch.zeros(B, L)
    for b in range(B):
        mask[b, torch.randperm(L, generator=g)[:6]] = 1
    return pred, target, mask


def test_loss_equals_reference():
    pred, target, mask = _inputs()
    loss = DBotHead(beta=2.0).loss(pred, target, mask)
    np.testing.assert_allclose(loss.item(), reference_loss(pred, target, mask), rtol=1e-5)


def test_loss_uses_unbiased_variance():
    pred, target, mask = _inputs(C=4)  # few channels: biased and unbiased differ a lot
    loss = DBotHead().loss(pred, target, mask).item()
    biased = target.var(-1, unbiased=False, keepdim=True)
    t_biased = (target - target.mean(-1, keepdim=True)) / (biased + 1e-6).sqrt()
    wrong = torch.nn.functional.smooth_l1_loss(pred, t_biased, reduction='none', beta=2.)
    wrong = (wrong.mean(-1) * torch.cat([torch.ones(3, 1), mask], 1)).sum() / (mask.sum() + 3)
    assert abs(loss - wrong.item()) > 1e-3
    np.testing.assert_allclose(loss, reference_loss(pred, target, mask), rtol=1e-5)


def test_cls_counts_and_visible_patches_do_not():
    pred, target, mask = _inputs()
    head = DBotHead()
    base = head.loss(pred, target, mask)
    visible = pred.clone()
    visible[:, 1:][mask == 0] += 10.
    assert torch.allclose(head.loss(visible, target, mask), base)
    cls = pred.clone()
    cls[:, 0] += 10.
    assert head.loss(cls, target, mask) > base + 0.1


def test_target_normalised_in_fp32():
    pred, target, mask = _inputs()
    loss16 = DBotHead().loss(pred.bfloat16(), target.bfloat16(), mask)
    assert loss16.dtype == torch.float32


def test_two_masks_average_of_single_mask_losses():
    pred, target, mask = _inputs(B=2)
    pred2, _, mask2 = _inputs(B=2, seed=1)
    head = DBotHead()
    both = head.loss(torch.cat([pred, pred2]), target, torch.cat([mask, mask2]))
    single = (head.loss(pred, target, mask) + head.loss(pred2, target, mask2)) / 2
    assert torch.allclose(both, single, atol=1e-6)
