# Copyright (c) dbot_mm contributors. All rights reserved.
"""Training-step speed and memory of dBOT against mmpretrain's MAE, same machine, same run.

Both models are built from config dicts through mmpretrain's ``MODELS`` registry: dBOT from
``configs/pretrain/dbot_vit-b.py`` (arch, image size and ``num_masks`` overridden; the teacher as
deep as the student, i.e. ViT-B stage 1 or any later stage), MAE as mmpretrain's own
``MAE`` / ``MAEViT`` / ``MAEPretrainDecoder`` (512/8/16) / ``MAEPretrainHead`` (pixel target,
``PixelReconstructionLoss``) with the same encoder. A training step is ``model.train_step(data,
optim_wrapper)`` exactly as mmengine's loop runs it: data preprocessor, ``loss()``, backward,
AdamW step, zero_grad (mmengine ``OptimWrapper``; ``AmpOptimWrapper`` on CUDA for bf16/fp16; on
CPU bf16 is dbot_mm's ``AutocastOptimWrapper``: ``torch.autocast('cpu', dtype=torch.bfloat16)``
around preprocessor + loss, for both models alike). No grad clipping for either model.

Timing: after ``--warmup`` steps of every model, ``--repeats`` rounds, each timing ``--steps``
steps of every model in turn (the order alternates between rounds) so that machine noise hits
both alike. Reported: median over rounds of the mean step time; the dBOT/MAE ratio is the median
of the per-round ratios (each dBOT round against the MAE round next to it).

Model FLOPs utilisation (MFU): with ``--peak-tflops`` (or on a known GPU in bf16/fp16, whose
dense peak is looked up by name), one extra step of each model runs under torch's
``FlopCounterMode`` (matmul, convolution and attention FLOPs of forward + backward, dBOT's teacher
forward included) and MFU = FLOPs per step / step time / peak.

Memory: CUDA: ``torch.cuda.max_memory_allocated`` over building the model, one warm-up and one
measured step, minus what was allocated before (weights + grads + AdamW state + activations).
CPU (``--memory profiler``, default): the same quantity from the torch profiler's allocator events
(``profile_memory=True``: every CPU allocation/free with its size, summed in time order; the peak
of that running sum), i.e. allocator-level bytes, free of page-cache/fragmentation noise.
``--memory rss``: a fresh subprocess per model; the peak RSS (VmHWM, reset before building) minus
the RSS after the imports. ``--memory none`` skips it.

Examples:
    python tools/analysis_tools/benchmark_pretrain.py --arch base --batch 8 --num-masks 1 2
    python tools/analysis_tools/benchmark_pretrain.py --arch large --batch 128 --device cuda \\
        --precision bf16 --num-masks 1 2 --out work_dirs/bench_l.md
    python tools/analysis_tools/benchmark_pretrain.py --check-loss   # dBOT loss, fixed seed
    python tools/analysis_tools/benchmark_pretrain.py --profile 2    # where the time goes
"""
import argparse
import copy
import gc
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
import zlib
from typing import Callable, Dict, List, Optional

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

ARCHS = {  # embed_dims, depth, num_heads (DBotViT's ARCH_SETTINGS)
    'tiny': (192, 12, 3),
    'small': (384, 12, 6),
    'base': (768, 12, 12),
    'large': (1024, 24, 16),
}
DBOT_CONFIG = osp.join(REPO, 'configs', 'pretrain', 'dbot_vit-b.py')
DATA_PREPROCESSOR = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)


