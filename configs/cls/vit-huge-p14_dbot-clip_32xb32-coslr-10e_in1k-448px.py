# The CLIP-distilled dBOT ViT-H/14 at 448 px (official `beit` branch DOWNSTREAM.md ViT-H/14-448
# command, model huge_patch14_448): from the 224 px fine-tuned model, lr 5e-5, layer decay 0.95,
# drop path 0.4, 10 epochs, warm-up 1. run_finetune.py loads the whole classifier: the relative
# position bias tables resized from 16 x 16 to 32 x 32 tokens (geometric spacing + cubic spline),
# the head kept (its shape fits, so it is not removed). Evaluation: resize 448 + centre crop 448
# (datasets.py: crop_pct 1.0 from 384 px). Its number: docs/model_zoo.md.
# `pretrained`: the released 224 px fine-tuned file converted (docs/model_zoo.md), or our 224 px
# run's best_accuracy_top1_epoch_N.pth.
_base_ = './vit-huge-p14_dbot-clip_32xb32-coslr-50e_in1k.py'
pretrained = 'checkpoints/dbot-clip_vit-h-p14_official-ft.pth'
img_size = 448
model = dict(
    backbone=dict(img_size=img_size, drop_path_rate=0.4, init_cfg=dict(checkpoint=pretrained)),
    head=dict(init_cfg=[dict(type='Pretrained', checkpoint=pretrained, prefix='head.')]))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.95))
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(step, scale=img_size) if step['type'] == 'RandomResizedCrop' else step
        for step in _base_.train_pipeline
    ]))
val_dataloader = dict(
    dataset=dict(pipeline=[
        dict(step, scale=img_size) if step['type'] ==
        'ResizeEdge' else dict(step, crop_size=img_size) if step['type'] == 'CenterCrop' else step
        for step in _base_.test_pipeline
    ]))
test_dataloader = val_dataloader
max_epochs = 10
warmup_epochs = 1
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - warmup_epochs,
        begin=warmup_epochs,
        end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
