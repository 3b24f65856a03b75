# The shipped pretraining pipeline with LoadImageFromFile + RandomResizedCrop + RandomFlip in one
# transform of dbot_mm (dbot_mm/datasets/transforms/fast_crop.py): the same crop boxes and filter,
# BGR output, libjpeg's fast IDCT and chroma upsampling (fast_dct; PSNR ~40 dB against the full
# decode), about 2x the images/s per CPU core (docs/performance.md). A config using it imports
# the transform: custom_imports = dict(imports=['dbot_mm'])
_base_ = './imagenet_dbot_pretrain.py'
train_pipeline = [
    dict(
        type='LoadImageAndRandomResizedCrop',
        scale=224,
        crop_ratio_range=(0.2, 1.0),
        interpolation='bicubic',
        flip_prob=0.5,
        fast_dct=True),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
