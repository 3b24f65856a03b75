# Mini benchmark: mmpretrain's MAE (pixel target, norm_pix, L2 on masked patches; its own model
# base) with the encoder of the dBOT runs (64 wide x 4 blocks, 4 px patches, 32 px, mask 0.75),
# the same decoder size (64 x 2), data, batch, optimizer and schedule (one 15-epoch stage:
# warm-up 1 epoch + cosine, StageCosineLR with one stage) as
# dbot_vit-mini-p4_1xb128-1x15e_fashion-mnist.py. MAE's recipe has no drop path.
_base_ = [
    'mmpretrain::_base_/models/mae_vit-base-p16.py',
    '../_base_/datasets/fashion_mnist_pretrain.py',
    '../_base_/mmpretrain_runtime.py',
]
custom_imports = dict(imports=['dbot_mm'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(  # the parent's arch is a name ('b'): restated with a dict
        _delete_=True,
        type='MAEViT',
        mask_ratio=0.75,
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        patch_size=4,
        img_size=32),
    neck=dict(
        num_patches=64,
        patch_size=4,
        embed_dim=64,
        decoder_embed_dim=64,
        decoder_depth=2,
        decoder_num_heads=4),
    head=dict(patch_size=4))
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    constructor='MergedGroupsOptimWrapperConstructor',
    paramwise_cfg=dict(flat_decay_mult=0.),
    clip_grad=dict(max_norm=3.0))
param_scheduler = [
    dict(
        type='StageCosineLR',
        stage_epochs=[0, 15],
        warmup_epochs=1,
        eta_min=0.,
        by_epoch=True,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=15)
auto_scale_lr = dict(base_batch_size=128)
custom_hooks = [dict(type='RandomStateHook')]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=5, max_keep_ckpts=1))
randomness = dict(seed=0)
