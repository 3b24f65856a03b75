# dBOT ViT-L/16 (official PRETRAIN.md ViT-L/16 command): the ViT-B recipe (drop path 0.2) with a
# stage-1 teacher of depth 0 (patch embedding + position + CLS: a random linear projection of
# pixels) and no grad clip.
_base_ = './dbot_vit-b.py'
model = dict(backbone=dict(arch='large'), teacher=dict(arch='large', depth=0))
optim_wrapper = _base_.optim_wrapper
optim_wrapper.pop('clip_grad')  # --clip_grad 3.0 is for ViT-B only
