default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='DBotViT', arch='base', out_type='cls_token', final_norm=True),
    neck=dict(type='ClsBatchNormNeck', input_features=768),
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=768))
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='LARS', lr=6.4, weight_decay=0.0, momentum=0.9),
    paramwise_cfg=dict(custom_keys=dict(backbone=dict(lr_mult=0.0, decay_mult=0.0))))
train_dataloader = dict(batch_size=128, dataset=dict(type='ImageNet', data_root='data/imagenet'))
val_dataloader = dict(batch_size=128, dataset=dict(type='ImageNet', data_root='data/imagenet'))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
load_from = '/data/ckpts/mae_pretrain_vit_base.pth'
resume = False
work_dir = './work_dirs/cls_linear_external'