# ------------------------------------------------------------------------------------ args
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Time the full training step (forward, backward, AdamW, zero_grad) of dBOT '
        "and of mmpretrain's MAE in one run; print a table of img/s, ratios and peak memory")
    p.add_argument('--arch', default='base', choices=sorted(ARCHS))
    p.add_argument('--patch-size', type=int, default=16)
    p.add_argument('--img-size', type=int, default=224)
    p.add_argument('--batch', type=int, default=8, help='images per step')
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16', 'fp16'])
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--num-masks', type=int, nargs='+', default=[1],
                   help='dBOT num_masks values, one table row each (MAE is timed once)')
    p.add_argument('--teacher-depth', type=int, default=None,
                   help='dBOT teacher depth (default: the student depth, i.e. any stage >= 2 '
                   'and ViT-B stage 1)')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps per model')
    p.add_argument('--steps', type=int, default=5, help='timed steps per model per round')
    p.add_argument('--repeats', type=int, default=3,
                   help='rounds; models interleaved within a round, order alternating '
                   '(0: memory only)')
    p.add_argument('--memory', default='auto', choices=['auto', 'profiler', 'rss', 'none'],
                   help='peak memory method: auto = cuda allocator on CUDA, profiler on CPU')
    p.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (CPU)')
    p.add_argument('--peak-tflops', type=float, default=None,
                   help='peak TFLOP/s of the device in --precision, for the MFU line (default: '
                   'looked up for known GPUs in bf16/fp16, else no MFU)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', default=None, help='also write the results (.json or .md)')
    p.add_argument('--check-loss', action='store_true',
                   help='only print the dBOT losses of the first 3 training steps for a fixed '
                   'seed (for each --num-masks value, default 1; --precision as given), and exit')
    p.add_argument('--expect-loss', type=float, nargs='+', default=None,
                   help='with --check-loss: expected "canonical" losses of the first --num-masks '
                   'value; exit 1 if they differ (rel. tol. --loss-rtol)')
    p.add_argument('--loss-rtol', type=float, default=1e-5)
    p.add_argument('--profile', type=int, default=0, metavar='N',
                   help='only profile N steps of each model (torch.profiler) after warm-up and '
                   'print where the time goes, then exit')
    p.add_argument('--teacher-weights', default='amp', choices=['amp', 'fp32', 'both'],
                   help="dBOT's teacher weights under bf16/fp16: 'amp' = stored in the autocast "
                   "dtype (the model's default, amp_teacher_weights=True), 'fp32' = kept in fp32 "
                   "and cast at every forward, 'both' = one dBOT row of each (no effect in fp32)")
    p.add_argument('--mem-child', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.precision == 'fp16' and args.device != 'cuda':
        p.error('--precision fp16 needs --device cuda (use bf16 on CPU)')
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device available')
    if args.memory == 'auto':
        args.memory = 'cuda' if args.device == 'cuda' else 'profiler'
    elif args.device == 'cuda' and args.memory != 'none':
        args.memory = 'cuda'
    if min(args.num_masks) < 1:
        p.error('--num-masks values must be >= 1')
    if args.peak_tflops is None and args.device == 'cuda' and args.precision != 'fp32':
        args.peak_tflops = gpu_peak_tflops(torch.cuda.get_device_name())
    if args.precision == 'fp32' and args.teacher_weights != 'amp':
        p.error('--teacher-weights only applies to --precision bf16/fp16')
    return args


# dense bf16/fp16 tensor-core peak (TFLOP/s, no sparsity) from the vendors' data sheets
GPU_PEAK_TFLOPS = [('H200', 989.4), ('H100 PCIe', 756.0), ('H100', 989.4), ('A100', 312.0),
                   ('L40S', 362.1), ('A6000', 154.8), ('V100', 125.0)]


def gpu_peak_tflops(name: str) -> Optional[float]:
    for key, peak in GPU_PEAK_TFLOPS:
        if key in name:
            return peak
    return None


# -------------------------------------------------------------------------------- configs
def dbot_config(args, num_masks: int, amp_teacher_weights: bool = True) -> dict:
    """dBOT's model config from configs/pretrain/dbot_vit-b.py, resized to ``args``."""
    from mmengine.config import Config
    model = Config.fromfile(DBOT_CONFIG).model.to_dict()
    depth = ARCHS[args.arch][1]
    common = dict(arch=args.arch, img_size=args.img_size, patch_size=args.patch_size)
    model['backbone'].update(common)
    model['teacher'].update(
        common, depth=depth if args.teacher_depth is None else args.teacher_depth)
    model['num_masks'] = num_masks
    model['amp_teacher_weights'] = amp_teacher_weights
    return model


def mae_config(args) -> dict:
    """mmpretrain's MAE pretraining model (mae_vit-base-p16 recipe) with dBOT's encoder size."""
    dims, depth, heads = ARCHS[args.arch]
    p = args.patch_size
    num_patches = math.ceil(args.img_size / p)**2
    return dict(
        type='MAE',
        data_preprocessor=copy.deepcopy(DATA_PREPROCESSOR),
        backbone=dict(
            type='MAEViT',
            arch=dict(embed_dims=dims, num_layers=depth, num_heads=heads,
                      feedforward_channels=4 * dims),
            img_size=args.img_size, patch_size=p, mask_ratio=0.75),
        neck=dict(
            type='MAEPretrainDecoder', num_patches=num_patches, patch_size=p, in_chans=3,
            embed_dim=dims, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16,
            mlp_ratio=4.),
        head=dict(
            type='MAEPretrainHead', norm_pix=True, patch_size=p,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')),
        init_cfg=[
            dict(type='Xavier', layer='Linear', distribution='uniform'),
            dict(type='Constant', layer='LayerNorm', val=1.0, bias=0.0),
        ])


# --------------------------------------------------------------------------------- build
def import_stack():
    import dbot_mm  # noqa: F401  (registers DBOT, DBotViT, ...)
    import mmpretrain.models  # noqa: F401  (registers MAE, MAEViT, ...)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine', log_level='WARNING')
    import logging
    logging.getLogger('mmengine').setLevel(logging.WARNING)


def build_model(cfg: dict, device: str, seed: int):
    from mmpretrain.registry import MODELS
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(cfg))
    model.init_weights()  # as the Runner does (dBOT: stage-1 teacher <- student init)
    model.to(device)
    model.train()
    return model


def build_optim_wrapper(model, args):
    """Same AdamW as dBOT's schedule (betas 0.9/0.95, wd 0.05) for both models, no grad clip."""
    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    from dbot_mm.engine.optimizers import AutocastOptimWrapper
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1.5e-4 * args.batch / 256,
        betas=(0.9, 0.95), weight_decay=0.05)
    if args.precision == 'fp32':
        return OptimWrapper(optimizer=optimizer)
    dtype = 'bfloat16' if args.precision == 'bf16' else 'float16'
    if args.device == 'cuda':
        return AmpOptimWrapper(optimizer=optimizer, loss_scale='dynamic', dtype=dtype)
    return AutocastOptimWrapper(optimizer=optimizer, device_type='cpu', dtype=dtype)


