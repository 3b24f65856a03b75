# dBOT ViT-L/16 ImageNet-1k fine-tuning (official DOWNSTREAM.md ViT-L/16 command): the ViT-B
# recipe with 50 epochs, layer decay 0.75, drop path 0.25, grad clip 1.0. Paper: 86.6 top-1.
_base_ = './vit-base-p16_8xb128-coslr-100e_in1k.py'
pretrained = 'work_dirs/dbot_vit-l/epoch_1600.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.25, init_cfg=dict(checkpoint=pretrained)),
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
