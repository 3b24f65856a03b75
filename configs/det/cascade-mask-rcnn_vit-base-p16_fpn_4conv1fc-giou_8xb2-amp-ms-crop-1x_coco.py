# Cascade Mask R-CNN, dBOT ViT-B/16, COCO 2017: the paper's protocol (official DOWNSTREAM.md COCO
# commands and evaluation/object_detection/configs/cascade_rcnn/vit_base_giou_4conv1f_coco_3x.py):
# 4conv1fc bbox heads with GIoU loss, AdamW lr 1e-4, wd 0.05, layer decay 0.75, drop path 0.2,
# 12 epochs, steps 8/11, batch 16 = 8 x 2, warm-up 500 it, activation checkpointing.
# Paper: 52.7 APbox. Input: 1333 x 800 with the DETR multi-scale + crop augmentation of the
# official configs (see the Mask R-CNN config for why not LSJ).
# The checkpoint is `pretrained` of the model base, or:
#   tools/dist_train.sh \
#       configs/det/cascade-mask-rcnn_vit-base-p16_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = [
    '../_base_/models/cascade-mask-rcnn_vit-b-fpn.py',
    '../_base_/datasets/coco_instance_ms-crop.py',
    '../_base_/schedules/coco_adamw_ld-1x.py',
    '../_base_/det_runtime.py',
]
