# CPU demo / test variant of the UperNet recipe, only smaller: the tiny dBOT ViT (64 wide,
# 4 blocks, 8 px patches; features of every block) with relative position bias and layer scale as
# the full recipe, heads 64 channels wide, on the synthetic ADE20K (96 px images): 64 x 64 crops
# of images rescaled to (384, 96) x 0.5..2.0, slide test 64 stride 43 (512/341 scaled), batch 4,
# 400 iterations with a 50-iteration warm-up, fp32.
_base_ = './upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py'
pretrained = 'work_dirs/dbot_vit-tiny_demo/epoch_6.pth'
tiny_vit = dict(arch='tiny', embed_dims=64, depth=4, num_heads=4, patch_size=8)
crop_size = (64, 64)

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        tiny_vit,
        img_size=crop_size,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(checkpoint=pretrained)),
    neck=dict(embed_dim=64),
    decode_head=dict(in_channels=[64, 64, 64, 64], channels=64),
    auxiliary_head=dict(in_channels=64, channels=32),
    test_cfg=dict(crop_size=crop_size, stride=(43, 43)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(384, 96), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(384, 96), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(train_dataloader, batch_size=1, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(type='OptimWrapper')
max_iters = 400  # about 3 min on 2 cores; mIoU already separates the inits
param_scheduler = [  # the parent's, with a 50-iteration warm-up
    dict(_base_.param_scheduler[0], end=50),
    dict(_base_.param_scheduler[1], begin=50, end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=200)
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=200, max_keep_ckpts=1))
