# dBOT ViT-L/16, ImageNet-1k, 1600 epochs in two stages; stage-1 teacher of depth 0
# (patch embedding + position + CLS: a random linear projection of pixels). No grad clip.
_base_ = [
    '../_base_/models/dbot_vit-b.py',
    '../_base_/datasets/imagenet_dbot_pretrain.py',
    '../_base_/schedules/dbot_pretrain_adamw_1600e.py',
    '../_base_/dbot_pretrain_runtime.py',
]
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),
    neck=dict(drop_path_rate=0.2),
    teacher=dict(arch='large', depth=0))
