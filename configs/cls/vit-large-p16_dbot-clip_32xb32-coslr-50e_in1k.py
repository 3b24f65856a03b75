# ImageNet-1k fine-tuning of the CLIP-distilled dBOT ViT-L/16 (official `beit` branch DOWNSTREAM.md
# ViT-L/16 command): the ViT-B recipe with lr 1e-4, layer decay 0.8, drop path 0.2, 50 epochs,
# warm-up 5. Its number: docs/model_zoo.md.
_base_ = './vit-base-p16_dbot-clip_32xb32-coslr-100e_in1k.py'
pretrained = 'checkpoints/dbot-clip_vit-l-p16_official.pth'
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2, init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1024))
optim_wrapper = dict(optimizer=dict(lr=1e-4), paramwise_cfg=dict(layer_decay_rate=0.8))
max_epochs = 50
warmup_epochs = 5
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - warmup_epochs,
        begin=warmup_epochs,
        end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
