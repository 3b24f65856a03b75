# Mask R-CNN (mmdet's mask-rcnn_r50_fpn.py) on the ViT-B/16, adapter and FPN of vit-b-p16_fpn.py.
_base_ = ['mmdet::_base_/models/mask-rcnn_r50_fpn.py', './vit-b-p16_fpn.py']
model = dict(backbone=dict(_delete_=True, **_base_.vit_b_backbone), neck=_base_.vit_b_neck)
