"""dBOT with an external dBOT teacher whose patch size differs from the student's (ViT-H/14 ->
ViT-B/16 or ViT-L/16): the teacher sees the crop resized to ``teacher_img_size`` so that both
token grids match (the official CLIP-L/14 recipe's --second_input_size 196 device, our assumption
for the ViT-H teacher rows). With equal patch sizes use ``DBOT`` itself.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS

from .dbot import DBOT


@MODELS.register_module()
class DBOTDistill(DBOT):
    """``DBOT`` (single stage, external teacher) whose teacher input is resized (bicubic).

    Args:
        teacher_img_size: side of the teacher's input; its grid ``teacher_img_size //
            teacher.patch_size`` must equal the student's. Other arguments: see ``DBOT``.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict, teacher: dict,
                 teacher_img_size: int, mask_ratio: float = 0.75, num_masks: int = 1,
                 amp_teacher_weights: bool = True, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        # DBOT.__init__ checks equal patch sizes; this repeats it with the resized grid.
        student = MODELS.build(backbone)
        teacher = MODELS.build(teacher)
        grid = teacher_img_size // teacher.patch_size
        if (grid, grid) != tuple(student.grid_size):
            raise ValueError(
                f"DBOTDistill: teacher_img_size {teacher_img_size} gives the teacher (patch "
                f"{teacher.patch_size}) a {grid}x{grid} grid, the student's is "
                f'{student.grid_size[0]}x{student.grid_size[1]}; set teacher_img_size='
                f'{student.grid_size[0] * teacher.patch_size}')
        if teacher.init_cfg is None or teacher.init_cfg.get('type') != 'Pretrained':
            raise ValueError('DBOTDistill: the teacher needs init_cfg=dict(type="Pretrained", '
                             'checkpoint=...) (an external, trained teacher)')
        neck = dict(neck, embed_dims=student.embed_dims, grid_size=student.grid_size,
                    target_dims=teacher.embed_dims)
        BaseSelfSupervisor.__init__(self, backbone=student, neck=neck, head=head,
                                    data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.teacher = self._freeze(teacher)
        self.teacher_img_size = teacher_img_size
        self.mask_ratio = mask_ratio
        if num_masks < 1:
            raise ValueError(f'DBOTDistill: num_masks must be >= 1, got {num_masks}')
        self.num_masks = num_masks
        self.amp_teacher_weights = amp_teacher_weights

    def bootstrap(self) -> None:
        raise RuntimeError('DBOTDistill is single-stage (external teacher); remove '
                           'DBotBootstrapHook or give it one stage')

    def compute_target(self, inputs: torch.Tensor) -> torch.Tensor:
        size = self.teacher_img_size
        if tuple(inputs.shape[-2:]) != (size, size):
            inputs = F.interpolate(inputs, size=(size, size), mode='bicubic',
                                   align_corners=False)
        return super().compute_target(inputs)

