# Copyright (c) dbot_mm contributors. All rights reserved.
"""The GPU check: what a GPU does with dBOT, in one run of at most 8 minutes on an H100.

Parts, in this order, each under its own time budget (SIGALRM) and try/except, the JSON written
after each, so that a failing or slow part loses only itself:

- ``speed``: ``benchmark_pretrain.py`` (dBOT ViT-B/16 K=1 and K=2 vs mmpretrain's MAE, bf16 AMP,
  batch 128, synthetic images): img/s, step time, MFU from its FLOP count, peak memory;
- ``amp``: the tiny demo config's model (``configs/pretrain/dbot_vit-tiny_demo.py``) trained 300
  steps from one seed on fixed synthetic batches in fp32, fp32 again (the run-to-run floor), bf16
  (and fp16 on CUDA, the recipe's ``AmpOptimWrapper`` default): largest relative loss difference;
- ``decode``: ``benchmark_pipeline.py --torchvision-decode DEVICE``: images/s per core of the
  shipped and fast CPU pipelines and the wall-clock images/s of nvJPEG with the same crops;
- ``nccl``: a one-rank process group (as ``torchrun`` + mmengine start it), then one bootstrap
  step: ``DBOT.bootstrap`` and the broadcast of student, decoder and teacher that
  ``DBotBootstrapHook`` does on several ranks;
- ``compile``: ``benchmark_pretrain.py --compile`` (each block compiled), last, in what is left.

``--device cpu`` runs every part on tiny shapes in seconds (gloo, bf16 autocast on the CPU, decode
on the CPU, the ``eager`` compile backend): the test of this script. On a GPU machine without
OpenMMLab: ``bash tools/misc/gpu_check.sh`` (docs/performance.md).
"""
import argparse
import copy
import gc
import importlib.util
import json
import math
import os
import os.path as osp
import platform
import signal
import socket
import sys
import tempfile
import time
import traceback

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'pretrain', 'dbot_vit-tiny_demo.py')
PARTS = ('speed', 'amp', 'decode', 'nccl', 'compile')
BUDGET_S = dict(speed=180, amp=60, decode=60, nccl=60)  # compile: what is left of --budget
ASSUMED_STEP_RATE = 4400  # img/s per GPU assumed in docs/performance.md
# the benchmark_pretrain settings; on the CPU a ViT-tiny/8 at 32 px with a 64 x 2 decoder
SPEED = dict(
    cuda='--arch base --batch 128 --precision bf16 --num-masks 1 2 --warmup 3 --steps 10 '
    '--repeats 3',
    cpu='--arch tiny --img-size 32 --patch-size 8 --batch 2 --precision bf16 --num-masks 1 2 '
    '--warmup 1 --steps 1 --repeats 1 --peak-tflops 1')
COMPILE = dict(
    cuda='--num-masks 1 --no-memory --compile', cpu='--num-masks 1 --no-memory --compile eager')
SMALL_DECODER = 'dict(decoder_embed_dims=64, decoder_depth=2, decoder_num_heads=4)'
AMP = dict(cuda=dict(steps=300, batch=16), cpu=dict(steps=20, batch=4))
DECODE = dict(
    cuda='--images 256 --rounds 5 --batch 128 --workers 8', cpu='--images 4 --rounds 1 --batch 2')


class OverBudget(Exception):
    pass


def _over_budget(signum, frame):
    raise OverBudget


def run_part(name, fn, budget: float, report: dict) -> dict:
    """``report['parts'][name]`` = ``fn()``'s figures, or the error that stopped it."""
    print(f'gpu_check: {name} (budget {budget:.0f} s)', flush=True)
    start = time.perf_counter()
    handler = signal.signal(signal.SIGALRM, _over_budget)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, budget)
    try:
        res = dict(fn(), error=None)
    except OverBudget:
        res = dict(error=f'over its budget of {budget:.0f} s')
    except Exception as e:  # the other parts still run
        res = dict(error=f'{type(e).__name__}: {e}'[:500], traceback=traceback.format_exc()[-3000:])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, handler)
        seconds = time.perf_counter() - start
        if outer:  # a caller's timer (pytest-timeout) goes on
            signal.setitimer(signal.ITIMER_REAL, max(outer - seconds, 1e-3))
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    report['parts'][name] = dict(res, seconds=seconds)
    return res


