# dBOT ViT-B/16, ImageNet-1k, 1600 epochs in two bootstrapping stages of 800, 32 GPUs x 128
# (official PRETRAIN.md ViT-B/16 command).
_base_ = [
    '../_base_/models/dbot_vit-b.py',
    '../_base_/datasets/imagenet_dbot_pretrain.py',
    '../_base_/schedules/dbot_pretrain_adamw_1600e.py',
    '../_base_/dbot_pretrain_runtime.py',
]
optim_wrapper = dict(clip_grad=dict(max_norm=3.0))  # --clip_grad 3.0, for ViT-B only