def make_batch(args, device: str, seed: int = 1234) -> dict:
    """What the dataloader hands to ``train_step``: uint8 images + DataSamples (PackInputs)."""
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    imgs = torch.randint(0, 256, (args.batch, 3, args.img_size, args.img_size), generator=gen,
                         dtype=torch.uint8)
    return dict(inputs=imgs.to(device), data_samples=[DataSample() for _ in range(args.batch)])


class Bench:
    """One model under test: config, built model, optimizer wrapper, batch, timings."""

    def __init__(self, name: str, cfg: dict, num_masks: int = 1):
        self.name = name
        self.cfg = cfg
        self.num_masks = num_masks
        self.model = self.optim_wrapper = self.data = None
        # dBOT under bf16/fp16 with its teacher kept in fp32 (--teacher-weights fp32/both)
        self.teacher_fp32 = not cfg.get('amp_teacher_weights', True)
        self.round_times: List[float] = []
        self.peak_bytes: Optional[int] = None
        self.gflop_per_step: Optional[float] = None
        self.last_loss: Optional[float] = None

    @property
    def label(self) -> str:
        return f'{self.name}(K={self.num_masks}{", teacher fp32" if self.teacher_fp32 else ""})'

    def setup(self, args):
        self.model = build_model(self.cfg, args.device, args.seed)
        self.optim_wrapper = build_optim_wrapper(self.model, args)
        self.data = make_batch(args, args.device)

    def teardown(self):
        self.model = self.optim_wrapper = self.data = None
        gc.collect()

    def step(self) -> dict:
        return self.model.train_step(self.data, self.optim_wrapper)


