# Linear probe of a dBOT ViT-B/16 on ImageNet-1k. The dBOT paper gives no linear-probe recipe;
# this is MAE's (He et al. 2022, Table 9; mmpretrain's MAE linear-probe config):
# frozen backbone, CLS token after the final norm -> BatchNorm1d without affine -> Linear;
# LARS, lr 0.1 x batch / 256 = 6.4 @ 16384 (8 x 2048), momentum 0.9, no weight decay,
# 10 warm-up epochs then cosine to 0, 90 epochs, RandomResizedCrop + flip only.
# The backbone is frozen with lr_mult=0 (DBotViT has no frozen_stages option): its weights do not
# change, but its gradients are still computed (slower than a true freeze).
pretrained = 'work_dirs/dbot_vit-b/epoch_1600.pth'
pretrained_prefix = 'backbone.'

_base_ = [
    '../_base_/datasets/imagenet_bs2048_linear.py',
    '../_base_/mmpretrain_runtime.py',
]
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=1000, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='DBotViT', arch='base', img_size=224, patch_size=16, drop_path_rate=0.,
        out_type='cls_token', final_norm=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix=pretrained_prefix)),
    neck=dict(type='ClsBatchNormNeck', input_features=768),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        loss=dict(type='CrossEntropyLoss'),
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.01)]))

optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='LARS', lr=6.4, weight_decay=0.0, momentum=0.9),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.0, decay_mult=0.0)}))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=80, eta_min=0.0, by_epoch=True, begin=10, end=90,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=90, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16384)
default_hooks = dict(logger=dict(interval=10))
