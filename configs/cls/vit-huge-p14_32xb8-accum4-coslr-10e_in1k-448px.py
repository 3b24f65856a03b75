# dBOT ViT-H/14 at 448 px, fine-tuned from the 224 px fine-tuned model, official DOWNSTREAM.md
# ViT-H/14-448 command (main branch): drop path 0.4, blr 7e-5 (lr 2.8e-4 at 1024), layer decay 0.9,
# 10 epochs, warm-up 2, 8 images x 4 accumulation steps per GPU on 32 GPUs = 1024. Paper: 88.0.
# The checkpoint is the 224 px fine-tuned classifier: its backbone through the strict loader (the
# position embedding resized to 32 x 32, as the official interpolate_pos_embed); the head weight is
# drawn again (main_finetune.py: trunc_normal_(head.weight, std=0.01) after loading --finetune).
# Evaluation: resize 448 + centre crop 448 (util/datasets.py: crop_pct 1.0 above 224 px).
_base_ = './vit-huge-p14_32xb16-accum2-coslr-50e_in1k.py'
pretrained = 'work_dirs/vit-huge-p14_32xb16-accum2-coslr-50e_in1k/epoch_50.pth'
img_size = 448
model = dict(
    backbone=dict(img_size=img_size, drop_path_rate=0.4, init_cfg=dict(checkpoint=pretrained)))

optim_wrapper = dict(
    optimizer=dict(lr=7e-5 * 1024 / 256),
    accumulative_counts=4,
    paramwise_cfg=dict(layer_decay_rate=0.9))
train_dataloader = dict(
    batch_size=8,
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
warmup_epochs = 2
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(
        _base_.param_scheduler[1],
        T_max=max_epochs - warmup_epochs,
        begin=warmup_epochs,
        end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=256)  # 32 x 8 images per step = 1024 per update
