# UperNet, dBOT ViT-L/16, ADE20K (official DOWNSTREAM.md ViT-L/16 segmentation command and
# evaluation/mae_segmentation/configs/mae/upernet_mae_large_12_512_slide_160k_ade20k.py): the ViT-B
# config with features of blocks (7, 11, 15, 23), lr 3e-5, layer decay 0.95, drop path 0.2 as
# ViT-B. Paper: 54.5 mIoU.
_base_ = './upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py'
pretrained = 'work_dirs/dbot_vit-l/epoch_1600.pth'
model = dict(
    backbone=dict(arch='large', out_indices=(7, 11, 15, 23), init_cfg=dict(checkpoint=pretrained)),
    neck=dict(embed_dim=1024),
    decode_head=dict(in_channels=[1024, 1024, 1024, 1024], channels=1024),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=3e-5), paramwise_cfg=dict(layer_decay_rate=0.95))
