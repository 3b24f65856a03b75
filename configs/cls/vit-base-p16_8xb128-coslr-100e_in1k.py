# dBOT ViT-B/16 ImageNet-1k fine-tuning (official DOWNSTREAM.md ViT-B/16 command, run.sh and
# main_finetune.py defaults): 100 epochs, AdamW, layer decay 0.65, drop path 0.1, warm-up 5,
# RandAug m9, mixup 0.8, cutmix 1.0, smoothing 0.1, erasing 0.25, avg-pool + fc_norm.
# Paper: 84.5 top-1. The checkpoint is `pretrained` of the model base, or:
#   tools/dist_train.sh configs/cls/vit-base-p16_8xb128-coslr-100e_in1k.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = [
    '../_base_/models/vit-b-p16_avgpool.py',
    '../_base_/datasets/imagenet_bs128_finetune.py',
    '../_base_/schedules/imagenet_bs1024_adamw_ld-coslr-100e.py',
    '../_base_/mmpretrain_runtime.py',
]
