# Cascade Mask R-CNN, dBOT ViT-L/16, COCO 2017, the paper's protocol: as the ViT-B config with
# features of blocks (7, 11, 15, 23), layer decay 0.75 (DESIGN §4). Drop path 0.2: DESIGN gives
# none for ViT-L on COCO; 0.2 is the official dBOT ViT-L COCO config's value. Paper: 56.0 APbox.
pretrained = 'work_dirs/dbot_vit-l/epoch_1600.pth'
pretrained_prefix = 'backbone.'

_base_ = [
    '../_base_/models/cascade-mask-rcnn_vit-b-fpn.py',
    '../_base_/datasets/coco_instance_ms-crop.py',
    '../_base_/schedules/coco_adamw_ld-1x.py',
    '../_base_/det_runtime.py',
]
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.2,
        out_indices=(7, 11, 15, 23),
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix=pretrained_prefix)),
    neck=[
        dict(type='mmseg.Feature2Pyramid', embed_dim=1024, rescales=[4, 2, 1, 0.5],
             norm_cfg=dict(type='SyncBN', requires_grad=True)),
        dict(type='FPN', in_channels=[1024, 1024, 1024, 1024], out_channels=256, num_outs=5),
    ])
