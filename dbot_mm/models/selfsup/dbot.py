"""dBOT: masked knowledge distillation with bootstrapped teachers (arXiv 2209.03917).

    student = MAE encoder on the visible patches + decoder that predicts, for every token
              (CLS included), the teacher's features of the full image;
    teacher = frozen ViT on the full image, its last block's tokens without the final norm;
    loss    = SmoothL1(beta=2) to the per-token normalised target, masked patches + CLS;
    bootstrap (DBotBootstrapHook): at each stage boundary teacher <- student encoder and the
              student (encoder, decoder, mask token) starts again from a fresh init.
"""
import copy
import math
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils.pretrained import pretrained_from_init_cfg
from ..utils.teacher import check_token_grids, match_teacher_to_autocast


def random_masking(batch_size: int, num_patches: int, mask_ratio: float,
                   device: torch.device) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample random masking exactly as MAE (noise -> argsort).

    Returns ids_keep (B, L_vis), ids_restore (B, L) and mask (B, L) with 1 = masked.
    """
    len_keep = int(num_patches * (1 - mask_ratio))
    noise = torch.rand(batch_size, num_patches, device=device)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(batch_size, num_patches, device=device)
    mask[:, :len_keep] = 0
    return ids_shuffle[:, :len_keep], ids_restore, torch.gather(mask, 1, ids_restore)


@MODELS.register_module()
class DBOT(BaseSelfSupervisor):
    """dBOT self-supervisor.

    Args:
        backbone: the student encoder (``DBotViT``).
        neck: the decoder (``DBotDecoder``); ``embed_dims``, ``grid_size`` and ``target_dims``
            are filled in from the student and the teacher.
        head: the loss (``DBotHead``).
        teacher: the teacher (``DBotViT``, any width/depth). Without a pretrained ``init_cfg`` it
            starts as a frozen copy of the student's own random init, truncated to its depth
            (depth 0 = patch embedding + position + CLS). With ``init_cfg=dict(type='Pretrained',
            ...)`` it is an external teacher loaded from a checkpoint.
        mask_ratio: fraction of masked patches (0.75).
        num_masks: K independent masks of the student per teacher forward (our extension; 1 is
            the paper). The loss is the mean over the K masks.
        amp_teacher_weights: under AMP, store the frozen teacher's Linear / Conv2d weights in the
            autocast dtype (bit-identical target, half the memory; see docs/performance.md).
        teacher_img_size: resize (bicubic) the teacher's input to this side so that a teacher of
            another patch size has the student's token grid (e.g. a ViT-H/14 teacher at 196 px
            for a /16 student at 224, as the official CLIP-L/14 recipe's ``second_input_size``).
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 teacher: dict,
                 mask_ratio: float = 0.75,
                 num_masks: int = 1,
                 amp_teacher_weights: bool = True,
                 teacher_img_size: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        student = MODELS.build(backbone)
        teacher = MODELS.build(teacher)
        check_token_grids(student, teacher, teacher_img_size)
        neck = dict(
            neck,
            embed_dims=student.embed_dims,
            grid_size=student.grid_size,
            target_dims=teacher.embed_dims)
        super().__init__(
            backbone=student,
            neck=neck,
            head=head,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.teacher = self._freeze(teacher)
        self.mask_ratio = mask_ratio
        if num_masks < 1:
            raise ValueError(f'DBOT: num_masks must be >= 1, got {num_masks}')
        self.num_masks = num_masks
        self.amp_teacher_weights = amp_teacher_weights
        self.teacher_img_size = teacher_img_size

    @staticmethod
    def _freeze(module: nn.Module) -> nn.Module:
        # requires_grad=False from __init__: mmengine's Runner wraps the model in DDP when it is
        # built, before train() calls init_weights, and DDP skips parameters without grads.
        module.requires_grad_(False)
        return module.eval()

    @property
    def teacher_is_external(self) -> bool:
        return pretrained_from_init_cfg(self.teacher.init_cfg, 'DBOT.teacher') is not None

    def init_weights(self) -> None:
        super().init_weights()
        if not self.teacher_is_external:
            self._copy_student_to_teacher(strict=False)

    def train(self, mode: bool = True) -> 'DBOT':
        """The runner calls ``model.train()`` every epoch; the teacher stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    # ------------------------------------------------------------------ bootstrapping
    @torch.no_grad()
    def _copy_student_to_teacher(self, strict: bool) -> None:
        """teacher <- student encoder weights (patch embed, cls, pos, blocks, norm).

        ``strict=False`` copies only what the teacher has (the stage-1 teacher of a shallower
        depth); ``strict=True`` requires identical architectures.
        """
        student = self.backbone.state_dict()
        teacher = self.teacher.state_dict()
        if strict and (student.keys() != teacher.keys() or any(student[k].shape != teacher[k].shape
                                                               for k in teacher)):
            raise RuntimeError('DBOT: teacher and student architectures differ')
        for k, v in teacher.items():
            if k in student and student[k].shape == v.shape:
                v.copy_(student[k])

    def rebuild_teacher_as_student(self) -> None:
        """Give the teacher the student's architecture (depth), e.g. ViT-L/H after stage 1."""
        if self.teacher.state_dict().keys() == self.backbone.state_dict().keys():
            return
        if self.teacher.embed_dims != self.backbone.embed_dims:
            raise RuntimeError(
                f'DBOT: cannot bootstrap a teacher of width {self.teacher.embed_dims} from a '
                f'student of width {self.backbone.embed_dims} (the decoder predicts the '
                f"teacher's width); use a single stage with an external teacher")
        teacher = copy.deepcopy(self.backbone)
        teacher.init_cfg = None
        self.teacher = self._freeze(teacher)

    def bootstrap(self) -> None:
        """Stage boundary: teacher <- student encoder; student encoder, decoder and mask token
        re-initialised in place (the optimizer and DDP hold the Parameter objects)."""
        self.rebuild_teacher_as_student()
        self._copy_student_to_teacher(strict=True)
        self.backbone.reset_parameters()
        self.neck.reset_parameters()

    # ------------------------------------------------------------------------ forward
    def extract_feat(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return self.backbone(inputs)

    def compute_target(self, inputs: torch.Tensor) -> torch.Tensor:
        """The teacher's tokens (B, 1 + L, C_t) on the full image (matmuls in the autocast dtype).

        Inference mode: no graph, no saved activations, no version counters. The result is an
        inference tensor; the loss normalises it (fp32) into an ordinary tensor before use.
        """
        match_teacher_to_autocast(self.teacher, inputs.device.type, self.amp_teacher_weights)
        with torch.inference_mode():
            if self.teacher_img_size:
                inputs = F.interpolate(
                    inputs, size=(self.teacher_img_size, ) * 2, mode='bicubic', align_corners=False)
            return self.teacher.forward_target(inputs)

    def num_patches(self, inputs: torch.Tensor) -> int:
        p = self.backbone.patch_size
        return math.ceil(inputs.shape[-2] / p) * math.ceil(inputs.shape[-1] / p)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        target = self.compute_target(inputs)
        batch = inputs.shape[0] * self.num_masks
        ids_keep, ids_restore, mask = random_masking(batch, self.num_patches(inputs),
                                                     self.mask_ratio, inputs.device)
        latent = self.backbone.forward_masked(inputs, ids_keep)
        pred = self.neck(latent, ids_restore)
        return dict(loss=self.head.loss(pred, target, mask))
