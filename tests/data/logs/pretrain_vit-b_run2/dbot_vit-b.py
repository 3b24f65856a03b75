default_scope = 'mmpretrain'
custom_imports = dict(allow_failed_imports=False, imports=['dbot_mm'])
model = dict(
    type='DBOT',
    backbone=dict(type='DBotViT', arch='base', patch_size=16, drop_path_rate=0.2),
    neck=dict(type='DBotDecoder', embed_dims=512, depth=8, num_heads=16),
    head=dict(type='DBotHead', loss=dict(type='DBotSmoothL1Loss', beta=2.0)),
    teacher=dict(type='DBotViT', arch='base', depth=12))
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='train'))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=4)
optim_wrapper = dict(type='AmpOptimWrapper', optimizer=dict(type='AdamW', lr=0.0015))
custom_hooks = [dict(type='DBotBootstrapHook', stage_epochs=[0, 2, 4])]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2))
work_dir = './work_dirs/dbot_vit-b'
