# Copyright (c) dbot_mm contributors. All rights reserved.
"""Train (or pretrain) with any dbot_mm config: mmpretrain, mmdet or mmseg.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH]] [--amp]
    tools/dist_train.sh CONFIG GPUS [...]        # torchrun, any number of nodes

Every run writes its checkpoints atomically, saves and exits with code 75 on SIGTERM (continue
with ``--resume``; ``tools/slurm_train.sh --requeue`` does it), and stops with exit code 1 and one
line at the first non-finite loss when no loss scaler handles it (see prepare_training in
dbot_mm/utils/launch.py).
"""
import argparse
import sys

import dbot_mm  # noqa: F401  (registers models, hooks, datasets, metrics)
from dbot_mm.engine.hooks import NonFiniteLossError
from dbot_mm.utils.data_root import DataRootError, check_data_root
from dbot_mm.utils.launch import (
    LaunchError,
    add_common_args,
    build_runner,
    load_config,
    merge_train_args,
    parse_args,
    prepare_training,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or, without a path, from the '
        'latest checkpoint in the work directory')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training (AmpOptimWrapper, '
        'dynamic loss scale)')
    parser.add_argument(
        '--no-validate', action='store_true', help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate linearly with the actual batch size '
        '(world size x batch per GPU) over auto_scale_lr.base_batch_size')
    add_common_args(parser)
    return parser


def main():
    parser = build_parser()
    args = parse_args(parser)
    try:
        cfg = load_config(args, merge_train_args)
        prepare_training(cfg)
        check_data_root(cfg, ('train_dataloader', ) if args.no_validate else
                        ('train_dataloader', 'val_dataloader'))
    except (LaunchError, DataRootError) as err:
        parser.error(str(err))
    runner = build_runner(cfg)
    try:
        runner.train()
    except NonFiniteLossError as err:
        sys.exit(f'train.py: {err}')


if __name__ == '__main__':
    main()