def _tool(path: str):
    """A script of tools/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(
        osp.basename(path)[:-3], osp.join(REPO, 'tools', path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_argv(device: str, tmp: str, extra: str = '') -> list:
    """benchmark_pretrain's arguments; on the CPU with the small decoder (a config in tmp)."""
    argv = SPEED[device].split() + ['--device', device] + extra.split()
    if device == 'cpu':
        config = osp.join(tmp, 'dbot_small_decoder.py')
        with open(config, 'w') as f:
            f.write(f"_base_ = {osp.join(REPO, 'configs', 'pretrain', 'dbot_vit-b.py')!r}\n"
                    f'model = dict(neck={SMALL_DECODER})\n')
        argv += ['--config', config]
    return argv


def _benchmark(args, tmp, extra: str) -> dict:
    bench = _tool('analysis_tools/benchmark_pretrain.py')
    argv, out = bench_argv(args.device, tmp, extra), osp.join(tmp, 'bench.json')
    bench.main(argv + ['--out', out])
    with open(out) as f:
        res = json.load(f)
    keys = ('label', 'img_per_s', 'step_s', 'mfu', 'gflop', 'peak', 'loss', 'step_ratio')
    rows = [{k: r[k] for k in keys} for r in res['results']]
    return dict(argv=argv, peak_tflops=res['peak_tflops'], rows=rows)


def part_speed(args, tmp, report):
    return _benchmark(args, tmp, '')


def part_compile(args, tmp, report):
    res = _benchmark(args, tmp, COMPILE[args.device])
    eager = {r['label']: r['img_per_s'] for r in report['parts'].get('speed', {}).get('rows', [])}
    for r in res['rows']:
        r['vs_eager'] = r['img_per_s'] / eager[r['label']] if r['label'] in eager else None
    return res


