"""Run by torchrun with 2 CPU processes: a tiny dBOT run across a boundary, then every rank
saves its student, decoder and teacher for the test to compare.

``bf16``: the steps run under ``torch.autocast('cpu', bfloat16)`` (``AutocastOptimWrapper``;
mmengine's AmpOptimWrapper is GPU-only), so the teacher switches to bf16 matmul weights after DDP
was built (AMP teacher weights) and is re-made from the student at the boundary.
``preempt``: rank 1 alone gets SIGTERM after iteration 3; both ranks must save and exit with 75.
"""
import os
import sys

import torch
from mmengine.dist import get_rank

from dbot_mm.utils.launch import build_runner
from tests.helpers.tiny_pretrain import tiny_cfg


def main(work_dir, data_root, precision='fp32'):
    cfg = tiny_cfg(work_dir, data_root, stage_epochs=[0, 1, 2], launcher='pytorch')
    cfg.train_dataloader.batch_size = 8
    if precision == 'bf16':
        cfg.optim_wrapper.update(type='AutocastOptimWrapper', device_type='cpu', dtype='bfloat16')
    if precision == 'preempt':
        cfg.custom_hooks.append(dict(type='FaultInjectionHook', at_iter=3, how='term', rank=1))
    runner = build_runner(cfg)  # gloo and CPU DDP where there is no CUDA
    runner.train()
    model = runner.model.module
    torch.save({
        k: v.cpu()
        for k, v in model.state_dict().items()
    }, os.path.join(work_dir, f'rank{get_rank()}.pth'))


if __name__ == '__main__':
    main(*sys.argv[1:4])
