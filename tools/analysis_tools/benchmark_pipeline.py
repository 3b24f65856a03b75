"""Images/s per CPU core of pretraining input pipelines, side by side, and the cores per GPU they
need at a given step rate.

Each config's ``train_pipeline`` (default: the shipped one and its fast variant) runs on the same
real JPEGs of ImageNet size (500x375 and 375x500 windows of matplotlib's sample photo
``grace_hopper.jpg``, qualities 75-95, written once to ``--data-dir``), every image under the same
numpy seed in every pipeline, so both crop the same boxes:

- single process, one thread (torch, OpenCV): ``--rounds`` rounds over all images after one
  untimed round, the pipelines' order alternating between rounds; images per CPU second of the
  process (``time.process_time``) from the median round; the speed-up over the first config is
  the median of the per-round ratios (each round against the first config's round next to it), so
  that load from other processes hits both alike;
- through a torch DataLoader with each of ``--workers`` (mmengine's ``default_collate``, batches
  of ``--batch``): one untimed pass (workers start, files cached), then ``--loader-passes`` timed
  passes (wall clock); per core = images/s / workers (a worker per core: meaningful only while
  the workers do not outnumber the idle cores).

Alternatives beside the configs: ``--exact-decode`` also times each config whose
``LoadImageAndRandomResizedCrop`` sets ``fast_dct=True`` with ``fast_dct=False`` (libjpeg's exact
IDCT and fancy upsampling, OpenCV's pixels); ``--torchvision-decode DEVICE`` times torchvision's
``decode_jpeg`` on DEVICE (nvJPEG, batched, on ``cuda``) followed by the same boxes, bicubic
antialiased resize and flip on that device, in batches of ``--batch``: per core is then images per
CPU second of the main process, and on CUDA the wall-clock images/s gives the share of the GPU's
time it takes at ``--step-rate``.

Cores per GPU = ``--step-rate`` (images/s one GPU trains at, e.g. from benchmark_pretrain.py) /
images/s per core.

    python tools/analysis_tools/benchmark_pipeline.py --step-rate 1000 --workers 0 2
    python tools/analysis_tools/benchmark_pipeline.py --exact-decode --torchvision-decode cuda
"""
import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
CONFIGS = [
    'configs/_base_/datasets/imagenet_dbot_pretrain.py',
    'configs/_base_/datasets/imagenet_dbot_pretrain_fast.py'
]
SIZES = ((500, 375), (375, 500))  # (w, h): ImageNet's commonest landscape and portrait sizes


def photo():
    """matplotlib's real photo (512x600 RGB), installed with the project."""
    return Image.open(Path(matplotlib.get_data_path()) / 'sample_data' / 'grace_hopper.jpg')


def write_photo_jpegs(out_dir, num: int, seed: int = 0) -> list:
    """``num`` JPEGs of ImageNet size cut from the photo at full resolution (no resampling):
    random windows, alternately landscape/portrait, mirrored at random, qualities 75-95. Files
    already there are kept. Returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    src = None
    paths = []
    for i in range(num):
        w, h = SIZES[i % 2]
        quality = int(rng.integers(75, 96))
        path = out_dir / f'photo_{i:04d}_{w}x{h}_q{quality}.jpg'
        x, y = (int(rng.integers(0, 512 - w + 1)), int(rng.integers(0, 600 - h + 1)))
        mirror = bool(rng.integers(2))
        if not path.exists():
            src = src or photo().convert('RGB')
            win = src.crop((x, y, x + w, y + h))
            if mirror:
                win = win.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            win.save(path, 'JPEG', quality=quality)
        paths.append(str(path))
    return paths


def load_pipeline_cfg(config) -> list:
    """The config's ``train_pipeline`` (a list of transform dicts)."""
    cfg = Config.fromfile(str(REPO / config) if not os.path.isabs(config) else config)
    return cfg.train_pipeline


def build_pipeline(pipeline_cfg: list):
    """mmengine ``Compose`` of a ``train_pipeline`` from mmpretrain's registry (with dbot_mm's
    transforms registered)."""
    import mmpretrain.datasets  # noqa: F401
    from mmpretrain.registry import TRANSFORMS

    import dbot_mm.datasets  # noqa: F401
    return Compose([TRANSFORMS.build(t) for t in pipeline_cfg])


