# ViT-B/16 image classifier of MAE/dBOT fine-tuning (official models_vit.py, global_pool=True):
# mean of the patch tokens -> fc_norm -> Linear, no final norm; learnable position embedding
# initialised from the checkpoint.
pretrained = 'work_dirs/dbot_vit-b/epoch_1600.pth'  # dBOT pretraining checkpoint
pretrained_prefix = 'backbone.'  # the last stage's student ('teacher.' for its teacher)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(
        num_classes=1000, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(
        type='DBotViT',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        freeze_pos_embed=False,
        out_type='avg_featmap',
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix=pretrained_prefix)),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        # mixup/cutmix give soft targets; label smoothing 0.1 on top (timm Mixup's
        # label_smoothing + SoftTargetCrossEntropy in the official main_finetune.py)
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        # official main_finetune.py: trunc_normal_(head.weight, std=0.01) after loading
        init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.01)]),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8),
                             dict(type='CutMix', alpha=1.0)]))
