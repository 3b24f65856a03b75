# dBOT ViT-L/16 ImageNet-1k fine-tuning (DESIGN §4): as ViT-B but 50 epochs, layer decay 0.75,
# drop path 0.25, grad clip 1.0. Paper: 86.6 top-1.
pretrained = 'work_dirs/dbot_vit-l/epoch_1600.pth'
pretrained_prefix = 'backbone.'

_base_ = [
    '../_base_/models/vit-b-p16_avgpool.py',
    '../_base_/datasets/imagenet_bs128_finetune.py',
    '../_base_/schedules/imagenet_bs1024_adamw_ld-coslr-100e.py',
    '../_base_/mmpretrain_runtime.py',
]
model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.25,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix=pretrained_prefix)),
    head=dict(in_channels=1024))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75), clip_grad=dict(max_norm=1.0))
max_epochs = 50
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 5, eta_min=1e-6, by_epoch=True, begin=5,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
