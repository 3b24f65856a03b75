# ADE20K fine-tuning schedule of dBOT ViT-B (official DOWNSTREAM.md ViT-B/16 segmentation command
# and evaluation/mae_segmentation/configs/mae/upernet_mae_base_12_512_slide_160k_ade20k.py): AdamW
# lr 1e-4 (batch 16), wd 0.05 (not on biases, norms, layer scales, pos_embed, cls_token, relative
# position bias tables), layer-wise lr decay 0.65, linear warm-up from 1e-6 over 1500 iterations,
# then poly (power 1) to 0 at 160k, AMP.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        flat_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
        }))

max_iters = 160000
warmup_iters = 1500
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='PolyLR', eta_min=0.0, power=1.0, by_epoch=False, begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=16)
