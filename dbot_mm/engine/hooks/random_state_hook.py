"""Keep the random-number state in checkpoints, so a resumed run continues bit-exactly.

mmengine's resume re-seeds (``randomness.seed``) but does not restore the generators: masks,
augmentation and drop path after a resume would differ from the uninterrupted run. The states
of all ranks are gathered (each rank keeps its own stream) and restored after resume.
"""
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def get_rng_state() -> dict:
    """Tensors and plain Python values only, so ``torch.load(weights_only=True)`` reads it."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state = dict(python=random.getstate(),
                 numpy=(name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    name, keys, pos, has_gauss, gauss = state['numpy']
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Save every rank's RNG state with each epoch checkpoint and restore it when resuming
    (not for ``load_from``: only when the runner continues at the checkpoint's iteration)."""
    priority = 'LOW'  # after the other hooks' epoch work, before CheckpointHook (VERY_LOW)

    def __init__(self):
        self._states = None
        self._resumed = None

    def _gather(self):
        # all ranks take part; only rank 0 writes the checkpoint
        self._states = all_gather_object(get_rng_state()) if get_world_size() > 1 \
            else [get_rng_state()]

    def after_train_epoch(self, runner) -> None:
        self._gather()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._states is not None:
            checkpoint.setdefault('meta', {})['rng_states'] = self._states

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        self._resumed = (meta.get('iter'), meta.get('rng_states'))

    def before_train(self, runner) -> None:
        saved_iter, states = self._resumed or (None, None)
        self._resumed = None
        if not states or runner.iter == 0 or runner.iter != saved_iter:
            return
        if len(states) != get_world_size():
            runner.logger.warning(
                f'RandomStateHook: checkpoint holds RNG states of {len(states)} ranks, '
                f'this run has {get_world_size()}: keeping the fresh seed')
            return
        set_rng_state(states[get_rank()])
