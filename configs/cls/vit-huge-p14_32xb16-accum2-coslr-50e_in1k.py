# dBOT ViT-H/14 ImageNet-1k fine-tuning, official DOWNSTREAM.md ViT-H/14 command (main branch):
# drop path 0.3, blr 3e-4 (lr 1.2e-3 at 1024), layer decay 0.75 (as ViT-L), 50 epochs, warm-up 5,
# 16 images x 2 accumulation steps per GPU on 32 GPUs = 1024, no grad clip. Paper: 87.4 top-1.
# Activation checkpointing on (memory; no effect on the numbers).
_base_ = './vit-large-p16_8xb128-coslr-50e_in1k.py'
pretrained = 'work_dirs/dbot_vit-h/epoch_1600.pth'
model = dict(
    backbone=dict(
        arch='huge',
        patch_size=14,
        drop_path_rate=0.3,
        with_cp=True,
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1280))

optim_wrapper = _base_.optim_wrapper
optim_wrapper.pop('clip_grad')  # ViT-L's grad clip 1.0 is not in the ViT-H command
optim_wrapper.update(accumulative_counts=2, paramwise_cfg=dict(layer_decay_rate=0.75))
train_dataloader = dict(batch_size=16)
# mmengine scales the lr by GPUs x batch_size, not counting accumulation: 32 x 16 = 512 images per
# step is the official 1024 per update.
auto_scale_lr = dict(base_batch_size=512)
# main_finetune.py keeps the best epoch (checkpoint-best.pth: top-1 above the best so far), the
# ViT-H/14-448 start: here best_accuracy_top1_epoch_N.pth in the work dir
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater'))
