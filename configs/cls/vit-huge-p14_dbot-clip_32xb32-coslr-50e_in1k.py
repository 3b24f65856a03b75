# ImageNet-1k fine-tuning of the CLIP-distilled dBOT ViT-H/14 (official `beit` branch DOWNSTREAM.md
# ViT-H/14 command, model huge_patch14_224): the ViT-L recipe with lr 5e-5, layer decay 0.85, drop
# path 0.3 (50 epochs, warm-up 5); DeepSpeed fp16 there, AMP here. Activation checkpointing on
# (memory; no effect on the numbers). Its number: docs/model_zoo.md.
# run_finetune.py keeps the best epoch (checkpoint-best.pth), which the 448 px run starts from:
# here best_accuracy_top1_epoch_N.pth in the work dir.
_base_ = './vit-large-p16_dbot-clip_32xb32-coslr-50e_in1k.py'
pretrained = 'checkpoints/dbot-clip_vit-h-p14_official.pth'
model = dict(
    backbone=dict(
        arch='huge',
        patch_size=14,
        drop_path_rate=0.3,
        with_cp=True,
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(in_channels=1280))
optim_wrapper = dict(optimizer=dict(lr=5e-5), paramwise_cfg=dict(layer_decay_rate=0.85))
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater'))
