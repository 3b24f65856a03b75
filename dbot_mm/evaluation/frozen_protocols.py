"""Frozen-feature protocols: weighted k-NN and a linear probe, in plain torch.

``knn_accuracy`` is DINO's weighted k-NN classifier (facebookresearch/dino ``eval_knn.py``,
``knn_classifier``): cosine similarity of L2-normalised features, the k most similar training
images vote with weight ``exp(sim / T)``. ``linear_probe_accuracy`` is a multinomial logistic
regression on standardised features solved full-batch with L-BFGS, its L2 penalty chosen on a
held-out part of the training set (the cheap stand-in for MAE's SGD linear probe at small scale).
Both run on the device of the features they are given. The features come from
``extract_features``, shared by ``tools/analysis_tools/eval_frozen_features.py`` and the
``KNNWatchHook`` of pretraining, so the two report the same protocol.
"""
import contextlib
from typing import Callable, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate


def feature_loader(dataset, batch_size: int, num_workers: int) -> torch.utils.data.DataLoader:
    """``dataset`` in order, as mmengine's test loaders collate it."""
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=pseudo_collate)


def vit_features(vit: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(B, D) float32: the mean of a ``DBotViT``'s last-block patch tokens after its final norm
    (MAE's global pool, without the fine-tuning ``fc_norm``). A teacher whose weights are stored in
    the AMP dtype (``DBOT(amp_teacher_weights)``) runs under autocast of that dtype."""
    dtype = vit.patch_embed.proj.weight.dtype
    amp = torch.autocast(images.device.type, dtype=dtype) if dtype != torch.float32 else None
    with amp or contextlib.nullcontext():
        tokens = vit.norm(vit.forward_target(images))
    return tokens[:, 1:].mean(dim=1).float()


@torch.no_grad()
def extract_features(loader,
                     preprocessor: torch.nn.Module,
                     vit: Optional[torch.nn.Module] = None,
                     log: Optional[Callable[[int, int], None]] = None):
    """Features (N, D) float32 on the preprocessor's device and labels (N,) of every image of
    ``loader`` (``preprocessor(data, training=False)``): :func:`vit_features` of ``vit`` in its
    current mode (the callers set eval), or the flattened normalised pixels without one;
    ``log(batches done, batches)`` after each batch."""
    feats, labels = [], []
    for i, data in enumerate(loader):
        data = preprocessor(data, training=False)
        x = data['inputs']
        feats.append(x.flatten(1).float() if vit is None else vit_features(vit, x))
        labels.append(torch.cat([s.gt_label for s in data['data_samples']]).cpu())
        if log is not None:
            log(i + 1, len(loader))
    return torch.cat(feats), torch.cat(labels)


def _check(train_feats, train_labels, val_feats, val_labels) -> None:
    pairs = (('train', train_feats, train_labels), ('val', val_feats, val_labels))
    for name, feats, labels in pairs:
        if feats.ndim != 2 or labels.ndim != 1 or feats.shape[0] != labels.shape[0]:
            raise ValueError(f'{name}: features must be (N, D) and labels (N,), got '
                             f'{tuple(feats.shape)} and {tuple(labels.shape)}')
        if feats.shape[0] == 0:
            raise ValueError(f'{name}: no samples')
    if train_feats.shape[1] != val_feats.shape[1]:
        raise ValueError(f'feature dims differ: train {train_feats.shape[1]}, '
                         f'val {val_feats.shape[1]}')


def _num_classes(num_classes, *labels) -> int:
    """``num_classes``, or 1 + the largest label; labels outside [0, num_classes) fail."""
    low, high = min(int(y.min()) for y in labels), max(int(y.max()) for y in labels)
    num_classes = num_classes or high + 1
    if low < 0 or high >= num_classes:
        raise ValueError(f'labels span [{low}, {high}], outside [0, num_classes={num_classes})')
    return num_classes


@torch.no_grad()
def knn_predict(train_feats: torch.Tensor,
                train_labels: torch.Tensor,
                val_feats: torch.Tensor,
                k: int = 20,
                temperature: float = 0.07,
                num_classes: Optional[int] = None,
                chunk: int = 1024) -> torch.Tensor:
    """Predicted class of each val row. Equal similarities rank the lower training index first
    and equal votes pick the lower class (DINO leaves both to ``topk`` / ``sort``)."""
    if not 1 <= k <= train_feats.shape[0]:
        raise ValueError(f'k={k} must be in [1, number of training samples '
                         f'{train_feats.shape[0]}]')
    num_classes = _num_classes(num_classes, train_labels)
    dtype = train_feats.dtype if train_feats.is_floating_point() else torch.float32
    train = F.normalize(train_feats.to(dtype), dim=1)
    labels = train_labels.long().to(train.device)
    preds = []
    for start in range(0, val_feats.shape[0], chunk):
        val = F.normalize(val_feats[start:start + chunk].to(train), dim=1)
        sim, idx = (val @ train.T).sort(dim=1, descending=True, stable=True)
        weights = (sim[:, :k] / temperature).exp()
        votes = torch.zeros(val.shape[0], num_classes, dtype=dtype, device=train.device)
        votes.scatter_add_(1, labels[idx[:, :k]], weights)
        preds.append(votes.argmax(dim=1))
    return torch.cat(preds)


def knn_accuracy(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 val_feats: torch.Tensor,
                 val_labels: torch.Tensor,
                 k: int = 20,
                 temperature: float = 0.07,
                 num_classes: Optional[int] = None,
                 chunk: int = 1024) -> float:
    """Top-1 (percent) of DINO's weighted k-NN classifier."""
    _check(train_feats, train_labels, val_feats, val_labels)
    num_classes = _num_classes(num_classes, train_labels, val_labels)
    pred = knn_predict(train_feats, train_labels, val_feats, k, temperature, num_classes, chunk)
    return 100. * (pred.cpu() == val_labels.long().cpu()).double().mean().item()


def _fit_logreg(x, y, num_classes, weight_decay, max_iter) -> torch.nn.Linear:
    """Minimise CE + wd * ||W||^2 / 2 (bias not penalised) from zero with L-BFGS."""
    linear = torch.nn.Linear(x.shape[1], num_classes, dtype=x.dtype, device=x.device)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(
        linear.parameters(),
        lr=1,
        max_iter=max_iter,
        history_size=20,
        line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(x), y) + weight_decay * linear.weight.square().sum() / 2
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return linear


def linear_probe_accuracy(train_feats: torch.Tensor,
                          train_labels: torch.Tensor,
                          val_feats: torch.Tensor,
                          val_labels: torch.Tensor,
                          weight_decays: Sequence[float] = (1e-5, 1e-4, 1e-3, 1e-2),
                          max_iter: int = 500,
                          holdout: float = 0.1,
                          seed: int = 0,
                          num_classes: Optional[int] = None,
                          dtype: torch.dtype = torch.float64) -> Dict[str, float]:
    """Val top-1 (percent) of a logistic regression on train-standardised features.

    The weight decay with the best accuracy (then lowest loss) on a seeded ``holdout`` fraction
    of train is refit on all of train. Returns ``dict(top1=..., weight_decay=...)``.
    """
    _check(train_feats, train_labels, val_feats, val_labels)
    if not weight_decays:
        raise ValueError('weight_decays is empty')
    num_classes = _num_classes(num_classes, train_labels, val_labels)
    x = train_feats.to(dtype)
    mean, std = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
    x = (x - mean) / std
    xv = (val_feats.to(x) - mean) / std
    y, yv = train_labels.long().to(x.device), val_labels.long().to(x.device)

    best = float(weight_decays[0])
    num_held = int(round(holdout * x.shape[0]))
    if len(weight_decays) > 1 and 0 < num_held < x.shape[0]:
        perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
        held, kept = perm[:num_held].to(x.device), perm[num_held:].to(x.device)
        scores = []
        for wd in weight_decays:
            with torch.no_grad():
                logits = _fit_logreg(x[kept], y[kept], num_classes, wd, max_iter)(x[held])
                acc = (logits.argmax(1) == y[held]).double().mean().item()
                scores.append((acc, -F.cross_entropy(logits, y[held]).item(), float(wd)))
        best = max(scores, key=lambda s: s[:2])[2]
    with torch.no_grad():
        pred = _fit_logreg(x, y, num_classes, best, max_iter)(xv).argmax(1)
    return dict(top1=100. * (pred == yv).double().mean().item(), weight_decay=best)