def loss_curve(device: str, precision: str, steps: int, batch: int) -> list:
    """Losses of ``steps`` training steps of the tiny demo model, seed 0, 4 fixed batches."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample
    cfg = Config.fromfile(TINY_CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).train()
    wrapper = copy.deepcopy(cfg.optim_wrapper.to_dict())
    if precision != 'fp32':
        wrapper.update(
            type='AmpOptimWrapper' if device == 'cuda' else 'AutocastOptimWrapper',
            dtype=dict(bf16='bfloat16', fp16='float16')[precision])
    wrapper = build_optim_wrapper(model, wrapper)
    size = model.backbone.patch_embed.img_size
    gen = torch.Generator().manual_seed(1)
    imgs = torch.randint(0, 256, (4, batch, 3, *size), generator=gen, dtype=torch.uint8).to(device)
    samples = [DataSample() for _ in range(batch)]
    return [
        float(model.train_step(dict(inputs=imgs[i % 4], data_samples=samples), wrapper)['loss'])
        for i in range(steps)
    ]


def part_amp(args, tmp, report):
    run = dict(AMP[args.device], device=args.device)
    curves = {'fp32': loss_curve(precision='fp32', **run)}
    for p in ['fp32', 'bf16'] + (['fp16'] if args.device == 'cuda' else []):
        curves[p if p != 'fp32' else 'fp32 again'] = loss_curve(precision=p, **run)
    ref, diff = curves['fp32'], {}
    for k, v in list(curves.items())[1:]:  # None: a non-finite loss
        finite = all(map(math.isfinite, v + ref))
        diff[k] = max(abs(a - b) / abs(b) for a, b in zip(v, ref)) if finite else None
    return dict(run, config=osp.relpath(TINY_CONFIG, REPO), max_rel_diff=diff, curves=curves)


def part_decode(args, tmp, report):
    pipeline = _tool('analysis_tools/benchmark_pipeline.py')
    rows = report['parts'].get('speed', {}).get('rows', [])
    rate = next((r['img_per_s'] for r in rows if r['label'] == 'dBOT(K=1)'), ASSUMED_STEP_RATE)
    argv = DECODE[args.device].split() + ['--torchvision-decode', args.device, '--step-rate']
    threads = torch.get_num_threads()
    try:
        results = pipeline.main(argv + [str(rate), '--data-dir', osp.join(tmp, 'jpegs')])
    finally:
        torch.set_num_threads(threads)  # benchmark_pipeline runs on one thread
    keys = ('config', 'single', 'speedup', 'loader', 'device_images_s', 'device_share')
    return dict(argv=argv, step_rate=rate, rows=[{k: r.get(k) for k in keys} for r in results])


def part_nccl(args, tmp, report):
    import torch.distributed as dist
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    os.environ.update(
        MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port), RANK='0', LOCAL_RANK='0', WORLD_SIZE='1')
    backend = 'nccl' if args.device == 'cuda' else 'gloo'
    if backend == 'nccl':
        torch.cuda.set_device(0)  # as mmengine's init_dist does
    sync = torch.cuda.synchronize if args.device == 'cuda' else (lambda: None)
    res = dict(backend=backend, nccl=str(torch.cuda.nccl.version()) if backend == 'nccl' else None)
    start = time.perf_counter()
    dist.init_process_group(backend)
    try:
        res['init_s'] = time.perf_counter() - start
        config = 'dbot_vit-b.py' if args.device == 'cuda' else 'dbot_vit-tiny_demo.py'
        torch.manual_seed(0)
        model = MODELS.build(Config.fromfile(osp.join(REPO, 'configs', 'pretrain', config)).model)
        model.init_weights()
        model.to(args.device)
        sync()
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[0] if args.device == 'cuda' else []):
            torch.manual_seed(1000)  # DBotBootstrapHook: run seed + 1000 x stage
            model.bootstrap()
        sync()
        res['bootstrap_s'] = time.perf_counter() - start
        # DBotBootstrapHook's broadcast of rank 0's re-initialised modules
        tensors = [
            t for m in (model.backbone, model.neck, model.teacher) for t in m.state_dict().values()
        ]
        res['broadcast_mb'] = sum(t.numel() * t.element_size() for t in tensors) / 1e6
        for key in ('first_broadcast_s', 'broadcast_s'):  # the first sets up the communicator
            start = time.perf_counter()
            for t in tensors:
                dist.broadcast(t, src=0)
            sync()
            res[key] = time.perf_counter() - start
        res['world_size'] = dist.get_world_size()
    finally:
        dist.destroy_process_group()
    return res


def fmt(x, spec='.3g'):
    return 'n/a' if x is None else format(x, spec)


def render(report: dict) -> str:
    """The Markdown table of a report: one row per measured item."""
    lines = ['| part | item | result |', '|---|---|---|']
    parts = report['parts']
    for name in PARTS:
        if name not in parts:
            continue
        p = parts[name]
        if name in ('speed', 'compile'):
            for r in p.get('rows', []):
                cells = f"{r['img_per_s']:.1f} img/s, {1e3 * r['step_s']:.1f} ms/step"
                if r['mfu'] is not None:
                    cells += f", MFU {100 * r['mfu']:.1f} % ({r['gflop']:.1f} GFLOP/step)"
                if r['peak'] is not None:
                    cells += f", peak {r['peak'] / 2**20:.0f} MiB"
                if r.get('vs_eager'):
                    cells += f", {r['vs_eager']:.2f}x eager"
                lines.append(f"| {name} | {r['label']} | {cells} |")
        elif name == 'amp' and 'max_rel_diff' in p:
            final = ', '.join(f'{k} {v[-1]:.4f}' for k, v in p['curves'].items())
            for k, d in p['max_rel_diff'].items():
                lines.append(f"| amp | {k} vs fp32, {p['steps']} steps | max relative loss "
                             f'difference {fmt(d)} |')
            lines.append(f'| amp | final losses | {final} |')
        elif name == 'decode':
            for r in p.get('rows', []):
                cells = f"{r['single']:.1f} img/s per CPU core"
                if r['device_images_s'] is not None:
                    cells += (f", {r['device_images_s']:.1f} img/s wall clock = "
                              f"{100 * r['device_share']:.1f} % of the device at "
                              f"{p['step_rate']:.0f} img/s")
                for n, lr in (r['loader'] or {}).items():
                    cells += f", {n} workers {lr['images_s']:.0f} img/s"
                lines.append(f"| decode | {osp.basename(r['config'])} | {cells} |")
        elif name == 'nccl' and 'init_s' in p:
            backend = p['backend'] + (f" {p['nccl']}" if p.get('nccl') else '')
            lines.append(f"| nccl | {backend} init, {p.get('world_size')} rank | "
                         f"{p['init_s']:.2f} s; bootstrap {fmt(p.get('bootstrap_s'))} s; "
                         f"broadcast of {fmt(p.get('broadcast_mb'), '.0f')} MB "
                         f"{fmt(p.get('broadcast_s'))} s (first {fmt(p.get('first_broadcast_s'))}"
                         ' s) |')
        if p.get('error'):
            lines.append(f"| {name} | error | {p['error'].splitlines()[0][:200]} |")
        lines.append(f"| {name} | seconds | {p['seconds']:.1f} |")
    cuda = f" (CUDA {report['cuda']})" if report.get('cuda') else ''
    head = (f"gpu_check on {report['device_name']}: torch {report['torch']}{cuda}, Python "
            f"{report['python']}, {report['seconds']:.0f} s")
    return head + '\n\n' + '\n'.join(lines) + '\n'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cuda', choices=['cuda', 'cpu'])
    p.add_argument('--parts', nargs='+', default=list(PARTS), choices=PARTS)
    p.add_argument('--budget', type=float, default=450, help='seconds for all parts')
    p.add_argument('--out', default=osp.join('work_dirs', 'gpu_check', 'gpu_check.json'))
    p.add_argument('--render', metavar='JSON', help='only print the table of a written report')
    args = p.parse_args(argv)
    if args.device == 'cuda' and not args.render and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device available (--device cpu runs the dry run)')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        with open(args.render) as f:
            print(render(json.load(f)), end='')
        return 0
    from mmengine.logging import MMLogger

    import dbot_mm  # noqa: F401  (registers the models, wrappers and transforms)
    MMLogger.get_instance('mmengine', log_level='WARNING')
    cuda = args.device == 'cuda'
    report = dict(
        device=args.device,
        device_name=torch.cuda.get_device_name() if cuda else 'CPU',
        torch=torch.__version__,
        cuda=torch.version.cuda if cuda else None,
        python=platform.python_version(),
        parts={})
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    start, code = time.perf_counter(), 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.parts:
            left = args.budget - (time.perf_counter() - start)
            budget = min(BUDGET_S.get(name, left), left)
            fn = globals()[f'part_{name}']
            if budget < 10:
                report['parts'][name] = dict(error='no time left in --budget', seconds=0.)
            else:
                try:
                    run_part(name, lambda: fn(args, tmp, report), budget, report)
                except KeyboardInterrupt:  # gpu_check.sh's timeout: keep what was measured
                    report['parts'].setdefault(name, dict(error='interrupted', seconds=0.))
                    code = 1
            report['seconds'] = time.perf_counter() - start
            with open(args.out, 'w') as f:
                json.dump(report, f, indent=1)
            if code:
                break
    print(render(report), end='', flush=True)
    print(f'gpu_check: wrote {args.out}')
    return code or int(any(p['error'] for p in report['parts'].values()))


if __name__ == '__main__':
    sys.exit(main())
