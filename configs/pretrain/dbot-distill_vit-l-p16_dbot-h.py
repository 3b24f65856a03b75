# ViT-L/16 distilled from a trained dBOT ViT-H/14 (model zoo row "ViT-L, teacher ViT-H": IN-1k
# 86.8, COCO 56.1, ADE 55.2): the dBOT ViT-L recipe (drop path 0.2, no grad clip) in one stage
# with the ViT-H/14 teacher at 196 px, as configs/pretrain/dbot-distill_vit-b-p16_dbot-h.py.
_base_ = './dbot-distill_vit-b-p16_dbot-h.py'
model = dict(backbone=dict(arch='large'))
optim_wrapper = _base_.optim_wrapper
optim_wrapper.pop('clip_grad')  # --clip_grad 3.0 is for ViT-B only
