# dBOT ViT-L/16 ImageNet-1k fine-tuning (official DOWNSTREAM.md ViT-L/16 command): the ViT-B
# recipe with 50 epochs, layer decay 0.75, drop path 0.25, grad clip 1.0. Paper: 86.6 top-1.
_base_ = './vit-base-p16_8xb128-coslr-100e_in1k.py'
pretrained = 'work_dirs/dbot_vit-l/epoch_1600.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.25, init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1024))

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75), clip_grad=dict(max_norm=1.0))
max_epochs = 50
param_scheduler = [  # the parent's 5 warm-up epochs, then cosine over the other 45
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], T_max=max_epochs - 5, end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
