# dBOT schedule (official PRETRAIN.md, main_pretrain.py, util/lr_sched.py): two stages of 800
# epochs (--stage_epochs 0 800 1600); in each stage a linear warm-up from 0 over 40 epochs, then
# half-cosine to 0, updated every iteration. AdamW b(0.9, 0.95), wd 0.05, lr = blr 1.5e-4 x batch
# / 256 (2.4e-3 at 4096, scaled by --auto-scale-lr for other batch sizes).
stage_epochs = [0, 800, 1600]
warmup_epochs = 40

optim_wrapper = dict(
    type='AmpOptimWrapper',  # dynamic loss scale (its default)
    optimizer=dict(type='AdamW', lr=1.5e-4 * 4096 / 256, betas=(0.9, 0.95), weight_decay=0.05),
    # one param group per setting (official: one per weight decay), not one per parameter
    constructor='MergedGroupsOptimWrapperConstructor',
    # mmengine's paramwise_cfg rules: no weight decay on 1-D parameters (official
    # main_pretrain.py, timm add_weight_decay); a non-empty paramwise_cfg also makes it skip the
    # frozen teacher.
    paramwise_cfg=dict(flat_decay_mult=0.))

param_scheduler = [
    dict(
        type='StageCosineLR',
        stage_epochs=stage_epochs,
        warmup_epochs=warmup_epochs,
        eta_min=0.,
        by_epoch=True,
        convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=stage_epochs[-1])
auto_scale_lr = dict(base_batch_size=4096)

custom_hooks = [
    dict(type='DBotBootstrapHook', stage_epochs=stage_epochs, reset_optimizer=False),
    dict(type='RandomStateHook'),
]
