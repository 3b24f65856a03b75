# ViT-B/16 distilled from a trained dBOT ViT-L/16 (official model zoo row "ViT-B, teacher ViT-L,
# asym. enc-dec": IN-1k 84.6, COCO 53.1, ADE 50.1). The dBOT ViT-B recipe (configs/pretrain/
# dbot_vit-b.py) in ONE stage with an external frozen teacher = the last-stage student of
# configs/pretrain/dbot_vit-l.py (`backbone.*` of its final checkpoint, or a converted official
# file with prefix ''). Our assumptions (the official code does not say): 1600 epochs (warm-up 40,
# cosine), the decoder predicts the teacher's width (1024), no bootstrapping.
_base_ = './dbot_vit-b.py'
teacher_checkpoint = 'work_dirs/dbot_vit-l/epoch_1600.pth'
model = dict(
    teacher=dict(
        arch='large',
        depth=None,
        init_cfg=dict(type='Pretrained', checkpoint=teacher_checkpoint, prefix='backbone.')))
stage_epochs = [0, 1600]
param_scheduler = [
    dict(
        type='StageCosineLR',
        stage_epochs=stage_epochs,
        warmup_epochs=40,
        eta_min=0.,
        by_epoch=True,
        convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=stage_epochs[-1])
custom_hooks = [dict(type='RandomStateHook')]  # single stage: no DBotBootstrapHook
