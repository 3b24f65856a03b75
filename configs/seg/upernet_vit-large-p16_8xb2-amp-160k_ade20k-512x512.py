# UperNet, dBOT ViT-L/16, ADE20K (DESIGN §4): as ViT-B with features of blocks (7, 11, 15, 23),
# lr 3e-5, layer decay 0.95, drop path 0.2. Paper: 54.5 mIoU.
pretrained = 'work_dirs/dbot_vit-l/epoch_1600.pth'
pretrained_prefix = 'backbone.'

_base_ = [
    '../_base_/models/upernet_vit-b.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/ade20k_adamw_ld-poly-160k.py',
    '../_base_/seg_runtime.py',
]
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.2,
        out_indices=(7, 11, 15, 23),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix=pretrained_prefix)),
    neck=dict(embed_dim=1024),
    decode_head=dict(in_channels=[1024, 1024, 1024, 1024], channels=1024),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=3e-5), paramwise_cfg=dict(layer_decay_rate=0.95))
