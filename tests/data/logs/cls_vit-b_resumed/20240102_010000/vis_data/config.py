default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='DBotViT',
        arch='base',
        img_size=224,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='work_dirs/pretrain_vit-b/epoch_4.pth',
                      prefix='backbone.')),
    neck=None,
    head=dict(type='LinearClsHead', num_classes=1000, in_channels=768))
train_dataloader = dict(batch_size=16, dataset=dict(type='ImageNet', data_root='data/imagenet'))
val_dataloader = dict(batch_size=16, dataset=dict(type='ImageNet', data_root='data/imagenet'))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3, val_interval=1)
default_hooks = dict(logger=dict(type='LoggerHook', interval=2))
load_from = 'work_dirs/cls_vit-b_resumed/epoch_1.pth'
resume = True
work_dir = './work_dirs/cls_vit-b_resumed'
