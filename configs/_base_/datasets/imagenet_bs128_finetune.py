# ImageNet-1k fine-tuning data of MAE/dBOT (timm's create_transform as in the official
# main_finetune.py, util/datasets.py): RandomResizedCrop 224 (bicubic) + flip + RandAugment
# rand-m9-mstd0.5-inc1 + RandomErasing 0.25 (pixel mode); test: resize the short side to 256
# (bicubic), centre crop 224. 128 images per GPU (8 GPUs x 128 = 1024, the paper's batch).
# Not mmpretrain's imagenet bases: a `mmpretrain::` base gives collate_fn a `_scope_` key, which
# mmengine's Runner passes to the collate function as a keyword argument.
dataset_type = 'ImageNet'
data_root = 'data/imagenet'
img_size = 224
# normalisation (ImageNet mean/std, RGB) is the model's data_preprocessor; these are BGR values
# for the augmentations that paint pixels
bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    train_dataloader,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(train_dataloader['dataset'], split='val', pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
