# Data of the official transfer classification (evaluation/eval_cls.py, run.sh targets
# cifar10_cls, cifar_cls, cars_cls, flwrs_cls): the ImageNet fine-tuning transforms (eval_cls.py's
# timm create_transform: RandomResizedCrop 224 bicubic, flip, rand-m9-mstd0.5-inc1, colour jitter
# unused with RandAugment, RandomErasing 0.25 pixel mode; test: resize 256 bicubic, centre crop
# 224, also for the 32 px CIFAR images), 96 images per GPU (run.sh `--batch-size 96`, 8 GPUs),
# repeated augmentation x3 (eval_cls.py RASampler, `--repeated-aug` default on) and a validation
# batch of 1.5 x 96 (eval_cls.py data_loader_val). Each config sets `dataset`.
_base_ = './imagenet_bs128_finetune.py'
train_dataloader = dict(
    batch_size=96,
    drop_last=True,  # eval_cls.py data_loader_train(drop_last=True)
    sampler=dict(type='RepeatAugSampler', num_repeats=3, shuffle=True, _delete_=True))
val_dataloader = dict(batch_size=144, drop_last=False)
test_dataloader = val_dataloader
