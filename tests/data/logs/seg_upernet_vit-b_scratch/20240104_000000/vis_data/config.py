default_scope = 'mmseg'
pretrained = 'work_dirs/dbot_vit-b/epoch_1600.pth'
model = dict(
    type='EncoderDecoder',
    backbone=dict(type='DBotViT', arch='base', img_size=512, init_cfg=None),
    decode_head=dict(type='UPerHead', num_classes=150),
    auxiliary_head=dict(type='FCNHead', num_classes=150))
train_dataloader = dict(batch_size=2, dataset=dict(type='ADE20KDataset', data_root='data/ade'))
val_dataloader = dict(batch_size=1, dataset=dict(type='ADE20KDataset', data_root='data/ade'))
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40, val_interval=20)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False))
log_processor = dict(by_epoch=False)
load_from = None
resume = False
work_dir = './work_dirs/seg_upernet_vit-b_scratch'
