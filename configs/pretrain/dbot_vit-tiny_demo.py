# A tiny dBOT for CPU: the ViT-L recipe (stage-1 teacher of depth 0) at 64 px with a ViT 64-wide
# x 4 blocks, three bootstrapping stages of 2 epochs (warm-up 1 epoch each), fp32. Used by the
# tests and `make demo`.
_base_ = './dbot_vit-l.py'
stage_epochs = [0, 2, 4, 6]
tiny_vit = dict(arch='tiny', embed_dims=64, depth=4, num_heads=4, patch_size=8)
img_size = 64
model = dict(
    backbone=dict(tiny_vit, img_size=img_size, drop_path_rate=0.1),
    neck=dict(decoder_embed_dims=64, decoder_depth=2, decoder_num_heads=4, drop_path_rate=0.1),
    teacher=dict(tiny_vit, img_size=img_size, depth=0))
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    # the parent's pipeline, cropping 64 px
    dataset=dict(
        dataset=dict(pipeline=[
            dict(t, scale=img_size) if t.type == 'RandomResizedCrop' else t
            for t in _base_.train_pipeline
        ])))
# fp32 on CPU; a larger lr than 1.5e-4 x 16 / 256 so that a few hundred steps learn something
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    constructor='MergedGroupsOptimWrapperConstructor',
    # mmengine's paramwise_cfg rules: no weight decay on 1-D parameters (official
    # main_pretrain.py, timm add_weight_decay); a non-empty paramwise_cfg also makes it skip the
    # frozen teacher.
    paramwise_cfg=dict(flat_decay_mult=0.))
param_scheduler = [dict(_base_.param_scheduler[0], stage_epochs=stage_epochs, warmup_epochs=1)]
train_cfg = dict(max_epochs=stage_epochs[-1])
auto_scale_lr = dict(base_batch_size=16)
custom_hooks = [
    dict(type='DBotBootstrapHook', stage_epochs=stage_epochs),
    dict(type='RandomStateHook'),
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=2))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
