"""Mini benchmark on real images: does dBOT pretraining learn something transferable, and what do
its bootstrapping stages add?

    python tools/analysis_tools/mini_benchmark.py                 # full: ~85 min on 2 cores
    python tools/analysis_tools/mini_benchmark.py --quick         # `make demo`: ~12 min
    python tools/analysis_tools/mini_benchmark.py --curve         # budget curve, one seed

On Fashion-MNIST (Debian package ``dataset-fashion-mnist``, written once as an ImageNet-style
folder of 32 px PNGs), the same ViT (64 wide x 4 blocks, 4 px patches) is pretrained with

- ``dbot``: dBOT with several bootstrapping stages (the paper's method),
- ``dbot-1stage``: dBOT in one stage (distillation from the frozen random teacher only),
- ``mae``: mmpretrain's MAE (pixel target) with the same encoder, decoder size and budget,

and each, with **random init** and **raw pixels** beside them, is evaluated by k-NN and a linear
probe on frozen features (``eval_frozen_features.py``) and a short full fine-tune
(``tools/train.py``), for every seed. Every run is a config of ``configs/mini_benchmark/`` run
by the project's own tools in its own work dir (finished runs are skipped, interrupted ones
resume); the tables come from ``dbot_mm.reporting`` (``WORK_DIR/<setting>/tables``) and the
summary with the property analysis plots is ``WORK_DIR/<setting>/report.md``.
"""
import argparse
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path[:0] = [REPO, osp.join(REPO, 'tools')]  # dbot_mm and tools/job_runner.py

from job_runner import Job, log, run_jobs, train_job  # noqa: E402

CFG = 'configs/mini_benchmark'
# method -> (pretraining config, label)
METHODS = {
    'dbot': (f'{CFG}/dbot_vit-mini-p4_1xb128-3x5e_fashion-mnist.py', 'dBOT, multi-stage'),
    'dbot-1stage': (f'{CFG}/dbot_vit-mini-p4_1xb128-1x15e_fashion-mnist.py', 'dBOT, 1 stage'),
    'mae': (f'{CFG}/mae_vit-mini-p4_1xb128-15e_fashion-mnist.py', 'MAE (mmpretrain)'),
}
FINETUNE = f'{CFG}/vit-mini-p4_1xb128-ft-3e_fashion-mnist.py'
PROTOCOLS = ('knn', 'linear', 'finetune')
DATA_KEYS = ('train_dataloader.dataset.data_root', 'val_dataloader.dataset.data_root',
             'test_dataloader.dataset.data_root')


@dataclass(frozen=True)
class Setting:
    """One budget: images, epochs (= images seen / images), stages of the multi-stage dBOT."""
    num_train: int
    num_val: int
    epochs: int
    stages: int
    seeds: Tuple[int, ...]
    methods: Tuple[str, ...] = tuple(METHODS)
    protocols: Tuple[str, ...] = PROTOCOLS

    @property
    def name(self) -> str:
        return f'n{self.num_train}_e{self.epochs}_s{self.stages}'


