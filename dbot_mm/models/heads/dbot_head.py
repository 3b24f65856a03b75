"""dBOT's loss: SmoothL1 to the per-token normalised teacher features, on masked patches + CLS."""
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


def normalize_target(target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-token normalisation over channels without affine, in fp32, unbiased variance."""
    target = target.float()
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, unbiased=True, keepdim=True)
    return (target - mean) / (var + eps)**.5


@MODELS.register_module()
class DBotHead(BaseModule):
    """Loss of dBOT (official models_mae.py: forward_loss, with --norm_feature_loss).

    Args:
        beta: SmoothL1 beta (2.0 in the official code).
        eps: added to the variance of the target normalisation.
    """

    def __init__(self, beta: float = 2.0, eps: float = 1e-6, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.beta = beta
        self.eps = eps

    def loss(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """pred (K*B, 1+L, C) for K masks of each image, target (B, 1+L, C) raw teacher tokens,
        mask (K*B, L) with 1 = masked. Returns the mean over the K masks."""
        target = normalize_target(target, self.eps)
        # rows of pred are mask-major (k * B + b): broadcast the target over the K masks (a view,
        # not a copy of the target K times)
        pred = pred.float().unflatten(0, (-1, target.shape[0]))
        loss = F.smooth_l1_loss(pred, target.expand_as(pred), reduction='none', beta=self.beta)
        loss = loss.mean(-1).flatten(0, 1)
        weight = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        return (loss * weight).sum() / weight.sum()
