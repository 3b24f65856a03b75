# The backbone and neck of both COCO detectors (mask-rcnn_vit-b-fpn.py,
# cascade-mask-rcnn_vit-b-fpn.py), to put under mmdet's heads: a plain ViT-B/16 (global attention,
# absolute position embedding learnt from the checkpoint's), features of blocks (3, 5, 7, 11) ->
# mmseg.Feature2Pyramid (the one multi-scale adapter, shared with UperNet: 4x deconv-BN-GELU-deconv,
# 2x deconv, 1x identity, 0.5x max-pool) -> FPN 256 (strides 4..64); a neck list builds an
# nn.Sequential. mmdet's pad_size_divisor 32 = patch 16 x the 0.5x level: every level has an
# integer size. Activation checkpointing in every block (with_cp).
pretrained = 'work_dirs/dbot_vit-b/epoch_1600.pth'  # dBOT pretraining checkpoint
pretrained_prefix = 'backbone.'  # the last stage's student ('teacher.' for its teacher)
norm_cfg = dict(type='SyncBN', requires_grad=True)
vit_b_backbone = dict(
    type='mmpretrain.DBotViT',
    arch='base',
    patch_size=16,
    img_size=224,  # position embedding kept at the checkpoint's 14 x 14, resized per input
    drop_path_rate=0.2,
    freeze_pos_embed=False,
    with_cp=True,
    out_type='featmap',
    out_indices=(3, 5, 7, 11),
    final_norm=False,
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix=pretrained_prefix))
vit_b_neck = [
    dict(type='mmseg.Feature2Pyramid', embed_dim=768, rescales=[4, 2, 1, 0.5], norm_cfg=norm_cfg),
    dict(type='FPN', in_channels=[768, 768, 768, 768], out_channels=256, num_outs=5),
]
