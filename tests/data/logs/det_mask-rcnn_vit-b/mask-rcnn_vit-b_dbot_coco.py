default_scope = 'mmdet'
model = dict(
    type='MaskRCNN',
    backbone=dict(
        type='DBotViT',
        arch='base',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='/cluster/home/alice/dbot_mm/work_dirs/dbot_vit-b/dbot_stage1_epoch_2.pth',
            prefix='teacher.')),
    roi_head=dict(type='StandardRoIHead', mask_head=dict(type='FCNMaskHead')))
train_dataloader = dict(batch_size=2, dataset=dict(type='CocoDataset', data_root='data/coco/'))
val_dataloader = dict(batch_size=1, dataset=dict(type='CocoDataset', data_root='data/coco/'))
val_evaluator = dict(type='CocoMetric', metric=['bbox', 'segm'])
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=100)
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
work_dir = './work_dirs/det_mask-rcnn_vit-b'
