# ImageNet fine-tuning schedule of dBOT ViT-B (official DOWNSTREAM.md ViT-B/16 command, run.sh,
# main_finetune.py defaults): AdamW, blr 3e-4 per 256 images = lr 1.2e-3 at batch 1024
# (main_finetune.py: lr = blr * total_batch / 256; auto_scale_lr / --auto-scale-lr scales it),
# wd 0.05 (not on biases, norms, pos_embed, cls_token), layer-wise lr decay 0.65, 5 warm-up epochs
# then cosine to min_lr 1e-6, per iteration, 100 epochs, AMP.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=3e-4 * 1024 / 256, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.65,
        flat_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
        }))

warmup_epochs = 5
max_epochs = 100
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
