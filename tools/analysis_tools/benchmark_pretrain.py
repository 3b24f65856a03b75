# Copyright (c) dbot_mm contributors. All rights reserved.
"""Training-step speed, peak memory and MFU of dBOT against mmpretrain's MAE, in one run.

dBOT is ``--config`` resized to ``--arch`` (teacher as deep as the student: ViT-B stage 1, every
later stage); MAE is mmpretrain's own MAE config with the same encoder (pixel target).
A step is ``model.train_step`` as mmengine's loop runs it (preprocessor, loss, backward, AdamW,
zero_grad; no grad clip), both under the same autocast in bf16/fp16 (on CPU dbot_mm's
``AutocastOptimWrapper``: mmengine's ``AmpOptimWrapper`` refuses the CPU). Timing: ``--warmup``
steps, then ``--repeats`` rounds of ``--steps`` steps of every model in turn, the order alternating,
so machine noise hits both alike; img/s from the median round, the dBOT/MAE ratio is the median
of the per-round ratios. MFU = FLOPs of a step (``FlopCounterMode``, fwd + bwd, teacher included)
/ step time / ``--peak-tflops`` (looked up for known GPUs in bf16/fp16). See docs/performance.md.
"""
import argparse
import copy
import gc
import itertools
import json
import math
import os
import os.path as osp
import statistics
import sys
import time

import mmpretrain.models  # registers MAE, MAEViT, ...
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from dbot_mm.models.backbones.vit import ARCH_SETTINGS  # importing dbot_mm registers DBOT, ...

DBOT_CONFIG = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'pretrain', 'dbot_vit-b.py')
MAE_CONFIG = osp.join('.mim', 'configs', '_base_', 'models', 'mae_vit-base-p16.py')  # in mmpretrain
# dense bf16/fp16 tensor-core peak (TFLOP/s, no sparsity) from the vendors' data sheets
GPU_PEAK_TFLOPS = [('H200', 989.4), ('H100 PCIe', 756.0), ('H100', 989.4), ('A100', 312.0),
                   ('L40S', 362.1), ('A6000', 154.8), ('V100', 125.0)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default=osp.normpath(DBOT_CONFIG), help='dBOT pretraining config')
    p.add_argument('--arch', default='base', choices=list(ARCH_SETTINGS))
    p.add_argument('--patch-size', type=int, default=16)
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--batch', type=int, default=8, help='images per step')
    p.add_argument('--num-masks', type=int, nargs='+', default=[1], help='a dBOT row each')
    p.add_argument('--teacher-depth', type=int, help='dBOT teacher depth (default: the student)')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'])
    p.add_argument('--teacher-weights', default='amp', choices=['amp', 'fp32', 'both'],
                   help="bf16/fp16: dBOT's teacher weights in the autocast dtype (amp), fp32, both")
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--warmup', type=int, default=2, help='untimed steps per model')
    p.add_argument('--steps', type=int, default=5, help='timed steps per model and round')
    p.add_argument('--repeats', type=int, default=3, help='rounds, models interleaved')
    p.add_argument('--memory', default=True, action=argparse.BooleanOptionalAction)
    p.add_argument('--threads', type=int, help='torch.set_num_threads (CPU)')
    p.add_argument('--peak-tflops', type=float, help='device peak in --precision, for the MFU')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=None, help='also write the results (.json or .md)')
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device available')
    if args.precision == 'fp16' and args.device != 'cuda':
        p.error('--precision fp16 needs --device cuda (use bf16 on CPU)')
    if args.precision == 'fp32' and args.teacher_weights != 'amp':
        p.error('--teacher-weights only applies to --precision bf16/fp16')
    if min(args.num_masks + [args.steps, args.repeats]) < 1:
        p.error('--num-masks, --steps and --repeats must be >= 1')
    if args.peak_tflops is None and args.device == 'cuda' and args.precision != 'fp32':
        name = torch.cuda.get_device_name()
        args.peak_tflops = next((v for k, v in GPU_PEAK_TFLOPS if k in name), None)
    return args


def dbot_config(base: dict, args, num_masks: int, amp_teacher_weights: bool) -> dict:
    model, depth = copy.deepcopy(base), args.teacher_depth
    size = dict(arch=args.arch, img_size=args.img_size, patch_size=args.patch_size)
    model['backbone'].update(size)
    model['teacher'].update(size, depth=ARCH_SETTINGS[args.arch][1] if depth is None else depth)
    model.update(num_masks=num_masks, amp_teacher_weights=amp_teacher_weights)
    return model