def exact_decode_variant(pipeline_cfg):
    """The pipeline with ``fast_dct=False`` where a ``LoadImageAndRandomResizedCrop`` sets it
    True; None if none does."""
    fast = [
        t.get('type') == 'LoadImageAndRandomResizedCrop' and t.get('fast_dct', False)
        for t in pipeline_cfg
    ]
    if not any(fast):
        return None
    return [dict(t, fast_dct=False) if f else t for t, f in zip(pipeline_cfg, fast)]


class TorchvisionDecode:
    """torchvision's ``decode_jpeg`` on ``device`` (nvJPEG on CUDA; one batched call), then each
    image's crop box (mmpretrain's sampler under the image's seed, as the pipelines), bicubic
    antialiased resize (float: CUDA has no uint8 antialiased kernel) and flip on that device.
    RGB, CHW: a timing of the GPU path, not a drop-in transform."""

    def __init__(self, device, scale: int = 224):
        from mmpretrain.datasets.transforms import RandomResizedCrop
        self.device = torch.device(device)
        self.scale = scale
        self.sampler = RandomResizedCrop(scale, crop_ratio_range=(0.2, 1.0))

    def __call__(self, paths, seeds) -> torch.Tensor:
        from torchvision.io import ImageReadMode, decode_jpeg
        data = [torch.frombuffer(bytearray(Path(p).read_bytes()), dtype=torch.uint8) for p in paths]
        # (EXIF orientation: applied on the CPU only; nvJPEG ignores it)
        imgs = decode_jpeg(
            data, mode=ImageReadMode.RGB, device=self.device, apply_exif_orientation=True)
        out = []
        for img, seed in zip(imgs, seeds):
            np.random.seed(seed)
            y, x, h, w = self.sampler.rand_crop_params(SimpleNamespace(shape=img.shape[1:]))
            crop = img[None, :, y:y + h, x:x + w].float()
            img = F.interpolate(crop, size=(self.scale, ) * 2, mode='bicubic', antialias=True)
            if np.random.rand() < 0.5:
                img = img.flip(-1)
            out.append(img.round_().clamp_(0, 255).to(torch.uint8))
        return torch.cat(out)