# full: 5k images x 15 epochs (3 stages of 5), 3 seeds: one pretraining run is ~8 min on a core
# (10k images would double it and the full benchmark would pass 90 min on 2 cores);
# quick (`make demo`, ~12 min): dBOT in one stage at the full budget, two seeds, the frozen-feature
# protocols - at 6 epochs (2 stages of 3) neither dBOT variant beat random init by more than the
# seed spread (docs/mini_benchmark.md), and the multi-stage one does not at 15 epochs either
FULL = Setting(5000, 2000, 15, 3, (0, 1, 2))
QUICK = Setting(5000, 2000, 15, 3, (0, 1), ('dbot-1stage', ), ('knn', 'linear'))
# the budget curve (one seed): more epochs, and the stage length at a fixed budget
CURVE = [
    Setting(10000, 2000, 15, 3, (0, ), ('dbot', 'dbot-1stage'), ('knn', 'linear')),  # 2x images
    Setting(5000, 2000, 30, 3, (0, ), ('dbot', 'dbot-1stage'), ('knn', 'linear')),  # 2x epochs
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/mini_benchmark')
    parser.add_argument('--data-root', default='data/fashion_mnist')
    parser.add_argument('--quick', action='store_true', help='the small `make demo` variant')
    parser.add_argument('--curve', action='store_true', help='the budget curve points')
    parser.add_argument('--num-train', type=int, help='override the setting\'s images')
    parser.add_argument('--num-val', type=int)
    parser.add_argument('--epochs', type=int, help='pretraining epochs of every method')
    parser.add_argument('--stages', type=int, help='stages of the multi-stage dBOT')
    parser.add_argument('--seeds', type=int, nargs='+')
    parser.add_argument('--methods', nargs='+', choices=list(METHODS))
    parser.add_argument('--protocols', nargs='+', choices=PROTOCOLS)
    parser.add_argument('--jobs', type=int, default=2, help='runs at once (one core each)')
    args = parser.parse_args(argv)
    base = [QUICK] if args.quick else CURVE if args.curve else [FULL]
    over = {
        k: tuple(v) if isinstance(v, list) else v
        for k, v in dict(
            num_train=args.num_train,
            num_val=args.num_val,
            epochs=args.epochs,
            stages=args.stages,
            seeds=args.seeds,
            methods=args.methods,
            protocols=args.protocols).items() if v is not None
    }
    args.settings = [replace(s, **over) for s in base]
    for s in args.settings:
        if s.num_train < 128:
            parser.error(f'--num-train {s.num_train}: at least one batch (128) is needed')
        if s.epochs % s.stages:
            parser.error(f'--epochs {s.epochs} is not a multiple of --stages {s.stages}')
    return args


def stage_epochs(setting: Setting, method: str) -> List[int]:
    stages = setting.stages if method == 'dbot' else 1
    step = setting.epochs // stages
    return [step * k for k in range(stages + 1)]


def pretrain_options(setting: Setting, method: str, seed: int, data: str) -> Dict[str, str]:
    stages = stage_epochs(setting, method)
    opts = {
        'train_dataloader.dataset.dataset.data_root': data,
        'randomness.seed': seed,
        'train_cfg.max_epochs': setting.epochs,
        'param_scheduler.0.stage_epochs': str(stages).replace(' ', ''),
        'default_hooks.checkpoint.interval': stages[1],
    }
    if method != 'mae':
        opts['custom_hooks.0.stage_epochs'] = opts['param_scheduler.0.stage_epochs']
    return opts


def prepare_data(setting: Setting, root: str) -> str:
    folder = osp.join(root, f'train{setting.num_train}_val{setting.num_val}')
    subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools/dataset_converters/fashion_mnist_to_folder.py'), folder,
        '--num-train',
        str(setting.num_train), '--num-val',
        str(setting.num_val)
    ],
                   check=True)
    return folder


def model_checkpoints(setting: Setting, out: str) -> Dict[Tuple[str, int], Optional[str]]:
    """(method, seed) -> the backbone checkpoint a downstream run loads (prefix 'backbone.'):
    the dBOT student of the last epoch, MAE converted to our ViT's keys, None = random init."""
    ckpts = {}
    for seed in setting.seeds:
        for method in setting.methods:
            last = osp.join(out, f'{method}_seed{seed}', f'epoch_{setting.epochs}.pth')
            if method == 'mae':
                converted = osp.join(out, f'{method}_seed{seed}', 'backbone_dbot_mm.pth')
                if not osp.isfile(converted):
                    subprocess.run([
                        sys.executable,
                        osp.join(REPO, 'tools/model_converters/mmpretrain_vit_to_dbot_mm.py'), last,
                        converted
                    ],
                                   check=True)
                last = converted
            ckpts[(method, seed)] = last
        ckpts[('random', seed)] = None
    return ckpts


def frozen_job(name: str, out: str, data: str, features: List[str], seed: int) -> Job:
    """An ``eval_frozen_features.py`` job (k-NN + linear probe) on the fine-tune config's data."""
    wd = osp.join(out, name)
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools/analysis_tools/eval_frozen_features.py'),
        osp.join(REPO, FINETUNE), *features, '--work-dir', wd, '--num-workers', '0', '--seed',
        str(seed), '--cfg-options', *[f'{k}={data}' for k in DATA_KEYS]
    ]
    return Job(name, cmd, wd, cwd=REPO)


def eval_jobs(setting: Setting, out: str, data: str, ckpts) -> List[Job]:
    jobs = []
    for (method, seed), ckpt in ckpts.items():
        if {'knn', 'linear'} & set(setting.protocols):
            init = ['--checkpoint', ckpt, '--prefix', 'backbone.'] if ckpt else []
            jobs.append(frozen_job(f'frozen_{method}_seed{seed}', out, data, init, seed))
        if 'finetune' in setting.protocols:
            opts = {k: data for k in DATA_KEYS}
            opts['randomness.seed'] = seed
            if ckpt:
                opts['model.backbone.init_cfg.checkpoint'] = ckpt
            else:
                opts['model.backbone.init_cfg'] = None
            jobs.append(
                train_job(f'finetune_{method}_seed{seed}', REPO, FINETUNE,
                          osp.join(out, f'finetune_{method}_seed{seed}'), opts))
    jobs.append(frozen_job('frozen_raw-pixels', out, data, ['--raw-pixels'], 0))
    return jobs


