# Mask R-CNN, dBOT ViT-L/16, COCO 2017: the ViT-B config with features of blocks (7, 11, 15, 23),
# drop path 0.2 as ViT-B (official evaluation/object_detection/configs/cascade_rcnn/
# vit_large_giou_4conv1f_coco_3x.py) and layer decay 0.75 as ViT-B (official DOWNSTREAM.md).
_base_ = './mask-rcnn_vit-base-p16_fpn_8xb2-amp-ms-crop-1x_coco.py'
pretrained = 'work_dirs/dbot_vit-l/epoch_1600.pth'
model = dict(
    backbone=dict(arch='large', out_indices=(7, 11, 15, 23), init_cfg=dict(checkpoint=pretrained)),
    neck=[
        dict(_base_.model.neck[0], embed_dim=1024),
        dict(_base_.model.neck[1], in_channels=[1024, 1024, 1024, 1024])
    ])
