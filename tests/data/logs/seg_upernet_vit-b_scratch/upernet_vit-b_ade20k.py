default_scope = 'mmseg'
model = dict(
    type='SegTTAModel',
    module=dict(type='EncoderDecoder'),
    )
train_dataloader = dict(batch_size=2, dataset=dict(type='ADE20KDataset', data_root='data/ade'))
val_dataloader = dict(batch_size=1, dataset=dict(type='ADE20KDataset', data_root='data/ade'))
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40, val_interval=20)
default_hooks = dict(logger=dict(type='LoggerHook', interval=10, log_metric_by_epoch=False))
log_processor = dict(by_epoch=False)
