# dBOT ViT-H/14, ImageNet-1k, 1600 epochs in two stages; stage-1 teacher of depth 0; drop path
# 0.3; no grad clip.
_base_ = [
    '../_base_/models/dbot_vit-b.py',
    '../_base_/datasets/imagenet_dbot_pretrain.py',
    '../_base_/schedules/dbot_pretrain_adamw_1600e.py',
    '../_base_/dbot_pretrain_runtime.py',
]
model = dict(
    backbone=dict(arch='huge', patch_size=14, drop_path_rate=0.3),
    neck=dict(drop_path_rate=0.3),
    teacher=dict(arch='huge', patch_size=14, depth=0))
