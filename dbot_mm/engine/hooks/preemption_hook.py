"""Checkpoint and exit on SIGTERM (slurm preemption or time limit, spot reclaim, torchrun stop).

The signal handler only takes note; after the current iteration the ranks agree (a signal seen by
any rank counts), rank 0 writes ``preempt_iter_{N}.pth`` (removed once a later regular checkpoint
exists) and points ``last_checkpoint`` at it, and every rank exits with
:data:`PREEMPTED_EXIT_CODE`, which ``tools/slurm_train.sh --requeue`` turns into a requeue with
``--resume``. Resuming mid-epoch, the sampler skips the samples the epoch already used (mmengine's
``EpochBasedTrainLoop`` would replay the epoch). Slurm signals every process of a job step: data
workers ignore a SIGTERM that does not come from their main process, which would otherwise crash
before it saves.
"""
import functools
import glob
import itertools
import os
import os.path as osp
import signal
import threading

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import BatchSampler

from dbot_mm.utils.checkpoint import ATOMIC_BACKEND_ARGS, atomic_write

PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): "temporary failure, retry later"
# A launcher that does not pass the exit code on (torchrun reports 1) sets this to a file path:
# rank 0 writes the saved checkpoint's path there before exiting (tools/dist_train.sh).
PREEMPTED_FILE_ENV = 'DBOT_MM_PREEMPTED_FILE'


def _shield_worker(worker_id, init_fn=None):
    """``worker_init_fn`` of the data workers: SIGTERM is taken by a thread that exits the worker
    only when the sender is the main process (Linux: ``sigwaitinfo``; elsewhere torch's default)."""
    if hasattr(signal, 'sigwaitinfo'):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        threading.Thread(target=_exit_on_parent_sigterm, args=(os.getppid(), ), daemon=True).start()
    if init_fn is not None:
        init_fn(worker_id)


def _exit_on_parent_sigterm(parent: int) -> None:
    while signal.sigwaitinfo({signal.SIGTERM}).si_pid != parent:
        pass
    os._exit(0)


