# ImageNet-1k pretraining pipeline of dBOT/MAE: RandomResizedCrop(224, scale 0.2-1, bicubic) + flip.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,  # per GPU; the recipe is 128 x 32 GPUs = 4096
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,  # official main_pretrain.py DataLoader(drop_last=True)
    # DefaultSampler + a seed per sample (dbot_mm/engine/data/seeded.py): the augmentation does not
    # depend on the workers, so a resumed run continues bit-exactly
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='SeededDataset',
        dataset=dict(
            type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline)))
