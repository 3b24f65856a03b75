# Copyright (c) dbot_mm contributors. All rights reserved.
"""Evaluate a checkpoint with any dbot_mm config: mmpretrain, mmdet or mmseg.

    python tools/test.py CONFIG CHECKPOINT [--out results.pkl] [--show-dir DIR]
    tools/dist_test.sh CONFIG CHECKPOINT GPUS [...]
"""
import argparse
import os.path as osp

import dbot_mm  # noqa: F401  (registers the models and engine pieces)
from dbot_mm.evaluation import build_dump_metric
from dbot_mm.utils.data_root import DataRootError, check_data_root
from dbot_mm.utils.launch import (
    LaunchError,
    add_common_args,
    build_runner,
    load_config,
    merge_test_args,
    parse_args,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        help='dump the predictions to this pickle file (.pkl) for offline '
        'evaluation: scores and labels (mmpretrain), boxes, scores, labels '
        'and RLE masks (mmdet), label maps (mmseg)')
    parser.add_argument(
        '--show-dir',
        help='draw the predictions and save the images to this directory '
        '(enables the config\'s visualization hook)')
    add_common_args(parser)
    return parser


def main():
    parser = build_parser()
    args = parse_args(parser)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f"--out '{args.out}' must end with .pkl or .pickle")
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        parser.error(f"checkpoint '{args.checkpoint}' does not exist")
    try:
        cfg = load_config(args, merge_test_args)
        check_data_root(cfg, ('test_dataloader', ))
    except (LaunchError, DataRootError) as err:
        parser.error(str(err))
    runner = build_runner(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(build_dump_metric(cfg.get('default_scope'), args.out))
    runner.test()


if __name__ == '__main__':
    main()
