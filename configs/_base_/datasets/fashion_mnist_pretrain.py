# Fashion-MNIST as an ImageNet-style folder of 32 px PNGs (written once by
# tools/dataset_converters/fashion_mnist_to_folder.py from the Debian package) through the
# dBOT / MAE pretraining pipeline of configs/_base_/datasets/imagenet_dbot_pretrain.py at 32 px:
# RandomResizedCrop(scale 0.2-1, bicubic) + flip. One process per core: no loader workers; the
# 32 px images are decoded once and kept in memory (SeededDataset in_memory: the same samples).
data_root = 'data/fashion_mnist'
img_size = 32
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=128,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    drop_last=True,
    sampler=dict(type='SeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='SeededDataset',
        in_memory=True,
        dataset=dict(
            type='CustomDataset', data_root=data_root, data_prefix='train',
            pipeline=train_pipeline)))
