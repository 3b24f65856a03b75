"""Stop at the first non-finite loss where nothing else would: in fp32 and bf16 no loss scaler
skips the step, so the weights are already NaN/inf after it and every later step and checkpoint
is lost work.

The official code stops the same way (engine_pretrain.py, ``train_one_epoch``: "Loss is {}, stopping
training", ``sys.exit(1)``); here the error names the iteration and the last checkpoint, and comes
before any hook of that iteration can save the damaged weights. Under a loss scaler (fp16 AMP) a
non-finite loss is routine (the step is skipped, the scale lowered) and this hook stays silent.
"""
import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from mmengine.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite (one-line message)."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    priority = 'ABOVE_NORMAL'  # before CheckpointHook / PreemptionHook (VERY_LOW) save

    def __init__(self):
        self._active = True

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        wrappers = wrapper.values() if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        self._active = not any(getattr(w, 'loss_scaler', None) for w in wrappers)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loss = (outputs or {}).get('loss')
        if not self._active or not isinstance(loss, torch.Tensor):
            return
        here = bool(torch.isfinite(loss.detach()).all())
        finite = torch.tensor([float(here)])
        if get_world_size() > 1:
            all_reduce(finite, op='min')  # every rank stops at the same iteration
        if finite.item():
            return
        last = runner.message_hub.get_info('last_ckpt') or 'none saved yet'
        value = 'on another rank' if here else loss.detach().float().mean().item()
        raise NonFiniteLossError(
            f'non-finite loss ({value}) at iteration {runner.iter + 1} (epoch '
            f'{runner.epoch + 1}); stopped without saving; last checkpoint: {last}')
