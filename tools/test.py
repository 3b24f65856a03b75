# Copyright (c) dbot_mm contributors. All rights reserved.
"""Evaluate a checkpoint with any dbot_mm config: mmpretrain, mmdet or mmseg (mmpretrain's tool).

    python tools/test.py CONFIG CHECKPOINT [--out results.pkl] [--show-dir DIR]
    tools/dist_test.sh CONFIG CHECKPOINT GPUS [...]
"""
import argparse
import inspect
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction
from mmengine.registry import HOOKS

import dbot_mm  # noqa: F401  (registers the models and engine pieces)
from dbot_mm.evaluation import build_dump_metric
from dbot_mm.utils.data_root import DataRootError, check_data_root
from dbot_mm.utils.launch import LaunchError, build_runner


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument(
        '--out',
        help='dump the predictions to this .pkl file for offline evaluation: scores and labels '
        '(mmpretrain), boxes, scores, labels and RLE masks (mmdet), label maps (mmseg)')
    parser.add_argument('--show-dir', help='draw the predictions into this dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='key=value overrides')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    # torch.distributed.launch passes --local-rank (torch >= 2.0); torchrun sets LOCAL_RANK
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f"--out '{args.out}' must end with .pkl or .pickle")
    if '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        parser.error(f"checkpoint '{args.checkpoint}' does not exist")
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Merge CLI arguments to config."""
    cfg.launcher = args.launcher
    # work_dir is determined in this priority: CLI > segment in file > filename
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir is not None:
        # mmpretrain's hook takes enable/out_dir, mmdet's draw/test_out_dir, mmseg's draw and
        # its visualizer's save_dir: told apart by their arguments
        hook = cfg.get('default_hooks', {}).get('visualization')
        if hook is None:
            raise LaunchError('--show-dir needs default_hooks.visualization in the config')
        with HOOKS.switch_scope_and_registry(cfg.get('default_scope')) as hooks:
            params = inspect.signature(hooks.get(hook['type']).__init__).parameters
        hook.update({k: True for k in ('enable', 'draw') if k in params})
        if 'out_dir' in params or 'test_out_dir' in params:
            hook['out_dir' if 'out_dir' in params else 'test_out_dir'] = args.show_dir
        else:
            cfg.visualizer['save_dir'] = args.show_dir
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()
    try:
        cfg = merge_args(Config.fromfile(args.config), args)
        check_data_root(cfg, ('test_dataloader', ))
        runner = build_runner(cfg)
    except (LaunchError, DataRootError) as err:
        sys.exit(f'test.py: error: {err}')
    if args.out is not None:
        runner.test_evaluator.metrics.append(build_dump_metric(cfg.get('default_scope'), args.out))
    runner.test()


if __name__ == '__main__':
    main()