def mae_config(dbot: dict, args) -> dict:
    """mmpretrain's own MAE model config (decoder 512/8/16 as dBOT's) with dBOT's encoder."""
    model = Config.fromfile(osp.join(osp.dirname(mmpretrain.__file__), MAE_CONFIG)).model.to_dict()
    dims, depth, heads = ARCH_SETTINGS[args.arch]
    p = args.patch_size
    model['backbone'].update(img_size=args.img_size, patch_size=p, arch=dict(
        embed_dims=dims, num_layers=depth, num_heads=heads, feedforward_channels=4 * dims))
    model['neck'].update(embed_dim=dims, patch_size=p, num_patches=math.ceil(args.img_size / p)**2)
    model['head'].update(patch_size=p)
    return dict(model, data_preprocessor=dbot['data_preprocessor'])  # MAE's has the same values


class Bench:
    """One model under test; ``setup`` builds model, AdamW and batch afresh and warms them up."""

    def __init__(self, label: str, cfg: dict, num_masks: int = 1):
        self.label, self.cfg, self.num_masks = label, cfg, num_masks
        self.times, self.peak, self.gflop, self.loss = [], None, None, None

    def setup(self, args, steps: int = 0):
        torch.manual_seed(args.seed)
        self.model = MODELS.build(copy.deepcopy(self.cfg))
        self.model.init_weights()  # as the Runner does (dBOT: stage-1 teacher <- student init)
        self.model.to(args.device).train()
        dtype = {'bf16': 'bfloat16', 'fp16': 'float16'}.get(args.precision)
        wrapper = (dict(type='OptimWrapper') if dtype is None else dict(
            type='AmpOptimWrapper' if args.device == 'cuda' else 'AutocastOptimWrapper',
            dtype=dtype))
        self.optim_wrapper = build_optim_wrapper(self.model, dict(wrapper, optimizer=dict(
            type='AdamW', lr=1.5e-4 * args.batch / 256, betas=(0.9, 0.95), weight_decay=0.05)))
        imgs = torch.randint(0, 256, (args.batch, 3, args.img_size, args.img_size),
                             generator=torch.Generator().manual_seed(1234), dtype=torch.uint8)
        self.data = dict(inputs=imgs.to(args.device),
                         data_samples=[DataSample() for _ in range(args.batch)])
        if steps:
            self.run(steps, args.device)

    def run(self, steps: int, device: str) -> float:
        """Mean wall time of ``steps`` training steps."""
        sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
        sync()
        start = time.perf_counter()
        for _ in range(steps):
            log_vars = self.model.train_step(self.data, self.optim_wrapper)
        sync()
        self.loss = float(log_vars['loss'])
        if not math.isfinite(self.loss):
            raise RuntimeError(f'{self.label}: non-finite loss {self.loss}')
        return (time.perf_counter() - start) / steps

    def teardown(self):
        self.model = self.optim_wrapper = self.data = None
        gc.collect()


def peak_memory(bench: Bench, args) -> int:
    """Peak bytes allocated (weights, grads, AdamW state, activations) over building a fresh model
    and two steps. One quantity on both devices, the allocator's: CUDA keeps it itself
    (``max_memory_allocated``); the CPU allocator keeps no statistics, so on CPU it is the running
    sum of the profiler's allocator events, deterministic, unlike RSS, which the page cache,
    fragmentation and memory freed but not returned to the OS blur."""
    gc.collect()
    if args.device == 'cuda':
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        bench.setup(args, steps=2)
        peak = torch.cuda.max_memory_allocated() - base
    else:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            bench.setup(args, steps=2)
        events = sorted((e for e in prof.profiler.kineto_results.events()
                         if e.name() == '[memory]' and str(e.device_type()).endswith('CPU')),
                        key=lambda e: e.start_ns())
        peak = max(itertools.accumulate((e.nbytes() for e in events), initial=0))
    bench.teardown()
    return peak


