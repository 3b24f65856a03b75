# Mini benchmark (tools/analysis_tools/mini_benchmark.py): the dBOT ViT-B recipe
# (configs/pretrain/dbot_vit-b.py: stage-1 teacher = a frozen copy of the student's random init,
# decoder predicting the teacher's width, SmoothL1 beta 2, mask 0.75, drop path 0.2, AdamW
# b(0.9, 0.95) wd 0.05, per-stage warm-up + cosine, grad clip 3) scaled down to a ViT 64 wide x 4
# blocks with 4 px patches on 32 px Fashion-MNIST, decoder 64 x 2, batch 128 on one CPU core,
# three bootstrapping stages of 5 epochs (warm-up 1 epoch each), fp32.
_base_ = [
    '../_base_/models/dbot_vit-b.py',
    '../_base_/datasets/fashion_mnist_pretrain.py',
    '../_base_/schedules/dbot_pretrain_adamw_1600e.py',
    '../_base_/dbot_pretrain_runtime.py',
]
stage_epochs = [0, 5, 10, 15]
mini_vit = dict(arch='tiny', embed_dims=64, depth=4, num_heads=4, patch_size=4, img_size=32)
model = dict(
    backbone=dict(mini_vit),
    neck=dict(decoder_embed_dims=64, decoder_depth=2, decoder_num_heads=4),
    teacher=dict(mini_vit))
# fp32 on CPU; lr 1.5e-3 at batch 128 (not blr 1.5e-4 x 128 / 256): a 15-epoch budget needs the
# larger step, and MAE in this benchmark gets the same optimizer
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05),
    constructor='MergedGroupsOptimWrapperConstructor',
    paramwise_cfg=dict(flat_decay_mult=0.),
    clip_grad=dict(max_norm=3.0))
param_scheduler = [dict(_base_.param_scheduler[0], stage_epochs=stage_epochs, warmup_epochs=1)]
train_cfg = dict(max_epochs=stage_epochs[-1])
auto_scale_lr = dict(base_batch_size=128)
# k-NN top-1 of the student after every epoch and of each stage's teacher (KNNWatchHook): 1000
# images of the val/ folder beside the training images (500 memory, 500 queries), through the
# fine-tune config's test pipeline, the protocol of eval_frozen_features.py
custom_hooks = [
    dict(type='DBotBootstrapHook', stage_epochs=stage_epochs, reset_optimizer=False),
    dict(type='RandomStateHook'),
    dict(
        type='KNNWatchHook',
        data='val',
        num_images=1000,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackInputs')]),
]
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=5, max_keep_ckpts=1))
randomness = dict(seed=0)
