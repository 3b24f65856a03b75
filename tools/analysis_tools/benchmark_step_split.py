"""Where a pretraining step's time goes: data / preprocess / teacher / student / backward /
optimizer, per config, measured in one run.

Each config is built through ``Runner.from_cfg`` (its own data loader, model and optimizer
wrapper, gradient clipping included) and trained for ``--warmup`` untimed steps, then
``--steps`` timed steps, the configs taking turns for ``--rounds`` rounds (load from other
processes hits them alike); each part is the median over the rounds of its mean per step.
``data`` = ``next()`` on the loader (reading, transforms, collate), ``preprocess`` = the data
preprocessor, ``teacher`` = ``DBOT.compute_target`` (0 for a model without a teacher, e.g.
mmpretrain's MAE), ``student`` = masking, encoder, decoder and loss, ``backward``, ``optimizer`` =
``optim_wrapper.step`` (clip + AdamW) + ``zero_grad``. One thread by default (one process per core,
as the mini benchmark runs).

    python tools/analysis_tools/benchmark_step_split.py \\
        configs/mini_benchmark/dbot_vit-mini-p4_1xb128-1x15e_fashion-mnist.py --cfg-options \\
        train_dataloader.dataset.dataset.data_root=data/fashion_mnist/train2500_val2000
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import tempfile
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

PARTS = ('data', 'preprocess', 'teacher', 'student', 'backward', 'optimizer')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('configs', nargs='+')
    p.add_argument('--labels', nargs='+', help='one per config (default: the file names)')
    p.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={}, help='applied to every config')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', help='also write the figures (.json)')
    args = p.parse_args(argv)
    if args.labels and len(args.labels) != len(args.configs):
        p.error(f'--labels: {len(args.labels)} given for {len(args.configs)} configs')
    return args


class Stepper:
    """One config's runner parts and a timed training step."""

    def __init__(self, config: str, options: dict, work_dir: str):
        cfg = Config.fromfile(config)
        cfg.merge_from_dict(options)
        cfg.work_dir = work_dir
        cfg.log_level = 'WARNING'
        runner = Runner.from_cfg(cfg)
        self.model = runner.model
        self.model.init_weights()
        self.model.train()
        self.optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
        self.loader = runner.build_dataloader(cfg.train_dataloader)
        self._batches = iter(())

    def _next(self):
        try:
            return next(self._batches)
        except StopIteration:
            self._batches = iter(self.loader)
            return next(self._batches)

    def step(self) -> dict:
        t = {}
        clock = time.perf_counter()

        def lap(name):
            nonlocal clock
            now = time.perf_counter()
            t[name] = now - clock
            clock = now

        batch = self._next()
        lap('data')
        data = self.model.data_preprocessor(batch, True)
        lap('preprocess')
        inputs, samples = data['inputs'], data['data_samples']
        with self.optim_wrapper.optim_context(self.model):  # autocast, as train_step
            if hasattr(self.model, 'compute_target'):  # dBOT: the teacher apart from the student
                loss = self._dbot_loss(inputs, lap)
            else:
                t['teacher'] = 0.0
                loss = self.model.loss(inputs, samples)['loss']
                lap('student')
        loss.backward()
        lap('backward')
        self.optim_wrapper.step()
        self.optim_wrapper.zero_grad()
        lap('optimizer')
        return t

    def _dbot_loss(self, inputs, lap):
        from dbot_mm.models.selfsup.dbot import random_masking
        m = self.model
        inputs = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        target = m.compute_target(inputs)
        lap('teacher')
        ids_keep, ids_restore, mask = random_masking(inputs.shape[0] * m.num_masks,
                                                     m.num_patches(inputs), m.mask_ratio,
                                                     inputs.device)
        pred = m.neck(m.backbone.forward_masked(inputs, ids_keep), ids_restore)
        loss = m.head.loss(pred, target, mask)
        lap('student')
        return loss


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    import dbot_mm  # noqa: F401  registers the project's modules
    labels = args.labels or [osp.splitext(osp.basename(c))[0] for c in args.configs]
    with tempfile.TemporaryDirectory() as tmp:
        steppers = [
            Stepper(c, args.cfg_options, osp.join(tmp, str(i))) for i, c in enumerate(args.configs)
        ]
        for s in steppers:
            for _ in range(args.warmup):
                s.step()
        rounds = {label: [] for label in labels}
        for r in range(args.rounds):
            order = list(zip(labels, steppers))
            for label, s in order if r % 2 == 0 else order[::-1]:
                steps = [s.step() for _ in range(args.steps)]
                rounds[label].append({k: statistics.fmean(x[k] for x in steps) for k in PARTS})
            print(f'round {r + 1}/{args.rounds} done', file=sys.stderr, flush=True)
    result = {
        label: {
            k: statistics.median(x[k] for x in per) * 1e3
            for k in PARTS
        }
        for label, per in rounds.items()
    }
    batch = {label: s.loader.batch_size for label, s in zip(labels, steppers)}
    print(f'ms per step ({args.threads} thread(s), median of {args.rounds} rounds of '
          f'{args.steps} steps)')
    print('| config | batch | ' + ' | '.join(PARTS) + ' | total | img/s |')
    print('|---' * (len(PARTS) + 4) + '|')
    for label, parts in result.items():
        total = sum(parts.values())
        parts['total'] = total
        print(f'| {label} | {batch[label]} | ' + ' | '.join(f'{parts[k]:.1f}' for k in PARTS) +
              f' | {total:.1f} | {batch[label] / total * 1e3:.0f} |')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(ms_per_step=result, batch=batch, threads=args.threads), f, indent=1)


if __name__ == '__main__':
    main()
