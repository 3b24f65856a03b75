# Cascade Mask R-CNN (mmdet's cascade-mask-rcnn_r50_fpn.py) on a plain ViT-B/16, the paper's COCO
# detector (official evaluation/object_detection/configs/cascade_rcnn/
# vit_base_giou_4conv1f_coco_3x.py): backbone, adapter and FPN as in mask-rcnn_vit-b-fpn.py; the
# three cascade stages (IoU 0.5/0.6/0.7) get 4conv1fc bbox heads with SyncBN and class-specific
# regression of decoded boxes with GIoU loss (weight 10).
_base_ = 'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py'
pretrained = 'work_dirs/dbot_vit-b/epoch_1600.pth'  # dBOT pretraining checkpoint
pretrained_prefix = 'backbone.'  # the last stage's student ('teacher.' for its teacher)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True, type='mmpretrain.DBotViT', arch='base', img_size=224, patch_size=16,
        drop_path_rate=0.2, freeze_pos_embed=False, with_cp=True,
        out_type='featmap', out_indices=(3, 5, 7, 11), final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix=pretrained_prefix)),
    neck=[
        dict(type='mmseg.Feature2Pyramid', embed_dim=768, rescales=[4, 2, 1, 0.5],
             norm_cfg=norm_cfg),
        dict(type='FPN', in_channels=[768, 768, 768, 768], out_channels=256, num_outs=5),
    ],
    # mmdet's three stage heads (their own target stds), as 4conv1fc heads
    roi_head=dict(bbox_head=[
        dict(stage, type='Shared4Conv1FCBBoxHead', conv_out_channels=256, norm_cfg=norm_cfg,
             reg_class_agnostic=False, reg_decoded_bbox=True,
             loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        for stage in _base_.model.roi_head.bbox_head
    ]))