def write_random_init(path: str, seed: int) -> str:
    """The fine-tune config's backbone at its random init, as a checkpoint for the analysis."""
    if osp.isfile(path):
        return path
    import torch
    from mmengine.config import Config
    from mmengine.runner import set_random_seed

    from dbot_mm.models import DBotViT
    cfg = Config.fromfile(osp.join(REPO, FINETUNE)).model.backbone
    cfg.pop('type')
    cfg.pop('init_cfg')
    set_random_seed(seed)
    model = DBotViT(**cfg)
    model.init_weights()
    state = {f'backbone.{k}': v for k, v in model.state_dict().items()}
    torch.save({'state_dict': state, 'meta': {'random_init_seed': seed}}, path)
    return path


def analysis_job(setting: Setting, out: str, data: str, ckpts) -> Job:
    seed = setting.seeds[0]
    files, labels = [], []
    for method in setting.methods:
        files.append(ckpts[(method, seed)])
        labels.append(METHODS[method][1])
    files.append(write_random_init(osp.join(out, f'random_init_seed{seed}.pth'), seed))
    labels.append('random init')
    wd = osp.join(out, 'representations')
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools/analysis_tools/analyze_representations.py'), *files, '--labels',
        *labels, '--data',
        osp.join(data, 'val'), '--img-size', '32', '--num-heads', '4', '--num-images', '500',
        '--num-workers', '0', '--out-dir', wd
    ]
    return Job('representations', cmd, wd, cwd=REPO)


class LoadSampler(threading.Thread):
    """1-minute load average every 30 s while the benchmark runs (reported with its time)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: List[float] = []
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.wait(30):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> str:
        self._stop_event.set()
        if not self.samples:
            return 'n/a'
        return (f'mean {sum(self.samples) / len(self.samples):.2f}, max '
                f'{max(self.samples):.2f} ({os.cpu_count()} cores)')


def run_setting(setting: Setting, args) -> None:
    t0 = time.time()
    load = LoadSampler()
    load.start()
    out = osp.abspath(osp.join(args.work_dir, setting.name))
    os.makedirs(out, exist_ok=True)
    log(f'setting {setting}', 'mini')
    data = prepare_data(setting, osp.abspath(args.data_root))
    pre = [
        train_job(f'{m}_seed{s}', REPO, METHODS[m][0], osp.join(out, f'{m}_seed{s}'),
                  pretrain_options(setting, m, s, data)) for s in setting.seeds
        for m in setting.methods
    ]
    run_jobs(pre, slots=args.jobs, tag='mini')
    ckpts = model_checkpoints(setting, out)
    run_jobs(
        eval_jobs(setting, out, data, ckpts) + [analysis_job(setting, out, data, ckpts)],
        slots=args.jobs,
        tag='mini')
    minutes = (time.time() - t0) / 60
    write_report(setting, out, minutes, load.stop(), args)


def write_report(setting: Setting, out: str, minutes: float, load: str, args) -> None:
    from dbot_mm.reporting import build_tables
    from dbot_mm.reporting.mini_report import mini_report
    from dbot_mm.reporting.table_writer import write_outputs
    tables = build_tables([out], stream=None)
    write_outputs(tables, osp.join(out, 'tables'))
    text = mini_report(tables, setting, METHODS, minutes, load, ' '.join(sys.argv))
    with open(osp.join(out, 'report.md'), 'w') as f:
        f.write(text)
    print(text)
    with open(osp.join(out, 'timing.json'), 'w') as f:
        json.dump(dict(minutes=minutes, load=load, setting=setting.__dict__), f)


def main(argv=None):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('mini_benchmark: terminated'))
    args = parse_args(argv)
    for setting in args.settings:
        run_setting(setting, args)
    write_curve(args.work_dir)


def write_curve(work_dir: str) -> None:
    """``WORK_DIR/curve.md``: every setting measured so far, one row per model (first seed)."""
    from dbot_mm.reporting import build_tables
    from dbot_mm.reporting.mini_report import curve_rows
    settings = []
    for name in sorted(os.listdir(work_dir)):
        timing = osp.join(work_dir, name, 'timing.json')
        if osp.isfile(timing):
            with open(timing) as f:
                setting = Setting(
                    **{
                        k: tuple(v) if isinstance(v, list) else v
                        for k, v in json.load(f)['setting'].items()
                    })
            settings.append((setting, build_tables([osp.join(work_dir, name)], stream=None)))
    text = curve_rows(settings, METHODS)
    with open(osp.join(work_dir, 'curve.md'), 'w') as f:
        f.write(text)
    print(text)


if __name__ == '__main__':
    main()
