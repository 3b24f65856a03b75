"""Optimizer step time with one param group per parameter (mmengine's default constructor with a
``paramwise_cfg``) against one group per setting (``MergedGroupsOptimWrapperConstructor``), for
the trainable parameters of a config's model, side by side in one run.

Each round times ``--steps`` ``optimizer.step()`` calls of both optimizers in turn (order
alternating between rounds, gradients of ones, on ``--device``); ms/step is the median round, the
ratio the median of the per-round ratios. ``--overhead-only`` gives every parameter 8 elements
(same count, same groups): what is left is the per-group and per-tensor cost of the optimizer's
Python and kernel launches, the part a GPU does not hide when a step's arithmetic is short.

    python tools/analysis_tools/benchmark_optimizer.py configs/pretrain/dbot_vit-b.py
    python tools/analysis_tools/benchmark_optimizer.py CONFIG --overhead-only --device cuda
"""
import argparse
import copy
import statistics
import time

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

import dbot_mm  # noqa: F401  (registers the models and constructors)

CONSTRUCTORS = ('DefaultOptimWrapperConstructor', 'MergedGroupsOptimWrapperConstructor')


def build_optimizers(cfg, device, overhead_only: bool):
    """One optimizer per constructor over the same trainable parameters (a copy each)."""
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(cfg.model)
    out = []
    for constructor in CONSTRUCTORS:
        optim_cfg = copy.deepcopy(cfg.optim_wrapper)
        optim_cfg.update(type='OptimWrapper', constructor=constructor)
        optim_cfg.pop('loss_scale', None)
        optimizer = build_optim_wrapper(model, optim_cfg).optimizer
        for group in optimizer.param_groups:  # the same grouping over fresh tensors
            group['params'] = [
                torch.nn.Parameter(torch.zeros(8 if overhead_only else p.numel(), device=device))
                for p in group['params']
            ]
            for p in group['params']:
                p.grad = torch.ones_like(p)
        optimizer.state.clear()
        out.append(optimizer)
    return out


def time_steps(optimizer, steps: int, device) -> float:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='a config whose optim_wrapper has a paramwise_cfg')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--overhead-only', action='store_true', help='8-element parameters')
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error('--steps and --repeats must be >= 1')
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        parser.error(f'--device {args.device}: CUDA is not available')
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if not cfg.optim_wrapper.get('paramwise_cfg'):
        parser.error(f'{args.config}: optim_wrapper has no paramwise_cfg (one group anyway)')
    optimizers = build_optimizers(cfg, device, args.overhead_only)
    for opt in optimizers:  # untimed: the optimizer state is created
        time_steps(opt, 1, device)
    rounds = [[] for _ in optimizers]
    for r in range(args.repeats):
        for k in (range(2) if r % 2 == 0 else (1, 0)):
            rounds[k].append(time_steps(optimizers[k], args.steps, device))
    ratio = statistics.median(a / b for a, b in zip(*rounds))
    numel = sum(p.numel() for g in optimizers[0].param_groups for p in g['params'])
    print(f"{args.config}: {type(optimizers[0]).__name__}, "
          f"{sum(len(g['params']) for g in optimizers[0].param_groups)} parameter tensors, "
          f"{numel / 1e6:.2f} M elements{' (overhead only)' if args.overhead_only else ''}, "
          f'{args.device}')
    results = []
    for name, opt, times in zip(CONSTRUCTORS, optimizers, rounds):
        ms = 1e3 * statistics.median(times)
        results.append(dict(constructor=name, groups=len(opt.param_groups), ms_per_step=ms))
        print(f'  {name}: {len(opt.param_groups)} groups, {ms:.2f} ms/step')
    print(f'  per-parameter / merged step time: {ratio:.2f}x')
    return dict(results=results, ratio=ratio)


if __name__ == '__main__':
    main()
