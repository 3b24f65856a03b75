# CPU demo / test variant of the ViT-B fine-tuning recipe, only smaller: a 64-wide, 4-block ViT
# with 8 px patches (the tiny dBOT of configs/pretrain/dbot_vit-tiny_demo.py) on 64 px images of
# the synthetic 4-class ImageNet (tools/misc/make_synthetic_data.py), batch 16, 30 epochs, fp32.
# lr stays 3e-4 at batch 16 (auto_scale_lr base 16), not 3e-4 x 16 / 1024.
_base_ = './vit-base-p16_8xb128-coslr-100e_in1k.py'
pretrained = 'work_dirs/dbot_vit-tiny_demo/epoch_6.pth'
tiny_vit = dict(arch='tiny', embed_dims=64, depth=4, num_heads=4, patch_size=8)
num_classes = 4
img_size = 64

model = dict(
    data_preprocessor=dict(num_classes=num_classes),
    backbone=dict(tiny_vit, img_size=img_size, init_cfg=dict(checkpoint=pretrained)),
    head=dict(num_classes=num_classes, in_channels=64))

# the parent's pipelines at 64 px (test: short side 73 = 64 x 256 / 224, centre crop 64)
train_pipeline = [
    dict(t, scale=img_size) if t.type == 'RandomResizedCrop' else t for t in _base_.train_pipeline
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=73, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(train_dataloader, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper')
max_epochs = 30
param_scheduler = [  # the parent's, with 2 warm-up epochs
    dict(_base_.param_scheduler[0], end=2),
    dict(_base_.param_scheduler[1], T_max=max_epochs - 2, begin=2, end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
auto_scale_lr = dict(base_batch_size=16)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5, max_keep_ckpts=1))
