# ADE20K (ADEChallengeData2016): mmseg's ade20k.py (150 classes, label 0 "other" ignored; 512 x 512
# crops of images rescaled to (2048, 512) x 0.5..2.0, flip, photometric distortion; test at
# (2048, 512) keep-ratio, the model slides 512 x 512 windows) with 2 images per GPU: 8 x 2 = 16,
# the official dBOT segmentation configs' samples_per_gpu=2.
_base_ = 'mmseg::_base_/datasets/ade20k.py'
train_dataloader = dict(batch_size=2)