def synchronize(device: str):
    if device == 'cuda':
        torch.cuda.synchronize()


def run_steps(bench: Bench, n: int, device: str) -> List[float]:
    times = []
    for _ in range(n):
        synchronize(device)
        t0 = time.perf_counter()
        log_vars = bench.step()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    if n:
        bench.last_loss = float(log_vars['loss'].detach())
        if not math.isfinite(bench.last_loss):
            raise RuntimeError(f'{bench.name}: non-finite loss {bench.last_loss}')
    return times


def time_models(benches: List[Bench], args):
    if args.repeats == 0:
        return
    for b in benches:
        b.setup(args)
    for b in benches:
        run_steps(b, args.warmup, args.device)
    if args.peak_tflops:
        for b in benches:
            b.gflop_per_step = count_flops(b)['total']
    for r in range(args.repeats):
        for b in (benches if r % 2 == 0 else benches[::-1]):
            b.round_times.append(statistics.fmean(run_steps(b, args.steps, args.device)))
        print(f'benchmark_pretrain: round {r + 1}/{args.repeats}: ' + ', '.join(
            f'{b.label} {b.round_times[-1]:.3f} s' for b in benches),
            file=sys.stderr, flush=True)
    for b in benches:
        b.teardown()


# -------------------------------------------------------------------------------- memory
def _profiler_peak(fn: Callable[[], None]) -> int:
    """Peak of the running sum of CPU allocator events (bytes) while ``fn`` runs."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]'
              and str(e.device_type()).endswith('CPU')]
    events.sort(key=lambda e: e.start_ns())
    cur = peak = 0
    for e in events:
        cur += e.nbytes()
        peak = max(peak, cur)
    return peak


def _rss_bytes(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'no {field} in /proc/self/status')


def _reset_rss_peak() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def measure_memory_inprocess(bench: Bench, args, method: str) -> int:
    """Weights + grads + AdamW state + activations: build, one warm-up step, one step."""

    def run():
        bench.setup(args)
        run_steps(bench, 2, args.device)

    gc.collect()
    if method == 'cuda':
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        peak = torch.cuda.max_memory_allocated() - base
    elif method == 'profiler':
        peak = _profiler_peak(run)
    elif method == 'rss':
        gc.collect()
        base = _rss_bytes('VmRSS')
        if not _reset_rss_peak():
            raise RuntimeError('--memory rss needs a writable /proc/self/clear_refs')
        run()
        peak = _rss_bytes('VmHWM') - base
    else:
        raise ValueError(method)
    bench.teardown()
    return peak


def measure_memory_subprocess(bench: Bench, argv: List[str]) -> int:
    cmd = [sys.executable, osp.abspath(__file__)] + argv + [
        '--mem-child', f'{bench.name}:{bench.num_masks}:{int(bench.teacher_fp32)}']
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'memory subprocess failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])['peak_bytes']


def mem_child(args) -> int:
    name, k, teacher_fp32 = args.mem_child.split(':')
    cfg = (dbot_config(args, int(k), not int(teacher_fp32)) if name == 'dBOT' else
           mae_config(args))
    bench = Bench(name, cfg, int(k))
    print(json.dumps(dict(peak_bytes=measure_memory_inprocess(bench, args, 'rss'))))
    return 0


# ------------------------------------------------------------------------------ results
def fmt_bytes(n: Optional[int]) -> str:
    return 'n/a' if n is None else f'{n / 2**20:.0f} MiB'


def mfu(gflop: Optional[float], step_s: Optional[float],
        peak_tflops: Optional[float]) -> Optional[float]:
    if not (gflop and step_s and peak_tflops):
        return None
    return gflop / step_s / (peak_tflops * 1e3)


def results_rows(dbots: List[Bench], mae: Bench, args) -> List[dict]:
    rows = []
    dims = ARCHS[args.arch]
    for b in dbots:
        if b.round_times:
            pairs = [d / m for d, m in zip(b.round_times, mae.round_times)]
            t_d, t_m = statistics.median(b.round_times), statistics.median(mae.round_times)
            ratio = statistics.median(pairs)
            speed = dict(img_per_s_dbot=args.batch / t_d, img_per_s_mae=args.batch / t_m,
                         step_ratio=ratio, per_student_sample_ratio=ratio / b.num_masks)
        else:  # --repeats 0: memory only
            t_d = t_m = None
            speed = dict(img_per_s_dbot=None, img_per_s_mae=None, step_ratio=None,
                         per_student_sample_ratio=None)
        rows.append(dict(
            setting=(f'ViT-{args.arch}/{args.patch_size} {args.img_size}px b{args.batch} '
                     f'{args.precision} {args.device} num_masks={b.num_masks}'
                     + (' teacher fp32' if b.teacher_fp32 else '')),
            label=b.label, arch=args.arch, embed_dims=dims[0], depth=dims[1],
            img_size=args.img_size,
            batch=args.batch, precision=args.precision, device=args.device,
            num_masks=b.num_masks, teacher_depth=b.cfg['teacher']['depth'],
            teacher_weights=('fp32' if b.teacher_fp32 or args.precision == 'fp32' else
                             args.precision),
            step_s_dbot=t_d, step_s_mae=t_m, **speed,
            round_times_dbot=b.round_times, round_times_mae=mae.round_times,
            peak_bytes_dbot=b.peak_bytes, peak_bytes_mae=mae.peak_bytes,
            mem_ratio=(b.peak_bytes / mae.peak_bytes
                       if b.peak_bytes and mae.peak_bytes else None),
            loss_dbot=b.last_loss, loss_mae=mae.last_loss,
            gflop_per_step_dbot=b.gflop_per_step, gflop_per_step_mae=mae.gflop_per_step,
            peak_tflops=args.peak_tflops, mfu_dbot=mfu(b.gflop_per_step, t_d, args.peak_tflops),
            mfu_mae=mfu(mae.gflop_per_step, t_m, args.peak_tflops),
            memory_method=args.memory,
            warmup=args.warmup, steps=args.steps, repeats=args.repeats,
            threads=torch.get_num_threads(), torch=torch.__version__,
            device_name=(torch.cuda.get_device_name() if args.device == 'cuda' else
                         f'CPU x{torch.get_num_threads()} threads')))
    return rows


def render_table(rows: List[dict]) -> str:
    head = ('| setting | img/s dBOT | img/s MAE | step time dBOT/MAE | per student sample '
            'dBOT/MAE | peak mem dBOT | peak mem MAE | mem dBOT/MAE |')
    lines = [head, '|' + '---|' * 8]

    def num(v, digits):
        return 'n/a' if v is None else f'{v:.{digits}f}'

    for r in rows:
        lines.append(
            f"| {r['setting']} | {num(r['img_per_s_dbot'], 2)} | {num(r['img_per_s_mae'], 2)} | "
            f"{num(r['step_ratio'], 3)} | {num(r['per_student_sample_ratio'], 3)} | "
            f"{fmt_bytes(r['peak_bytes_dbot'])} | {fmt_bytes(r['peak_bytes_mae'])} | "
            f"{num(r['mem_ratio'], 3)} |")
    r = rows[0]
    if r['mfu_mae'] is not None:
        lines.append('')
        lines.append(
            f"model FLOPs utilisation at {r['peak_tflops']:g} TFLOP/s peak ({r['precision']}): "
            + ', '.join(f"{row['label']} {100 * row['mfu_dbot']:.1f} % "
                        f"({row['gflop_per_step_dbot']:.0f} GFLOP/step)" for row in rows)
            + f", MAE {100 * r['mfu_mae']:.1f} % ({r['gflop_per_step_mae']:.0f} GFLOP/step)")
    lines.append('')
    lines.append(
        f"{r['device_name']}, torch {r['torch']}; warm-up {r['warmup']}, {r['repeats']} rounds "
        f"x {r['steps']} steps per model, interleaved; median; teacher depth "
        f"{r['teacher_depth']}, teacher weights in the autocast dtype unless 'teacher fp32'; "
        f"memory: {r['memory_method']}")
    return '\n'.join(lines) + '\n'


def write_out(path: str, rows: List[dict], table: str):
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        if path.endswith('.json'):
            json.dump(rows, f, indent=2)
        else:
            f.write(table)


# ------------------------------------------------------------------------- loss check
def canonical_weights_(model, seed: int):
    """Overwrite every float parameter from a generator seeded by (seed, parameter name), so the
    loss does not depend on construction order or init code; fixed sin-cos position
    embeddings are kept. Weights ~ N(0, 1/fan_in), biases/1-D ~ N(0, 0.02) (+1 for norms)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'pos_embed' in name or not p.is_floating_point():
                continue
            gen = torch.Generator().manual_seed(seed * 1000003 + zlib.crc32(name.encode()))
            if p.dim() >= 2:
                fan_in = p[0].numel()
                val = torch.randn(p.shape, generator=gen) / math.sqrt(fan_in)
            else:
                val = torch.randn(p.shape, generator=gen) * 0.02
                if 'norm' in name and name.endswith('weight'):
                    val += 1
            p.copy_(val.to(p.device, p.dtype))


