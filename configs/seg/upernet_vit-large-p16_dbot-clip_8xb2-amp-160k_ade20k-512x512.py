# UperNet on the CLIP-distilled dBOT ViT-L/16, ADE20K (official `beit` branch DOWNSTREAM.md ViT-L/16
# segmentation command with main's beit_large_512_ade20k_160k.py): the ViT-B config with features
# of blocks (7, 11, 15, 23), layer scale init 1e-5 (where the file has none), lr 9e-6, layer decay
# 0.9, drop path 0.1 as ViT-B. Its number: docs/model_zoo.md.
_base_ = './upernet_vit-base-p16_dbot-clip_8xb2-amp-160k_ade20k-512x512.py'
pretrained = 'checkpoints/dbot-clip_vit-l-p16_official.pth'
model = dict(
    backbone=dict(
        arch='large',
        out_indices=(7, 11, 15, 23),
        layer_scale_init_value=1e-5,
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(embed_dim=1024),
    decode_head=dict(in_channels=[1024, 1024, 1024, 1024], channels=1024),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=9e-6), paramwise_cfg=dict(layer_decay_rate=0.9))
