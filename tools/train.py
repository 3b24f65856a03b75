# Copyright (c) dbot_mm contributors. All rights reserved.
"""Train (or pretrain) with any dbot_mm config: mmpretrain, mmdet or mmseg (mmpretrain's tool).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp]
    tools/dist_train.sh CONFIG GPUS [...]        # torchrun, any number of nodes

The runtime bases of the configs make every run write its checkpoints atomically, save and exit
with code 75 on SIGTERM (continue with ``--resume``; ``tools/slurm_train.sh --requeue`` does it),
and stop with exit code 1 and one line at the first non-finite loss that no loss scaler handles.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

import dbot_mm  # noqa: F401  (registers models, hooks, datasets, metrics)
from dbot_mm.engine.hooks import BadFilesError, NonFiniteLossError
from dbot_mm.utils.data_root import DataRootError, check_data_root
from dbot_mm.utils.launch import LaunchError, build_runner


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint, or from the newest complete one in the work dir')
    parser.add_argument('--amp', action='store_true', help='enable mixed-precision training')
    parser.add_argument('--no-validate', action='store_true', help='do not evaluate in training')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale lr by the batch size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='key=value overrides')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    # torch.distributed.launch passes --local-rank (torch >= 2.0); torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Merge CLI arguments to config."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise LaunchError(f'--amp supports OptimWrapper configs only, not {wrapper}: '
                              'set the AMP options of that wrapper in the config instead')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'  # loss_scale='dynamic' by default
    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = None if args.resume == 'auto' else args.resume
    if args.auto_scale_lr:
        if 'base_batch_size' not in (cfg.get('auto_scale_lr') or {}):
            raise LaunchError('--auto-scale-lr needs auto_scale_lr = dict(base_batch_size=N) '
                              f'in {args.config}')
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()
    try:
        cfg = merge_args(Config.fromfile(args.config), args)
        check_data_root(cfg, ('train_dataloader', 'val_dataloader'))
        runner = build_runner(cfg)
    except (LaunchError, DataRootError) as err:
        sys.exit(f'train.py: error: {err}')
    try:
        runner.train()
    except (NonFiniteLossError, BadFilesError, DataRootError) as err:  # DataRootError: ImageFolder
        sys.exit(f'train.py: {err}')


if __name__ == '__main__':
    main()
