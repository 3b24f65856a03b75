# A tiny CLIP-teacher dBOT for CPU tests: the ViT-B/CLIP recipe with a 64-wide x 4-block student
# (8 px patches) on 64 px images, 20 of 64 patches masked, a few epochs, fp32. The teacher is any
# local CLIP-shaped file with an 8 px patch (the tests write a tiny random one).
_base_ = './dbot-clip_vit-b-p16_clip-b16.py'
clip_checkpoint = 'work_dirs/tiny_clip_p8.pt'
img_size = 64
patch_size = 8
model = dict(
    backbone=dict(
        arch='tiny', embed_dims=64, depth=4, num_heads=4, img_size=img_size, patch_size=patch_size),
    teacher=dict(checkpoint=clip_checkpoint))
# the parent's pipeline without colour jitter (CPU time), cropping 64 px, 20 patches in blocks
train_pipeline = [
    dict(t, scale=img_size) if t.type == 'RandomResizedCrop' else
    dict(t, input_size=img_size // patch_size, num_masking_patches=20, min_num_patches=4)
    if t.type == 'BlockMaskGenerator' else t for t in _base_.train_pipeline
    if t.type != 'ColorJitter'
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(pipeline=train_pipeline))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='MergedGroupsOptimWrapperConstructor',
    # a non-empty paramwise_cfg: mmengine's constructor then leaves the frozen teacher out
    paramwise_cfg=dict(flat_decay_mult=0.))
max_epochs = 4
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=1,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