def check_loss(args) -> int:
    """dBOT losses of the first 3 training steps for a fixed seed: with the model's own init and
    with name-seeded ("canonical") weights. Masks and drop path draw from the seeded global RNG,
    so a change that draws its random numbers differently also changes these numbers."""
    canonical = {}
    for k in args.num_masks:
        for mode in ('model-init', 'canonical'):
            bench = Bench('dBOT', dbot_config(args, k), k)
            bench.setup(args)
            if mode == 'canonical':
                canonical_weights_(bench.model, args.seed)
            torch.manual_seed(args.seed + 1)  # masks and drop path
            losses = [float(bench.step()['loss'].detach()) for _ in range(3)]
            if mode == 'canonical':
                canonical[k] = losses
            print(f'check-loss dBOT num_masks={k} {mode:10s} seed={args.seed} ViT-{args.arch}/'
                  f'{args.patch_size} {args.img_size}px b{args.batch} {args.precision} '
                  f'{args.device}: ' + ' '.join(f'{v:.9g}' for v in losses), flush=True)
            bench.teardown()
    if args.expect_loss:
        got = canonical[args.num_masks[0]][:len(args.expect_loss)]
        ok = all(math.isclose(g, e, rel_tol=args.loss_rtol, abs_tol=0)
                 for g, e in zip(got, args.expect_loss))
        print(f'check-loss: canonical losses (num_masks={args.num_masks[0]}) '
              f'{"MATCH" if ok else "DIFFER FROM"} expected '
              + ' '.join(f'{v:.9g}' for v in args.expect_loss) + f' (rtol {args.loss_rtol})')
        return 0 if ok else 1
    return 0


