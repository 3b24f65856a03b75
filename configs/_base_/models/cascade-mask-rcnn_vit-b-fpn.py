# Cascade Mask R-CNN (mmdet's cascade-mask-rcnn_r50_fpn.py) on the ViT-B/16, adapter and FPN of
# vit-b-p16_fpn.py, the paper's COCO detector (official evaluation/object_detection/configs/
# cascade_rcnn/vit_base_giou_4conv1f_coco_3x.py): the three cascade stages (IoU 0.5/0.6/0.7) get
# 4conv1fc bbox heads with SyncBN and class-specific regression of decoded boxes with GIoU loss
# (weight 10).
_base_ = ['mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py', './vit-b-p16_fpn.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.vit_b_backbone),
    neck=_base_.vit_b_neck,
    # mmdet's three stage heads (their own target stds), as 4conv1fc heads
    roi_head=dict(bbox_head=[
        dict(
            stage,
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=_base_.norm_cfg,
            reg_class_agnostic=False,
            reg_decoded_bbox=True,
            loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        for stage in _base_.model.roi_head.bbox_head
    ]))
