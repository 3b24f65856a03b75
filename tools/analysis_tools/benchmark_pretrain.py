# Copyright (c) dbot_mm contributors. All rights reserved.
"""Training-step speed, peak memory and MFU of dBOT against mmpretrain's MAE, in one run.

dBOT is ``--config`` resized to ``--arch`` (teacher as deep as the student); MAE is mmpretrain's
own MAE config with dBOT's encoder and decoder sizes. A step is ``model.train_step`` (no grad
clip), for both under the same autocast in bf16/fp16 (``AutocastOptimWrapper`` on CPU, which
mmengine's ``AmpOptimWrapper`` refuses); ``--teacher-weights``: dBOT's teacher weights then in the
autocast dtype (``amp``, the default), in ``fp32``, or ``both`` (a row each). Timing: ``--warmup``
steps, then ``--repeats`` rounds of ``--steps`` steps of every model in turn, the order alternating
(machine noise hits both alike); img/s from the median round, the dBOT/MAE ratio is the median of
the per-round ratios. MFU = FLOPs of a step (``FlopCounterMode``, teacher included) / step time /
``--peak-tflops`` (looked up for known GPUs in bf16/fp16). ``--compile``: every transformer block
compiled on its own (regional compilation; ``torch.compile`` of the whole ``train_step``, mmengine's
``compile=True``, fails for dBOT: AOTAutograd meets the teacher's inference tensors, seen with
``aot_eager`` on the CPU); the FLOPs are counted before compiling. See docs/performance.md.
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
COLUMNS = [
    'dBOT vs MAE', 'img/s dBOT', 'img/s MAE', 'step time dBOT/MAE', 'per student sample dBOT/MAE',
    'peak MiB dBOT', 'peak MiB MAE', 'mem dBOT/MAE'
]


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
    p.add_argument('--teacher-weights', default='amp', choices=['amp', 'fp32', 'both'])
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--warmup', type=int, default=2, help='untimed steps per model')
    p.add_argument('--steps', type=int, default=5, help='timed steps per model and round')
    p.add_argument('--repeats', type=int, default=3, help='rounds, models interleaved')
    p.add_argument('--memory', default=True, action=argparse.BooleanOptionalAction)
    p.add_argument('--threads', type=int, help='torch.set_num_threads (CPU)')
    p.add_argument('--peak-tflops', type=float, help='device peak in --precision, for the MFU')
    p.add_argument(
        '--compile',
        nargs='?',
        const='inductor',
        metavar='BACKEND',
        help='torch.compile '
        'each block (BACKEND: inductor if omitted; eager or aot_eager trace without compiling)')
    p.add_argument('--out', help='also write the results (.json) or the table (.md)')
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
    """mmpretrain's own MAE model config with dBOT's encoder and decoder sizes."""
    model = Config.fromfile(osp.join(osp.dirname(mmpretrain.__file__), MAE_CONFIG)).model.to_dict()
    (dims, depth, heads), p, d = ARCH_SETTINGS[args.arch], args.patch_size, dbot['neck']
    arch = dict(embed_dims=dims, num_layers=depth, num_heads=heads, feedforward_channels=4 * dims)
    model['backbone'].update(arch=arch, img_size=args.img_size, patch_size=p)
    model['neck'].update(embed_dim=dims, patch_size=p, num_patches=math.ceil(args.img_size / p)**2)
    # MAE's recipe decoder is 512/8/16 as dBOT's; a config with a smaller one shrinks both
    model['neck'].update(decoder_depth=d['decoder_depth'], decoder_num_heads=d['decoder_num_heads'])
    model['neck'].update(decoder_embed_dim=d['decoder_embed_dims'])
    model['head'].update(patch_size=p)
    return dict(model, data_preprocessor=dbot['data_preprocessor'])  # MAE's has the same values


class Bench:
    """One model under test; ``setup`` builds model, AdamW and batch afresh and warms them up."""

    def __init__(self, label: str, cfg: dict, num_masks: int = 1):
        self.label, self.cfg, self.num_masks = label, cfg, num_masks
        self.times, self.peak, self.gflop, self.loss = [], None, None, None

    def setup(self, args, steps: int = 0, flops: bool = False):
        torch.manual_seed(0)
        self.model = MODELS.build(copy.deepcopy(self.cfg))
        self.model.init_weights()  # as the Runner does (dBOT: stage-1 teacher <- student init)
        self.model.to(args.device).train()
        lr = 1.5e-4 * args.batch / 256  # dBOT's AdamW, for both models
        optimizer = dict(type='AdamW', lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
        dtype = {'bf16': 'bfloat16', 'fp16': 'float16'}.get(args.precision)
        amp = 'AmpOptimWrapper' if args.device == 'cuda' else 'AutocastOptimWrapper'
        wrapper = dict(type='OptimWrapper') if dtype is None else dict(type=amp, dtype=dtype)
        self.optim_wrapper = build_optim_wrapper(self.model, dict(wrapper, optimizer=optimizer))
        shape, gen = (args.batch, 3, args.img_size, args.img_size), torch.Generator()
        imgs = torch.randint(0, 256, shape, generator=gen.manual_seed(1234), dtype=torch.uint8)
        samples = [DataSample() for _ in range(args.batch)]
        self.data = dict(inputs=imgs.to(args.device), data_samples=samples)
        if flops:  # before compiling: FlopCounterMode counts the aten ops it sees dispatched
            with FlopCounterMode(display=False) as counter:
                self.run(1, args.device)
            self.gflop = counter.get_total_flops() / 1e9
        if args.compile:  # regional: the repeated blocks share their compiled code, but each
            # drop-path rate is a graph of its own (about 20 for dBOT ViT-B: over dynamo's 8)
            config = torch._dynamo.config
            limit = 'recompile_limit' if hasattr(config, 'recompile_limit') else 'cache_size_limit'
            setattr(config, limit, max(getattr(config, limit), 64))
            for blocks in [m for m in self.model.modules() if isinstance(m, torch.nn.ModuleList)]:
                for block in blocks:
                    block.compile(backend=args.compile)
        if steps:
            self.run(steps, args.device)

    def run(self, steps: int, device: str) -> float:
        """Mean wall time of ``steps`` training steps."""
        sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
        start = time.perf_counter()  # the previous run ended synchronised
        for _ in range(steps):
            log_vars = self.model.train_step(self.data, self.optim_wrapper)
        sync()
        self.loss = float(log_vars['loss'].detach())
        if not math.isfinite(self.loss):
            raise RuntimeError(f'{self.label}: non-finite loss {self.loss}')
        return (time.perf_counter() - start) / steps

    def teardown(self):
        self.model = self.optim_wrapper = self.data = None
        gc.collect()

    def summarise(self, mae: 'Bench', args):
        """Median step time, img/s, MFU and the ratios to MAE."""
        self.step_s = statistics.median(self.times)
        self.img_per_s = args.batch / self.step_s
        self.mfu = args.peak_tflops and self.gflop / self.step_s / (args.peak_tflops * 1e3)
        self.step_ratio = statistics.median(d / m for d, m in zip(self.times, mae.times))
        self.per_student_sample_ratio = self.step_ratio / self.num_masks
        self.mem_ratio = self.peak / mae.peak if args.memory else None

    def result(self) -> dict:
        return {k: v for k, v in vars(self).items() if k not in ('model', 'optim_wrapper', 'data')}


def peak_memory(bench: Bench, args) -> int:
    """Peak bytes allocated (weights, grads, AdamW state, activations) over building a fresh model
    and two steps. One quantity on both devices, the allocator's: CUDA counts it itself
    (``max_memory_allocated``); the CPU allocator keeps no statistics, so there it is the running
    sum of the profiler's allocator events, deterministic unlike RSS (page cache, fragmentation)."""
    if args.device == 'cuda':
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        bench.setup(args, steps=2)
        peak = torch.cuda.max_memory_allocated() - base
    else:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            bench.setup(args, steps=2)
        events = [e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]']
        events = [e for e in events if str(e.device_type()).endswith('CPU')]
        events.sort(key=lambda e: e.start_ns())
        peak = max(itertools.accumulate((e.nbytes() for e in events), initial=0))
    bench.teardown()
    return peak


