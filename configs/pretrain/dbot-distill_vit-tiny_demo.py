# Tiny single-stage distillation for CPU tests: the tiny dBOT student (64 wide x 4 blocks, 8 px
# patches, 64 px) learns from an external, wider and deeper teacher (96 wide x 6 blocks, 16 px
# patches at 128 px: different width, depth and patch size, as ViT-H/14 -> ViT-B/16) loaded from a
# checkpoint.
_base_ = './dbot_vit-tiny_demo.py'
teacher_checkpoint = 'work_dirs/tiny_teacher.pth'
stage_epochs = [0, 2]
model = dict(
    type='DBOT',
    teacher_img_size=128,
    teacher=dict(
        arch='tiny',
        embed_dims=96,
        depth=6,
        num_heads=4,
        img_size=128,
        patch_size=16,
        init_cfg=dict(type='Pretrained', checkpoint=teacher_checkpoint, prefix='backbone.')))
param_scheduler = [
    dict(
        type='StageCosineLR',
        stage_epochs=stage_epochs,
        warmup_epochs=1,
        eta_min=0.,
        by_epoch=True,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=stage_epochs[-1])
custom_hooks = [dict(type='RandomStateHook')]