# ---------------------------------------------------------------------------- profiling
REGIONS = {
    # model type -> {label: (attribute path, method)}
    'dBOT': [('teacher forward', '', 'compute_target'),
             ('student encoder fwd', 'backbone', 'forward_masked'),
             ('decoder fwd', 'neck', 'forward'),
             ('loss fwd', 'head', 'loss')],
    'MAE': [('student encoder fwd', 'backbone', 'forward'),
            ('decoder fwd', 'neck', 'forward'),
            ('loss fwd', 'head', 'loss')],
}


def _wrap_regions(bench: Bench):
    from torch.profiler import record_function
    model = bench.model

    def wrap(obj, meth, label):
        fn = getattr(obj, meth)

        def wrapped(*a, **k):
            with record_function('## ' + label):
                return fn(*a, **k)
        setattr(obj, meth, wrapped)

    for label, attr, meth in REGIONS[bench.name]:
        wrap(getattr(model, attr) if attr else model, meth, label)
    ow = bench.optim_wrapper
    wrap(ow, 'backward', 'backward')
    wrap(ow, 'step', 'optimizer step')
    wrap(ow, 'zero_grad', 'zero_grad')
    wrap(model.data_preprocessor, 'forward', 'data preprocessor')


def count_flops(bench: Bench) -> Dict[str, float]:
    """GFLOP (matmul/conv/attention, forward + backward) of one training step, of its decoder
    and of dBOT's teacher forward, from torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        bench.step()
    total = counter.get_total_flops() / 1e9
    # the module tracker only sees forward(): DBotViT.forward_masked / forward_target are not
    # attributed to 'backbone' / 'teacher', so the teacher is counted on its own
    neck = sum(counter.get_flop_counts().get(f'{type(bench.model).__name__}.neck', {}).values())
    out = {'total': total, 'decoder': neck / 1e9}
    if bench.name == 'dBOT':
        with torch.no_grad():
            inputs = bench.model.data_preprocessor(bench.data, True)['inputs']
        inputs = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        with FlopCounterMode(display=False) as counter, bench.optim_wrapper.optim_context(
                bench.model):
            bench.model.compute_target(inputs)
        out['teacher'] = counter.get_total_flops() / 1e9
    out['student encoder + loss'] = total - sum(v for k, v in out.items() if k != 'total')
    return out


def profile_models(benches: List[Bench], args) -> int:
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == 'cuda' else [])
    sort = 'cuda_time_total' if args.device == 'cuda' else 'cpu_time_total'
    for b in benches:
        b.setup(args)
        run_steps(b, max(args.warmup, 1), args.device)
        flops = count_flops(b)
        _wrap_regions(b)
        with profile(activities=acts, record_shapes=True) as prof:
            wall = sum(run_steps(b, args.profile, args.device))
        avg = prof.key_averages()
        print(f'\n=== {b.name} num_masks={b.num_masks}: {args.profile} step(s), '
              f'{wall / args.profile:.3f} s/step (profiled) ===')
        print('region breakdown (per step; CPU wall time of the region):')
        for e in sorted((e for e in avg if e.key.startswith('## ')),
                        key=lambda e: -e.cpu_time_total):
            t = e.cpu_time_total / 1e6 / args.profile
            dev = (f', device {e.device_time_total / 1e6 / args.profile:.3f} s'
                   if args.device == 'cuda' else '')
            print(f'  {e.key[3:]:22s} {t:8.3f} s  {100 * t * args.profile / wall:5.1f} %{dev}')
        print('GFLOP per step (fwd + bwd, FlopCounterMode): ' + ', '.join(
            f'{k} {v:.1f} ({100 * v / flops["total"]:.0f} %)' if k != 'total' else f'{k} {v:.1f}'
            for k, v in flops.items()))
        print(avg.table(sort_by=sort, row_limit=25, max_name_column_width=45))
        b.teardown()
    return 0


# -------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import_stack()
    if args.mem_child:
        return mem_child(args)
    if args.check_loss:
        return check_loss(args)

    amp_teacher = {'amp': [True], 'fp32': [False], 'both': [True, False]}[args.teacher_weights]
    dbots = [Bench('dBOT', dbot_config(args, k, amp), k) for amp in amp_teacher
             for k in args.num_masks]
    mae = Bench('MAE', mae_config(args))
    if args.profile:
        return profile_models(dbots + [mae], args)

    t0 = time.time()
    time_models(dbots + [mae], args)
    print(f'benchmark_pretrain: timing done in {time.time() - t0:.0f} s', file=sys.stderr)
    if args.memory != 'none':
        for b in dbots + [mae]:
            if args.memory == 'rss':
                b.peak_bytes = measure_memory_subprocess(b, argv)
            else:
                b.peak_bytes = measure_memory_inprocess(b, args, args.memory)
    rows = results_rows(dbots, mae, args)
    table = render_table(rows)
    print(table, end='', flush=True)
    if args.out:
        write_out(args.out, rows, table)
        print(f'benchmark_pretrain: wrote {args.out}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
