# Linear probe of a dBOT ViT-B/16 on ImageNet-1k. The dBOT paper gives no linear-probe recipe;
# this is MAE's (He et al. 2022, Table 9; mmpretrain's MAE linear-probe config):
# frozen backbone, CLS token after the final norm -> BatchNorm1d without affine -> Linear;
# LARS, lr 0.1 x batch / 256 = 6.4 @ 16384 (8 x 2048), momentum 0.9, no weight decay,
# 10 warm-up epochs then cosine to 0, 90 epochs, RandomResizedCrop + flip only.
# The backbone is frozen with lr_mult=0 (DBotViT has no frozen_stages option): its weights do not
# change, but its gradients are still computed (slower than a true freeze).
_base_ = [
    '../_base_/models/vit-b-p16_avgpool.py',
    '../_base_/datasets/imagenet_bs2048_linear.py',
    '../_base_/schedules/imagenet_bs1024_adamw_ld-coslr-100e.py',
    '../_base_/mmpretrain_runtime.py',
]
# the fine-tuning classifier's data preprocessor, checkpoint and Linear head (plain cross-entropy)
model = dict(
    _delete_=True,
    type='ImageClassifier',
    data_preprocessor=_base_.model.data_preprocessor,
    backbone=dict(
        type='DBotViT',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.,
        out_type='cls_token',
        final_norm=True,
        init_cfg=_base_.model.backbone.init_cfg),
    neck=dict(type='ClsBatchNormNeck', input_features=768),
    head=dict(_base_.model.head, loss=dict(type='CrossEntropyLoss')))

# the fine-tuning schedule's shape (per-iteration warm-up, then cosine) with MAE's optimizer
optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='LARS', lr=6.4, weight_decay=0.0, momentum=0.9),
    constructor='MergedGroupsOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.0, decay_mult=0.0)}))
warmup_epochs = 10
max_epochs = 90
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - warmup_epochs,
        eta_min=0.0,
        begin=warmup_epochs,
        end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=16384)
default_hooks = dict(logger=dict(interval=10))
