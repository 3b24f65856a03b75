# ImageNet-1k linear-probe data of MAE (main_linprobe.py): RandomResizedCrop 224 (bicubic) + flip
# only, 2048 images per GPU (8 x 2048 = 16384, MAE's linear-probe batch); test as in fine-tuning,
# 256 images per GPU.
_base_ = './imagenet_bs128_finetune.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=2048, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=256)
test_dataloader = val_dataloader
