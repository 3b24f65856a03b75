"""An OptimWrapper that runs the forward under ``torch.autocast`` on any device.

mmengine's ``AmpOptimWrapper`` asserts a CUDA device; this one lets the CPU run bf16 autocast
(no loss scaler: bf16 has fp32's range), e.g. the dBOT/MAE benchmark on CPU and the tests of the
AMP code paths (``DBOT.amp_teacher_weights``) without a GPU.
"""
import contextlib

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``optim_context`` also enters ``torch.autocast(device_type, dtype)``.

    Args:
        device_type: 'cpu' or 'cuda'.
        dtype: 'bfloat16' (default) or 'float16' (fp16 on CUDA needs a loss scaler: use
            mmengine's ``AmpOptimWrapper`` there).
    """

    def __init__(self, device_type: str = 'cpu', dtype: str = 'bfloat16', **kwargs):
        super().__init__(**kwargs)
        self.device_type = device_type
        self.dtype = getattr(torch, dtype)

    @contextlib.contextmanager
    def optim_context(self, model):
        with super().optim_context(model), torch.autocast(self.device_type, dtype=self.dtype):
            yield
