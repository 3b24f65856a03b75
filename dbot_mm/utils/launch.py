# Copyright (c) dbot_mm contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` share: arguments, config
merging, launchers and the device switches.

The tools work for any config of this project, whatever its scope
(``default_scope`` mmpretrain, mmdet or mmseg): importing ``dbot_mm``
registers everything, and the scope-specific parts (visualisation hooks) are
found through the registry, not by task name.

On a machine without CUDA (CPU-only nodes, CI), mmengine 0.10.7 needs help
(see :func:`adapt_to_device` and :func:`build_runner`): nccl becomes gloo,
the process group is created here because ``mmengine.dist.init_dist`` calls
``torch.cuda.set_device``, and DDP gets ``device_ids=None``.
"""
import argparse
import inspect
import logging
import os
import os.path as osp
import subprocess
from typing import Callable, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.device import is_mlu_available, is_musa_available, is_npu_available
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS, MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import register_checkpoint_safe_globals

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def _accelerator_available() -> bool:
    """CUDA, NPU, MLU or MUSA: the devices mmengine's init_dist and AMP know."""
    return (torch.cuda.is_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


class LaunchError(ValueError):
    """A command-line option cannot be honoured (the tools print one line)."""


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments that train.py and test.py accept alike."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank (torch >= 2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_args(parser: argparse.ArgumentParser, args: Optional[list] = None) -> argparse.Namespace:
    """Parse, and export ``LOCAL_RANK`` for mmengine if no launcher did."""
    parsed = parser.parse_args(args)
    os.environ.setdefault('LOCAL_RANK', str(parsed.local_rank))
    return parsed


def merge_train_args(cfg: Config, args: argparse.Namespace) -> None:
    """Apply train.py's flags (``--amp``, ``--resume``...) to ``cfg``."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise LaunchError(f'--amp supports OptimWrapper configs only, not {wrapper}: '
                              'set the AMP options of that wrapper in the config instead')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None  # prepare_training picks the newest complete one
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        if 'base_batch_size' not in (cfg.get('auto_scale_lr') or {}):
            raise LaunchError('--auto-scale-lr needs auto_scale_lr = dict(base_batch_size=N) '
                              f'in {args.config}')
        cfg.auto_scale_lr.enable = True


def prepare_training(cfg: Config) -> None:
    """What every ``tools/train.py`` run gets (the hooks are in ``dbot_mm/engine/hooks``).

    * checkpoints written atomically (``SafeCheckpointHook`` for ``CheckpointHook``);
    * SIGTERM: checkpoint at the next iteration and exit 75 (``PreemptionHook``);
    * a non-finite loss without a loss scaler stops the run (``NonFiniteLossHook``);
    * ``--resume`` without a path takes the newest checkpoint that reads back completely,
      warning about each damaged one it skips; ``--resume PATH`` must be a resumable checkpoint;
    * ``randomness=None`` means mmengine's default (a random seed, saved for resume).

    Call it after ``--cfg-options`` are merged (they may move ``work_dir``).
    """
    from .checkpoint import find_resume_checkpoint, read_meta

    if cfg.get('randomness', {}) is None:
        cfg.randomness = dict(seed=None)
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if checkpoint and checkpoint.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
        checkpoint.type = 'SafeCheckpointHook'
    hooks = list(cfg.get('custom_hooks') or [])
    for name in ('NonFiniteLossHook', 'PreemptionHook'):
        if not any(isinstance(h, dict) and h.get('type') == name for h in hooks):
            hooks.append(dict(type=name))
    cfg.custom_hooks = hooks
    if not cfg.get('resume'):
        return
    if cfg.get('load_from'):
        if '://' in str(cfg.load_from):
            return  # read by mmengine's checkpoint loaders, not checked here
        try:
            resumable = read_meta(cfg.load_from)[1]
        except Exception as err:
            raise LaunchError(f'--resume {cfg.load_from}: not a readable checkpoint '
                              f'({type(err).__name__}: {str(err).splitlines()[0]})') from None
        if not resumable:
            raise LaunchError(
                f'--resume {cfg.load_from}: holds model weights only (an end-of-stage snapshot '
                'or an exported file: no optimizer, scheduler or iteration); resume from a '
                'checkpoint of the run (epoch_N.pth), or start a new run with load_from')
        return
    found, skipped = find_resume_checkpoint(cfg.work_dir)
    for line in skipped:
        print_log(
            f'--resume: skipping damaged checkpoint {line}',
            logger='current',
            level=logging.WARNING)
    if found is None and skipped:
        raise LaunchError(f'--resume: no complete checkpoint in {cfg.work_dir} (damaged: '
                          f"{'; '.join(skipped)})")
    if found is None:
        print_log(
            f'--resume: no checkpoint in {cfg.work_dir} yet, starting from scratch',
            logger='current',
            level=logging.WARNING)
        cfg.resume = False
    cfg.load_from = found


def merge_test_args(cfg: Config, args: argparse.Namespace) -> None:
    """Apply test.py's flags to ``cfg`` (``--out`` is added to the runner)."""
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir:
        _enable_visualization(cfg, args.show_dir)


def load_config(
        args: argparse.Namespace,
        merge_args: Optional[Callable[[Config, argparse.Namespace], None]] = None) -> Config:
    """Read ``args.config`` and merge the command line into it.

    Order: launcher and work dir, then the tool's own flags (``merge_args``),
    then ``--cfg-options`` (so that they win), then the device switches (so
    that a config written for GPUs runs on a CPU machine).
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    # work_dir priority: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if merge_args is not None:
        merge_args(cfg, args)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    adapt_to_device(cfg)
    return cfg


def _sync_bn_to_bn(node) -> None:
    """Replace every ``type='SyncBN'`` in a (nested) model config by ``'BN'``, in place."""
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for value in node.values():
            _sync_bn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _sync_bn_to_bn(value)


def adapt_to_device(cfg: Config) -> None:
    """Make a GPU config runnable where there is no CUDA.

    * nccl needs CUDA, so it becomes gloo (other backends, e.g. hccl on NPUs,
      are left alone);
    * mmengine's Runner wraps the model in DDP with
      ``device_ids=[LOCAL_RANK]``, which DDP refuses for a CPU module, so the
      wrapper config gets ``device_ids=None``;
    * SyncBN has no CPU kernel: under a launcher every ``SyncBN`` norm_cfg
      becomes ``BN`` (a single process already gets BN from the Runner);
    * mmengine 0.10's ``AmpOptimWrapper`` asserts a CUDA/NPU/MLU/MUSA device,
      so AMP on the CPU is a one-line error here instead of an assertion deep
      inside the Runner.
    """
    if torch.cuda.is_available():
        return
    env_cfg = cfg.get('env_cfg') or dict()
    dist_cfg = env_cfg.get('dist_cfg') or dict()
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg

    if cfg.get('launcher', 'none') != 'none' and not _accelerator_available():
        _sync_bn_to_bn(cfg.model)
        wrapper = cfg.get('model_wrapper_cfg') or dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        with MODEL_WRAPPERS.switch_scope_and_registry(cfg.get('default_scope')) as wrappers:
            wrapper_cls = wrappers.get(wrapper.get('type', 'MMDistributedDataParallel'))
        if (inspect.isclass(wrapper_cls) and issubclass(wrapper_cls, DistributedDataParallel)):
            wrapper.setdefault('device_ids', None)
        cfg.model_wrapper_cfg = wrapper

    optim_wrapper = cfg.get('optim_wrapper') or dict()
    if (optim_wrapper.get('type') == 'AmpOptimWrapper' and not _accelerator_available()):
        raise LaunchError("AMP (--amp or optim_wrapper.type='AmpOptimWrapper') needs a "
                          "CUDA, NPU, MLU or MUSA device: mmengine's AmpOptimWrapper "
                          'refuses the CPU')


def _enable_visualization(cfg: Config, show_dir: str) -> None:
    """Turn the config's visualisation hook on, writing images to show_dir.

    The hook classes differ per scope (mmpretrain ``enable``/``out_dir``,
    mmdet ``draw``/``test_out_dir``, mmseg ``draw`` + visualizer
    ``save_dir``); they are told apart by their arguments.
    """
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise LaunchError('--show-dir needs default_hooks.visualization in '
                          'the config')
    with HOOKS.switch_scope_and_registry(cfg.get('default_scope')) as hooks:
        hook_cls = hooks.get(hook['type'])
    if hook_cls is None:
        raise LaunchError(f"unknown visualization hook {hook['type']}")
    params = inspect.signature(hook_cls.__init__).parameters
    if 'enable' in params:
        hook['enable'] = True
    if 'draw' in params:
        hook['draw'] = True
    if 'out_dir' in params:
        hook['out_dir'] = show_dir
    elif 'test_out_dir' in params:
        hook['test_out_dir'] = show_dir
    else:
        cfg.visualizer['save_dir'] = show_dir


def init_cpu_dist(launcher: str, backend: str = 'gloo', **kwargs) -> None:
    """Create the process group on a machine without an accelerator.

    mmengine's ``init_dist`` calls ``torch.cuda.set_device``; the Runner skips
    it when a process group already exists. Reads the same environment as
    mmengine: torchrun's (pytorch), slurm's or Open MPI's.
    """
    env = os.environ
    if launcher == 'slurm':
        node_list = env['SLURM_NODELIST']
        env.setdefault('MASTER_ADDR',
                       subprocess.getoutput(f'scontrol show hostname {node_list} | head -n1'))
        env.setdefault('MASTER_PORT', '29500')
        env['WORLD_SIZE'] = env['SLURM_NTASKS']
        env['RANK'] = env['SLURM_PROCID']
        env['LOCAL_RANK'] = env.get('SLURM_LOCALID', '0')
    elif launcher == 'mpi':
        env.setdefault('MASTER_ADDR', '127.0.0.1')
        env.setdefault('MASTER_PORT', '29500')
        env['WORLD_SIZE'] = env['OMPI_COMM_WORLD_SIZE']
        env['RANK'] = env['OMPI_COMM_WORLD_RANK']
        env['LOCAL_RANK'] = env['OMPI_COMM_WORLD_LOCAL_RANK']
    elif launcher != 'pytorch':
        raise LaunchError(f'unknown launcher {launcher}')
    timeout = kwargs.pop('timeout', None)
    if timeout is not None:
        import datetime
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend=backend, rank=int(env['RANK']), world_size=int(env['WORLD_SIZE']), **kwargs)


def build_runner(cfg: Config) -> Runner:
    """Build the Runner (``cfg.runner_type`` if set), ready on CPU or GPU."""
    register_checkpoint_safe_globals()  # resume/load_from use torch.load
    launcher = cfg.get('launcher', 'none')
    if (launcher != 'none' and not _accelerator_available() and not torch_dist.is_initialized()):
        dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}))
        dist_cfg.pop('init_backend', None)
        init_cpu_dist(launcher, **dist_cfg)
        print_log(
            f'no CUDA: initialised {launcher} process group with backend '
            f"{dist_cfg.get('backend', 'gloo')}",
            logger='current',
            level=logging.INFO)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    load_from = cfg.get('load_from')
    if load_from and str(load_from).startswith(('http://', 'https://')):
        # mmengine would read the URL through torch.hub with weights_only=False (code in the file
        # runs): the checked, cached download instead, which mmengine reads as a local file; here,
        # after the Runner, because the download waits on the process group the Runner sets up
        from .checkpoint import cached_download
        runner._load_from = load_from = cached_download(load_from)
    if load_from:
        _skip_pretrained_init(runner, load_from)
    return runner


def _is_pretrained(init_cfg) -> bool:
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    return any(isinstance(c, dict) and c.get('type') == 'Pretrained' for c in cfgs)


def _skip_pretrained_init(runner: Runner, checkpoint: str) -> None:
    """When the checkpoint to resume or load holds every weight of the model, modules with a
    ``Pretrained`` ``init_cfg`` are not initialised from that file first (it may have moved
    since the run started; its weights would be overwritten anyway)."""
    from .checkpoint import read_state_keys
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    try:
        keys = read_state_keys(checkpoint)
    except Exception:
        return  # the runner reports an unreadable file when it loads it
    if not set(model.state_dict()) <= keys:
        return
    for module in model.modules():
        if hasattr(module, 'is_init') and _is_pretrained(getattr(module, 'init_cfg', None)):
            module.is_init = True
