"""Helpers of the frozen teacher of ``DBOT``: token-grid check and AMP weight storage."""
import math
from typing import Optional

import torch
import torch.nn as nn


def check_token_grids(student: nn.Module,
                      teacher: nn.Module,
                      teacher_img_size: Optional[int] = None) -> None:
    """The target has one teacher token per student token (CLS included), so both ViTs must cut
    the image into the same grid (each pads its input to its patch size)."""
    img_h, img_w = student.patch_embed.img_size
    t_h, t_w = (teacher_img_size, ) * 2 if teacher_img_size else (img_h, img_w)

    def grid(h, w, vit):
        return math.ceil(h / vit.patch_size), math.ceil(w / vit.patch_size)

    if grid(t_h, t_w, teacher) != grid(img_h, img_w, student):
        raise ValueError(
            "DBOT: the teacher's token grid {}x{} (patch_size {}, input {}x{}) differs from the "
            "student's {}x{} (patch_size {}); set model.teacher.patch_size={} or "
            'model.teacher_img_size'.format(*grid(t_h, t_w, teacher), teacher.patch_size, t_h, t_w,
                                            *grid(img_h, img_w, student), student.patch_size,
                                            student.patch_size))


@torch.no_grad()
def match_teacher_to_autocast(teacher: nn.Module, device_type: str, enabled: bool) -> None:
    """Store the teacher's matmul weights in the autocast dtype (``DBOT(amp_teacher_weights)``).

    Runs outside inference mode: the weights stay ordinary tensors that the bootstrap copy
    and checkpoint loading update in place.
    """
    current = teacher.patch_embed.proj.weight.dtype
    autocast = torch.is_autocast_enabled(device_type)
    dtype = torch.get_autocast_dtype(device_type) if autocast else torch.float32
    if current == dtype or (current == torch.float32 and not enabled):
        return
    if current != torch.float32:
        raise RuntimeError(
            f'DBOT: the teacher holds {current} weights (amp_teacher_weights under AMP) but '
            f'this forward runs with {dtype if autocast else "no autocast"}; keep one AMP '
            f'dtype for the whole run or set model.amp_teacher_weights=False')
    for m in teacher.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.to(dtype)
