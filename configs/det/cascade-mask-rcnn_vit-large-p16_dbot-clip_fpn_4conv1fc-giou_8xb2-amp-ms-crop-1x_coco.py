# Cascade Mask R-CNN on the CLIP-distilled dBOT ViT-L/16, COCO 2017 (official `beit` branch
# DOWNSTREAM.md ViT-L/16 COCO command with main's beit_large_giou_4conv1f_coco_3x.py): the ViT-B
# config with features of blocks (7, 11, 15, 23), layer scale init 1e-5 (where the file has none),
# drop path 0.2, lr 7e-5, layer decay 0.9. Its number: docs/model_zoo.md.
_base_ = './cascade-mask-rcnn_vit-base-p16_dbot-clip_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py'
pretrained = 'checkpoints/dbot-clip_vit-l-p16_official.pth'
model = dict(
    backbone=dict(
        arch='large',
        out_indices=(7, 11, 15, 23),
        layer_scale_init_value=1e-5,
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=pretrained)),
    neck=[
        dict(_base_.model.neck[0], embed_dim=1024),
        dict(_base_.model.neck[1], in_channels=[1024, 1024, 1024, 1024])
    ])
optim_wrapper = dict(optimizer=dict(lr=7e-5), paramwise_cfg=dict(layer_decay_rate=0.9))