def time_models(benches, args):
    for b in benches:
        b.setup(args, steps=args.warmup, flops=bool(args.peak_tflops))
    for r in range(args.repeats):
        for b in (benches if r % 2 == 0 else benches[::-1]):
            b.times.append(b.run(args.steps, args.device))
        times = ', '.join(f'{b.label} {b.times[-1]:.3f} s' for b in benches)
        print(f'benchmark_pretrain: round {r + 1}/{args.repeats}: {times}', file=sys.stderr)
    for b in benches:
        b.teardown()


def render_table(dbots, mae, args) -> str:

    def mib(n):
        return 'n/a' if n is None else f'{n / 2**20:.0f}'

    lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
    for b in dbots:
        mem = 'n/a' if b.mem_ratio is None else f'{b.mem_ratio:.3f}'
        cells = [b.label, f'{b.img_per_s:.2f}', f'{mae.img_per_s:.2f}', f'{b.step_ratio:.3f}']
        cells += [f'{b.per_student_sample_ratio:.3f}', mib(b.peak), mib(mae.peak), mem]
        lines.append('| ' + ' | '.join(cells) + ' |')
    if args.peak_tflops:
        mfu = [f'{b.label} {100 * b.mfu:.1f} % ({b.gflop:.0f} GFLOP/step)' for b in dbots + [mae]]
        peak = f'model FLOPs utilisation at {args.peak_tflops:g} TFLOP/s peak: '
        lines += ['', peak + ', '.join(mfu)]
    device = torch.cuda.get_device_name() if args.device == 'cuda' else 'CPU'
    setting = (f'ViT-{args.arch}/{args.patch_size} {args.img_size} px, batch {args.batch}, '
               f"{args.precision}, teacher depth {dbots[0].cfg['teacher']['depth']}, "
               f"{'blocks compiled (' + args.compile + ')' if args.compile else 'eager'}; {device} "
               f'x{torch.get_num_threads()} threads, torch {torch.__version__}; warm-up '
               f'{args.warmup}, {args.repeats} rounds x {args.steps} steps per model, interleaved')
    lines += ['', setting]
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    MMLogger.get_instance('mmengine', log_level='WARNING')
    base = Config.fromfile(args.config).model.to_dict()
    dbots = []
    for amp in {'amp': [True], 'fp32': [False], 'both': [True, False]}[args.teacher_weights]:
        for k in args.num_masks:
            label = f'dBOT(K={k}' + ('' if amp or args.precision == 'fp32' else ', teacher fp32')
            dbots.append(Bench(label + ')', dbot_config(base, args, k, amp), k))
    mae = Bench('MAE', mae_config(base, args))
    time_models(dbots + [mae], args)
    for b in (dbots + [mae]) if args.memory else []:
        b.peak = peak_memory(b, args)
    for b in [mae] + dbots:
        b.summarise(mae, args)
    table = render_table(dbots, mae, args)
    print(table, end='', flush=True)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        results = dict(vars(args), results=[b.result() for b in dbots + [mae]])
        with open(args.out, 'w') as f:
            f.write(json.dumps(results, indent=2) if args.out.endswith('.json') else table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
