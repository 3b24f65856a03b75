# UperNet on a plain ViT-B/16 for ADE20K, as the official dBOT segmentation configs
# (evaluation/mae_segmentation/configs/mae/upernet_mae_base_12_512_slide_160k_ade20k.py): absolute
# position embedding (from the checkpoint, resized to 32 x 32) + a relative position bias per block
# initialised at zero + layer scale 1.0; features of blocks (3, 5, 7, 11) -> Feature2Pyramid (4x,
# 2x, 1x, 0.5x) -> UperHead 768 channels + auxiliary FCN head (weight 0.4) on the 1x level;
# sliding-window test, 512 x 512 windows with stride 341. Heads as mmseg's upernet_beit.py; not
# inherited from it, because its model carries `pretrained=None` and a top-level data_preprocessor.
pretrained = 'work_dirs/dbot_vit-b/epoch_1600.pth'  # dBOT pretraining checkpoint
pretrained_prefix = 'backbone.'  # the last stage's student ('teacher.' for its teacher)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size=(512, 512)),
    backbone=dict(
        type='mmpretrain.DBotViT',
        arch='base',
        img_size=(512, 512),
        patch_size=16,
        drop_path_rate=0.2,
        layer_scale_init_value=1.0,
        use_rel_pos_bias=True,
        freeze_pos_embed=False,
        out_type='featmap',
        out_indices=(3, 5, 7, 11),
        final_norm=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix=pretrained_prefix)),
    neck=dict(type='Feature2Pyramid', embed_dim=768, rescales=[4, 2, 1, 0.5], norm_cfg=norm_cfg),
    decode_head=dict(
        type='UPerHead',
        in_channels=[768, 768, 768, 768],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=768,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=768,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
