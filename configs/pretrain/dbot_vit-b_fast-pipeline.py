# dbot_vit-b.py with the fast input pipeline (LoadImageAndRandomResizedCrop: the same crop
# distribution, ~2x the images/s per CPU core; docs/performance.md); everything else identical.
_base_ = [
    '../_base_/models/dbot_vit-b.py',
    '../_base_/datasets/imagenet_dbot_pretrain_fast.py',
    '../_base_/schedules/dbot_pretrain_adamw_1600e.py',
    '../_base_/dbot_pretrain_runtime.py',
]
optim_wrapper = dict(clip_grad=dict(max_norm=3.0))  # --clip_grad 3.0, for ViT-B only