def time_models(benches, args):
    for b in benches:
        b.setup(args, steps=args.warmup)
        if args.peak_tflops:
            with FlopCounterMode(display=False) as counter:
                b.run(1, args.device)
            b.gflop = counter.get_total_flops() / 1e9
    for r in range(args.repeats):
        for b in (benches if r % 2 == 0 else benches[::-1]):
            b.times.append(b.run(args.steps, args.device))
        print(f'benchmark_pretrain: round {r + 1}/{args.repeats}: '
              + ', '.join(f'{b.label} {b.times[-1]:.3f} s' for b in benches), file=sys.stderr)
    for b in benches:
        b.teardown()


def result_row(b: Bench, mae: Bench, args) -> dict:
    t_d, t_m = statistics.median(b.times), statistics.median(mae.times)
    ratio = statistics.median(d / m for d, m in zip(b.times, mae.times))
    peak = args.peak_tflops and args.peak_tflops * 1e3  # GFLOP/s
    return dict(
        label=b.label, num_masks=b.num_masks, teacher_depth=b.cfg['teacher']['depth'],
        amp_teacher_weights=b.cfg['amp_teacher_weights'], step_s_dbot=t_d, step_s_mae=t_m,
        img_per_s_dbot=args.batch / t_d, img_per_s_mae=args.batch / t_m, step_ratio=ratio,
        per_student_sample_ratio=ratio / b.num_masks, round_times_dbot=b.times,
        round_times_mae=mae.times, peak_bytes_dbot=b.peak, peak_bytes_mae=mae.peak,
        mem_ratio=b.peak / mae.peak if args.memory else None, loss_dbot=b.loss, loss_mae=mae.loss,
        gflop_per_step_dbot=b.gflop, gflop_per_step_mae=mae.gflop,
        mfu_dbot=peak and b.gflop / t_d / peak, mfu_mae=peak and mae.gflop / t_m / peak)


def render_table(rows, args) -> str:
    def fmt(v, spec):
        return 'n/a' if v is None else format(v, spec)

    lines = ['| dBOT vs MAE | img/s dBOT | img/s MAE | step time dBOT/MAE | per student sample '
             'dBOT/MAE | peak MiB dBOT | peak MiB MAE | mem dBOT/MAE |', '|' + '---|' * 8]
    lines += [f"| {r['label']} | {r['img_per_s_dbot']:.2f} | {r['img_per_s_mae']:.2f} | "
              f"{r['step_ratio']:.3f} | {r['per_student_sample_ratio']:.3f} | "
              f"{fmt(r['peak_bytes_dbot'] and r['peak_bytes_dbot'] / 2**20, '.0f')} | "
              f"{fmt(r['peak_bytes_mae'] and r['peak_bytes_mae'] / 2**20, '.0f')} | "
              f"{fmt(r['mem_ratio'], '.3f')} |" for r in rows]
    if args.peak_tflops:
        lines += ['', f'model FLOPs utilisation at {args.peak_tflops:g} TFLOP/s peak: ' + ', '.join(
            f'{label} {100 * mfu:.1f} % ({gflop:.0f} GFLOP/step)' for label, mfu, gflop in
            [(r['label'], r['mfu_dbot'], r['gflop_per_step_dbot']) for r in rows]
            + [('MAE', rows[0]['mfu_mae'], rows[0]['gflop_per_step_mae'])])]
    device = torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU'
    lines += ['', f'ViT-{args.arch}/{args.patch_size} {args.img_size} px, batch {args.batch}, '
              f'{args.precision}, teacher depth {rows[0]["teacher_depth"]}; {device} x'
              f'{torch.get_num_threads()} threads, torch {torch.__version__}; warm-up '
              f'{args.warmup}, {args.repeats} rounds x {args.steps} steps per model, interleaved']
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine', log_level='WARNING')
    base = Config.fromfile(args.config).model.to_dict()
    amp = {'amp': [True], 'fp32': [False], 'both': [True, False]}[args.teacher_weights]
    dbots = [Bench(f'dBOT(K={k}{"" if a or args.precision == "fp32" else ", teacher fp32"})',
                   dbot_config(base, args, k, a), k) for a in amp for k in args.num_masks]
    mae = Bench('MAE', mae_config(base, args))
    time_models(dbots + [mae], args)
    if args.memory:
        for b in dbots + [mae]:
            b.peak = peak_memory(b, args)
    rows = [result_row(b, mae, args) for b in dbots]
    table = render_table(rows, args)
    print(table, end='', flush=True)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            f.write(json.dumps(dict(vars(args), rows=rows), indent=2)
                    if args.out.endswith('.json') else table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
