# UperNet, dBOT ViT-B/16, ADE20K (official DOWNSTREAM.md ViT-B/16 segmentation command and
# evaluation/mae_segmentation/configs/mae/upernet_mae_base_12_512_slide_160k_ade20k.py): aux FCN
# 0.4, abs pos + per-block relative position bias from zero + layer scale 1.0, AdamW lr 1e-4,
# wd 0.05, layer decay 0.65, drop path 0.2, 160k iterations, batch 16 = 8 x 2, crop 512, poly,
# warm-up 1500, slide test 512 stride 341. Paper: 49.5 mIoU.
# The checkpoint is `pretrained` of the model base, or:
#   tools/dist_train.sh configs/seg/upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = [
    '../_base_/models/upernet_vit-b.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/ade20k_adamw_ld-poly-160k.py',
    '../_base_/seg_runtime.py',
]
