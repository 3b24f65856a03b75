# COCO fine-tuning schedule of dBOT (official DOWNSTREAM.md COCO commands and
# evaluation/object_detection/configs/cascade_rcnn/vit_base_giou_4conv1f_coco_3x.py): AdamW lr 1e-4
# (batch 16), wd 0.05 (not on biases, norms, pos_embed, cls_token), layer-wise lr decay 0.75,
# mmdet's 1x schedule (linear warm-up over 500 iterations, 12 epochs, x0.1 after epochs 8 and 11),
# AMP.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(
        layer_decay_rate=0.75,
        flat_decay_mult=0.,
        custom_keys={
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
        }))

max_epochs = 12
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(base_batch_size=16)
