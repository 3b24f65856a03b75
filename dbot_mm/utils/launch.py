# Copyright (c) dbot_mm contributors. All rights reserved.
"""What ``tools/train.py`` and ``tools/test.py`` add to ``Runner.from_cfg(cfg)``, the run that the
config names (hooks included): the checkpoint ``--resume`` continues from, a ``load_from`` URL read
through the checked download cache, and a CUDA config on a machine without CUDA.
"""
import datetime
import logging
import os
import subprocess

import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import cached_download, find_resume_checkpoint, read_meta, read_state_keys


class LaunchError(ValueError):
    """A command-line option cannot be honoured (the tools print one line)."""


def build_runner(cfg: Config) -> Runner:
    """The Runner as mmpretrain's tools build it, after :func:`adapt_to_device` and
    :func:`resolve_resume`. An http(s) ``load_from`` is read from the checked, cached download
    (mmengine's torch.hub read unpickles fully: code in the file runs); after the Runner, because
    the download waits on the process group the Runner sets up."""
    adapt_to_device(cfg)
    resolve_resume(cfg)
    launcher = cfg.get('launcher', 'none')
    if launcher != 'none' and _on_cpu() and not torch_dist.is_initialized():
        _init_cpu_dist(launcher, **cfg.env_cfg.dist_cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    load_from = cfg.get('load_from')
    if load_from and str(load_from).startswith(('http://', 'https://')):
        runner._load_from = load_from = cached_download(load_from)
    if load_from:
        _skip_pretrained_init(runner, load_from)
    return runner


def resolve_resume(cfg: Config) -> None:
    """``resume`` without ``load_from``: the newest checkpoint of ``work_dir`` that reads back
    completely (mmengine takes ``last_checkpoint``, damaged or not); else a checkpoint of a run."""
    load_from = cfg.get('load_from')
    if not cfg.get('resume') or '://' in str(load_from):
        return  # a URL is read by mmengine's checkpoint loaders, not checked here
    if load_from:
        try:
            resumable = read_meta(load_from)[1]
        except Exception as err:
            raise LaunchError(f'--resume {load_from}: not a readable checkpoint '
                              f'({type(err).__name__}: {str(err).splitlines()[0]})') from None
        if not resumable:
            raise LaunchError(
                f'--resume {load_from}: holds model weights only (an end-of-stage snapshot or an '
                'exported file: no optimizer, scheduler or iteration); resume from a checkpoint '
                'of the run (epoch_N.pth), or start a new run with load_from')
        return
    found, skipped = find_resume_checkpoint(cfg.work_dir)
    for line in skipped:
        print_log(f'--resume: skipping damaged checkpoint {line}', 'current', logging.WARNING)
    if found is None and skipped:
        raise LaunchError(f'--resume: no complete checkpoint in {cfg.work_dir} (damaged: '
                          f"{'; '.join(skipped)})")
    if found is None:
        print_log(f'--resume: no checkpoint in {cfg.work_dir} yet, starting from scratch',
                  'current', logging.WARNING)
    cfg.resume, cfg.load_from = found is not None, found


def _skip_pretrained_init(runner: Runner, checkpoint: str) -> None:
    """A checkpoint that holds every weight of the model: the ``Pretrained`` init_cfg files are
    not read first (they may have moved since the run started; their weights are replaced)."""
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    try:
        if not set(model.state_dict()) <= read_state_keys(checkpoint):
            return
    except Exception:
        return  # the runner reports an unreadable file when it loads it
    for module in model.modules():
        cfgs = getattr(module, 'init_cfg', None)
        cfgs = cfgs if isinstance(cfgs, (list, tuple)) else [cfgs]
        if hasattr(module, 'is_init') and any(
                isinstance(c, dict) and c.get('type') == 'Pretrained' for c in cfgs):
            module.is_init = True


# Users on CPU-only nodes (and CI) run the CUDA configs, tools/dist_train.sh included, which
# mmengine 0.10.7 does not allow: nccl needs CUDA, its init_dist calls torch.cuda.set_device, DDP
# refuses device_ids=[LOCAL_RANK] for a CPU module, SyncBN has no CPU kernel and AmpOptimWrapper
# asserts a device (tests/test_tools/test_train_test_tools.py, tests/test_engine/test_preemption.py)
def _on_cpu() -> bool:
    return get_device() in ('cpu', 'mps')  # not CUDA, NPU, MLU, MUSA (mmengine's devices)


def adapt_to_device(cfg: Config) -> None:
    """On the CPU: AMP is one line naming the option that runs the config there; under a launcher,
    gloo for nccl, BN for SyncBN and DDP with ``device_ids=None``."""
    if not _on_cpu():
        return
    optim_wrapper = cfg.get('optim_wrapper') or {}
    if optim_wrapper.get('type') == 'AmpOptimWrapper':
        amp_only = [f'optim_wrapper.{k}' for k in ('loss_scale', 'dtype') if k in optim_wrapper]
        raise LaunchError(
            "AMP (--amp or optim_wrapper.type='AmpOptimWrapper') needs a CUDA, NPU, MLU or MUSA "
            "device: mmengine's AmpOptimWrapper refuses the CPU; on the CPU, run without --amp "
            'and with --cfg-options optim_wrapper.type=OptimWrapper' +
            (f" (delete {', '.join(amp_only)} from {cfg.filename} first)" if amp_only else ''))
    if cfg.get('launcher', 'none') == 'none':
        return  # one process: no process group, and the Runner reverts SyncBN itself
    if ((cfg.get('env_cfg') or {}).get('dist_cfg') or {}).get('backend', 'nccl') == 'nccl':
        cfg.merge_from_dict({'env_cfg.dist_cfg.backend': 'gloo'})
    _sync_bn_to_bn(cfg.model)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    with MODEL_WRAPPERS.switch_scope_and_registry(cfg.get('default_scope')) as wrappers:
        wrapper_cls = wrappers.get(wrapper.get('type', 'MMDistributedDataParallel'))
    if isinstance(wrapper_cls, type) and issubclass(wrapper_cls, DistributedDataParallel):
        wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def _sync_bn_to_bn(node) -> None:
    """Every ``type='SyncBN'`` in a (nested) model config becomes ``'BN'``, in place."""
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        node = list(node.values())
    for value in node if isinstance(node, (list, tuple)) else ():
        _sync_bn_to_bn(value)


def _init_cpu_dist(launcher: str, backend='gloo', timeout=None, init_backend=None, **kwargs):
    """mmengine's ``init_dist`` without ``torch.cuda.set_device``: the same environment
    (torchrun's, slurm's or Open MPI's), read by torch's ``env://`` rendezvous."""
    env = os.environ
    if launcher == 'slurm':
        env.setdefault(
            'MASTER_ADDR',
            subprocess.getoutput(f"scontrol show hostname {env['SLURM_NODELIST']} | head -n1"))
        env.update(
            WORLD_SIZE=env['SLURM_NTASKS'],
            RANK=env['SLURM_PROCID'],
            LOCAL_RANK=env.get('SLURM_LOCALID', '0'))
    elif launcher == 'mpi':
        env.setdefault('MASTER_ADDR', '127.0.0.1')
        env.update(
            WORLD_SIZE=env['OMPI_COMM_WORLD_SIZE'],
            RANK=env['OMPI_COMM_WORLD_RANK'],
            LOCAL_RANK=env['OMPI_COMM_WORLD_LOCAL_RANK'])
    env.setdefault('MASTER_PORT', '29500')
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(backend, **kwargs)
    print_log(f'no CUDA: {launcher} process group with backend {backend}', 'current')
