"""dBOT with a CLIP teacher: masked distillation into a vanilla ViT (official ``beit`` branch:
modeling_pretrain.py, engine_for_pretraining.py, run_pretrain.py).

    student = ViT with mask tokens inside the encoder (no encoder/decoder split), relative
              position bias, layer scale, BEiT's init; a linear ``lm_head`` on the masked tokens
              predicts the teacher's width;
    mask    = block-wise, up to ``num_mask_patches`` patches (``BlockMaskGenerator``, the
              official masking_generator.py, in the data pipeline, packed as ``data_sample.mask``);
    teacher = frozen CLIP image encoder, every token after ln_post and proj (``CLIPTeacher``);
    loss    = 1 - mean cosine over the masked patch tokens (official NegCosine; mmpretrain's
              CosineSimilarityLoss(shift_factor=1, scale_factor=1) is the same formula).

The student is our DBotViT, not mmpretrain's BEiTPretrainViT: the project's one backbone serves
every task, so its checkpoint (``backbone.*``) feeds the cls/det/seg configs through
load_backbone_checkpoint without a key map; only the mask token and lm_head live here.
"""
import math
from typing import Dict, List

import torch
import torch.nn as nn
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..targets import CLIPTeacher  # noqa: F401  (registers the teacher)


@MODELS.register_module()
class DBOTCLIP(BaseSelfSupervisor):
    """Vanilla-ViT masked distillation from a frozen teacher (CLIP).

    Args:
        backbone: the student ``DBotViT`` (use_rel_pos_bias=True, layer scale).
        teacher: the frozen teacher, ``CLIPTeacher``; its ``input_mean``/``input_std`` are filled
            in from the data preprocessor. Its token grid must equal the student's.
        head: ``MIMHead`` with the loss (CosineSimilarityLoss, shift 1, scale 1).
    """

    def __init__(self,
                 backbone: dict,
                 teacher: dict,
                 head: dict,
                 data_preprocessor: dict = None,
                 init_cfg: dict = None):
        super().__init__(
            backbone=backbone, head=head, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        prep = self.data_preprocessor
        self.teacher = MODELS.build(
            dict(
                teacher,
                input_mean=prep.mean.flatten().tolist(),
                input_std=prep.std.flatten().tolist()))
        student_grid = tuple(self.backbone.grid_size)
        side = self.teacher.input_size or student_grid[0] * self.backbone.patch_size
        teacher_grid = (side // self.teacher.patch_size, ) * 2
        if teacher_grid != student_grid:
            raise ValueError(
                f"DBOTCLIP: the teacher's token grid {teacher_grid} (input {side} px, patch "
                f"{self.teacher.patch_size}) differs from the student's {student_grid}; set "
                f'model.teacher.input_size={student_grid[0] * self.teacher.patch_size}')
        dims = self.backbone.embed_dims
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dims))
        self.lm_head = nn.Linear(dims, self.teacher.embed_dims)
        self.init_student()

    @torch.no_grad()
    def init_student(self, std: float = .02) -> None:
        """BEiT's init, replacing DBotViT's MAE init (modeling_pretrain.py ``_init_weights`` +
        ``fix_init_weight``): Linear and patch-conv weights, cls and mask tokens truncated normal
        std 0.02 cut at +-std (its ``trunc_normal_`` passes a=-std, b=std), zero biases,
        LayerNorm (1, 0); ``attn.proj`` and ``mlp.fc2`` weights of block i (from 1) divided by
        sqrt(2 i). The frozen sin-cos embedding, layer scale and zero bias tables stay."""
        vit = self.backbone
        for m in [*vit.modules(), self.lm_head]:
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=std, a=-std, b=std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for token in (vit.cls_token, self.mask_token):
            nn.init.trunc_normal_(token, std=std, a=-std, b=std)
        for layer_id, blk in enumerate(vit.blocks, 1):
            blk.attn.proj.weight.div_(math.sqrt(2. * layer_id))
            blk.mlp.fc2.weight.div_(math.sqrt(2. * layer_id))

    def train(self, mode: bool = True) -> 'DBOTCLIP':
        super().train(mode)
        self.teacher.eval()
        return self

    def extract_feat(self, inputs: torch.Tensor):
        return self.backbone(inputs)

    def forward_masked(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """All tokens (B, 1 + L, C) after the final norm; masked patches replaced by the mask
        token before the position embedding is added (BEiT order)."""
        vit = self.backbone
        x = vit.patch_embed(inputs)
        if tuple(x.shape[1:3]) != tuple(vit.grid_size):
            raise ValueError(f'DBOTCLIP: input {tuple(inputs.shape[-2:])} gives a '
                             f'{tuple(x.shape[1:3])} grid, the student is built for '
                             f'{tuple(vit.grid_size)}')
        x = x.flatten(1, 2)
        w = mask.flatten(1).unsqueeze(-1).type_as(x)
        x = x * (1 - w) + self.mask_token.type_as(x) * w
        x = vit.add_cls_token(x + vit.pos_embed[:, 1:])
        return vit.norm(vit.run_blocks(x))

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        if isinstance(inputs, (list, tuple)):
            inputs = inputs[0]
        # PackInputs keeps the generator's numpy array
        mask = torch.stack([torch.as_tensor(ds.mask) for ds in data_samples])
        mask = mask.flatten(1).bool().to(inputs.device)
        with torch.no_grad():
            target = self.teacher(inputs)[:, 1:][mask]
        latent = self.forward_masked(inputs, mask)
        pred = self.lm_head(latent[:, 1:][mask])
        return dict(loss=self.head.loss(pred, target.float(), None))
