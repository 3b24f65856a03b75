# dBOT ViT-B/16 (official models_mae.py, mae_vit_base_patch16_dec512d8b; PRETRAIN.md): MAE-style
# student, decoder 512/8/16 predicting the teacher's width, SmoothL1 (beta 2) on per-token
# normalised targets; stage-1 teacher = a frozen copy of the student's own random init (depth 12,
# --init_teacher_encoder_depth 12).
model = dict(
    type='DBOT',
    mask_ratio=0.75,
    num_masks=1,  # K student masks per teacher forward: our extension, 1 = the paper
    amp_teacher_weights=True,  # under AMP the frozen teacher's matmul weights are fp16/bf16
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(type='DBotViT', arch='base', img_size=224, patch_size=16, drop_path_rate=0.2),
    neck=dict(
        type='DBotDecoder',
        decoder_embed_dims=512,
        decoder_depth=8,
        decoder_num_heads=16,
        mlp_ratio=4.,
        drop_path_rate=0.2),
    head=dict(type='DBotHead', beta=2.0, eps=1e-6),
    teacher=dict(type='DBotViT', arch='base', img_size=224, patch_size=16, depth=12))
