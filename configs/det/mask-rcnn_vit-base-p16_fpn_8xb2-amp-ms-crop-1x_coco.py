# Mask R-CNN, dBOT ViT-B/16, COCO 2017, on the paper detector's schedule (official DOWNSTREAM.md
# COCO commands: AdamW lr 1e-4, wd 0.05, layer decay 0.75, drop path 0.2, 12 epochs, steps 8/11,
# batch 16 = 8 x 2, warm-up 500 it, activation checkpointing). The paper's own detector is Cascade
# Mask R-CNN (cascade-mask-rcnn_*.py); this is the product's Mask R-CNN with the same backbone,
# adapter, input and schedule.
# Input: the classic 1333 x 800 with the DETR multi-scale + crop augmentation, not ViTDet's
# 1024 LSJ: it is what the official dBOT (BEiT/iBOT) COCO configs use for the paper's 12-epoch
# numbers, and LSJ is a long-schedule (100 epoch) recipe.
# The checkpoint is `pretrained` of the model base, or:
#   tools/dist_train.sh configs/det/mask-rcnn_vit-base-p16_fpn_8xb2-amp-ms-crop-1x_coco.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = [
    '../_base_/models/mask-rcnn_vit-b-fpn.py',
    '../_base_/datasets/coco_instance_ms-crop.py',
    '../_base_/schedules/coco_adamw_ld-1x.py',
    '../_base_/det_runtime.py',
]