def _sync(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def run_seeded(pipeline, path: str, seed: int):
    np.random.seed(seed)
    return pipeline(dict(img_path=path, sample_idx=seed))


def time_round(pipeline, paths) -> float:
    """CPU seconds of this process (all its threads) for one pass: what a core spends per image,
    not blurred by other processes taking the CPU."""
    start = time.process_time()
    for i, path in enumerate(paths):
        run_seeded(pipeline, path, i)
    return time.process_time() - start


def time_batched_round(decoder, paths, batch: int, wall: list) -> float:
    """``time_round`` for a ``TorchvisionDecode`` over batches of ``batch``; appends the pass's
    wall-clock seconds (device work included) to ``wall``."""
    _sync(decoder.device)
    start, start_wall = time.process_time(), time.perf_counter()
    for b in range(0, len(paths), batch):
        decoder(paths[b:b + batch], range(b, min(b + batch, len(paths))))
    _sync(decoder.device)
    wall.append(time.perf_counter() - start_wall)
    return time.process_time() - start


class _Files(torch.utils.data.Dataset):

    def __init__(self, pipeline, paths):
        self.pipeline, self.paths = pipeline, paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return run_seeded(self.pipeline, self.paths[i], i)


def loader_rate(pipeline, paths, workers: int, batch: int, passes: int) -> float:
    """Images/s of a DataLoader over ``passes`` passes after an untimed one (workers start)."""
    loader = torch.utils.data.DataLoader(
        _Files(pipeline, paths),
        batch_size=batch,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=default_collate)
    for _ in loader:
        pass
    start = time.perf_counter()
    count = sum(len(b['inputs']) for _ in range(passes) for b in loader)
    return count / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--configs',
        nargs='+',
        default=CONFIGS,
        help='configs with a '
        'train_pipeline; the first is the reference of the speed-up')
    parser.add_argument(
        '--exact-decode',
        action='store_true',
        help='also time each config with fast_dct=True with fast_dct=False')
    parser.add_argument(
        '--torchvision-decode',
        metavar='DEVICE',
        default=None,
        help='also time torchvision decode_jpeg + crop/resize/flip on DEVICE (cuda, cpu)')
    parser.add_argument('--images', type=int, default=48, help='JPEGs per round')
    parser.add_argument('--rounds', type=int, default=15)
    parser.add_argument(
        '--workers',
        type=int,
        nargs='*',
        default=[0, 2],
        help='DataLoader workers to time (none: skip the DataLoader)')
    parser.add_argument(
        '--batch',
        type=int,
        default=16,
        help='DataLoader batch size, and '
        'the batch of --torchvision-decode')
    parser.add_argument('--loader-passes', type=int, default=4, help='timed DataLoader passes')
    parser.add_argument(
        '--step-rate',
        type=float,
        default=None,
        help='images/s one GPU trains at: prints the cores per GPU needed')
    parser.add_argument(
        '--data-dir',
        default=None,
        help='where the JPEGs are written once '
        '(default: a temporary folder)')
    parser.add_argument('--out', default=None, help='results as JSON')
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.images < 1 or args.batch < 1:
        parser.error('--rounds, --images and --batch must be >= 1')
    if args.torchvision_decode:
        device = torch.device(args.torchvision_decode)
        if device.type == 'cuda' and not torch.cuda.is_available():
            parser.error(f'--torchvision-decode {args.torchvision_decode}: CUDA is not available')

    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    # (name, pipeline or None, one timed round -> CPU seconds, wall seconds of the rounds or None)
    candidates = []
    for config in args.configs:
        pipeline_cfg = load_pipeline_cfg(config)
        pipe = build_pipeline(pipeline_cfg)
        candidates.append((config, pipe, lambda paths, p=pipe: time_round(p, paths), None))
        exact = exact_decode_variant(pipeline_cfg) if args.exact_decode else None
        if exact is not None:
            pipe = build_pipeline(exact)
            candidates.append((f'{config} (fast_dct=False)', pipe,
                               lambda paths, p=pipe: time_round(p, paths), None))
    if args.torchvision_decode:
        decoder, wall = TorchvisionDecode(args.torchvision_decode), []
        candidates.append(
            (f'torchvision decode_jpeg on {args.torchvision_decode}', None,
             lambda paths: time_batched_round(decoder, paths, args.batch, wall), wall))

    with tempfile.TemporaryDirectory() as tmp:
        paths = write_photo_jpegs(args.data_dir or tmp, args.images)
        for _, _, round_fn, wall_s in candidates:  # untimed: imports, page cache, CUDA start
            round_fn(paths)
            if wall_s is not None:
                wall_s.clear()
        rounds = [[] for _ in candidates]
        for r in range(args.rounds):
            order = range(len(candidates)) if r % 2 == 0 else reversed(range(len(candidates)))
            for k in order:
                rounds[k].append(candidates[k][2](paths))
        results = []
        for (name, pipe, _, wall_s), times in zip(candidates, rounds):
            res = dict(
                config=name,
                single=len(paths) / statistics.median(times),
                speedup=statistics.median(a / b for a, b in zip(rounds[0], times)),
                round_s=times,
                loader={})
            if wall_s is not None:
                res['device_images_s'] = len(paths) / statistics.median(wall_s)
            for n in args.workers if pipe is not None else []:
                rate = loader_rate(pipe, paths, n, args.batch, args.loader_passes)
                res['loader'][n] = dict(images_s=rate, per_core=rate / max(n, 1))
            results.append(res)

    print(f'{len(paths)} JPEGs (500x375 / 375x500, q75-95), median of {args.rounds} rounds, '
          'one thread')
    for res in results:
        line = (f"{res['config']}\n  single process: {res['single']:.1f} images/s per core "
                f"({res['speedup']:.2f}x the first)")
        if args.step_rate:
            res['cores_per_gpu'] = args.step_rate / res['single']
            line += f", {res['cores_per_gpu']:.1f} cores per GPU at {args.step_rate:g} images/s"
        print(line)
        if 'device_images_s' in res:
            line = f"  wall clock: {res['device_images_s']:.1f} images/s"
            if args.step_rate:
                res['device_share'] = args.step_rate / res['device_images_s']
                line += (f", {100 * res['device_share']:.1f} % of the device's time at "
                         f"{args.step_rate:g} images/s")
            print(line)
        for n, lr in res['loader'].items():
            print(f"  DataLoader, {n} workers: {lr['images_s']:.1f} images/s, "
                  f"{lr['per_core']:.1f} per worker")
    if args.out:
        Path(args.out).write_text(json.dumps(dict(args=vars(args), results=results), indent=1))
    return results


if __name__ == '__main__':
    main()