class _SkipOnce:
    """A sampler whose next pass starts ``skip`` items in (the rest of an interrupted epoch)."""

    def __init__(self, sampler, skip: int):
        self.sampler, self.skip = sampler, skip

    def __iter__(self):
        skip, self.skip = self.skip, 0
        return itertools.islice(iter(self.sampler), skip, None)

    def __len__(self):
        return len(self.sampler)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Args:
        signals: names of the signals that mean "save and stop" (``SIGUSR1`` is what
            ``sbatch --signal=USR1@90`` sends ahead of a time limit).
    """
    priority = 'VERY_LOW'  # after the iteration's scheduler step, logging and checkpoint

    def __init__(self, signals=('SIGTERM', )):
        self.signals = [getattr(signal, s) for s in signals]
        self._received = None
        self._previous = {}
        self._deferred = False
        self._loaded = None
        self._last_ckpt = None

    # ------------------------------------------------------------- signals and workers
    def before_train(self, runner) -> None:
        self._resume_mid_epoch(runner)
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: not in the main thread, no signal handler')
            return
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._note)
        if signal.SIGTERM not in self.signals:
            return
        # the validation loader's workers get the cluster's SIGTERM too (mid-validation)
        val_loop = getattr(runner, 'val_loop', None)
        for loader in (runner.train_dataloader, getattr(val_loop, 'dataloader', None)):
            if loader is not None and loader.num_workers > 0:
                loader.worker_init_fn = functools.partial(
                    _shield_worker, init_fn=loader.worker_init_fn)

    def after_train(self, runner) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _note(self, signum, frame) -> None:
        self._received = signal.Signals(signum).name

    def _stop_requested(self) -> bool:
        flag = torch.tensor([float(self._received is not None)])
        if get_world_size() > 1:
            all_reduce(flag, op='max')
        return bool(flag.item())

    # ----------------------------------------------------------------------- saving
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self._stop_requested():
            return
        loader = runner.train_dataloader
        last = batch_idx + 1 == len(loader)
        if (isinstance(runner.train_loop, EpochBasedTrainLoop) and not last
                and type(loader.batch_sampler) is not BatchSampler):
            if not self._deferred:
                runner.logger.warning(f'PreemptionHook: {self._received or "signal"} received; '
                                      f'{type(loader.batch_sampler).__name__} cannot restart '
                                      'mid-epoch, saving at the end of this epoch')
            self._deferred = True
            return
        self._save_and_exit(runner, dict(epoch=runner.epoch, iter=runner.iter + 1))

    def before_train_epoch(self, runner) -> None:
        self._last_ckpt = runner.message_hub.get_info('last_ckpt')

    def after_train_epoch(self, runner) -> None:
        if self._deferred:
            self._save_and_exit(runner, dict(epoch=runner.epoch + 1, iter=runner.iter))
        if runner.message_hub.get_info('last_ckpt') != self._last_ckpt:
            self._remove_preempt_files(runner, before=runner.iter + 1)  # a newer one was saved

    @staticmethod
    def _remove_preempt_files(runner, before: int) -> None:
        if not is_main_process():
            return
        for path in glob.glob(osp.join(glob.escape(runner.work_dir), 'preempt_iter_*.pth')):
            if int(osp.basename(path)[len('preempt_iter_'):-len('.pth')]) < before:
                os.remove(path)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['meta']['iters_per_epoch'] = len(runner.train_dataloader)

    def _save_and_exit(self, runner, meta: dict) -> None:
        filename = f"preempt_iter_{meta['iter']}.pth"
        runner.save_checkpoint(
            runner.work_dir, filename, meta=meta, backend_args=ATOMIC_BACKEND_ARGS)
        path = osp.join(runner.work_dir, filename)
        if is_main_process():
            atomic_write(path, osp.join(runner.work_dir, 'last_checkpoint'))
            if os.environ.get(PREEMPTED_FILE_ENV):
                atomic_write(path, os.environ[PREEMPTED_FILE_ENV])
        self._remove_preempt_files(runner, before=meta['iter'])
        barrier()  # no rank leaves (and gets its launcher to kill the others) before the save
        runner.logger.warning(
            f'PreemptionHook: {self._received or "a signal on another rank"} received: saved '
            f"{path} at iteration {meta['iter']}; exiting with code {PREEMPTED_EXIT_CODE} "
            '(continue with tools/train.py ... --resume)')
        raise SystemExit(PREEMPTED_EXIT_CODE)

    # ------------------------------------------------------------------- resuming
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        self._loaded = (meta.get('iter'), meta.get('iters_per_epoch'))

    def _resume_mid_epoch(self, runner) -> None:
        saved_iter, per_epoch = self._loaded or (None, None)
        self._loaded = None
        if not isinstance(runner.train_loop, EpochBasedTrainLoop) or runner.iter != saved_iter \
                or not runner.iter:
            return  # not resuming (load_from starts at 0), or an iteration-based loop
        loader = runner.train_dataloader
        done = runner.iter - runner.epoch * len(loader)
        if (per_epoch or len(loader)) != len(loader) or not 0 <= done <= len(loader):
            raise ValueError(
                f'cannot resume at iteration {runner.iter} (epoch {runner.epoch}): the checkpoint '
                f'was written with {per_epoch or "another number of"} iterations per epoch, this '
                f'run has {len(loader)} (another GPU count or batch size); resume with the '
                'same, or start a new run with load_from')
        if done == 0:
            return
        if type(loader.batch_sampler) is not BatchSampler:
            raise ValueError(f'cannot resume in the middle of epoch {runner.epoch + 1}: '
                             f'{type(loader.batch_sampler).__name__} cannot skip batches')
        loader.batch_sampler.sampler = _SkipOnce(loader.batch_sampler.sampler,
                                                 done * loader.batch_size)
        runner.logger.info(f'PreemptionHook: resuming epoch {runner.epoch + 1} after its batch '
                           f'{done}')
