# dBOT distilled from CLIP-B/16 into a vanilla ViT-B/16 (official `beit` branch PRETRAIN.md ViT-B/16
# command and run_pretrain.py defaults): mask tokens inside the encoder, relative position bias,
# layer scale 0.1, BEiT's init, block-wise masking of up to 78 of 196 patches (min 16 per block),
# teacher = CLIP tokens after ln_post + proj (--post_patch_norm True), loss 1 - cos on the masked
# tokens, one stage of 1600 epochs, AdamW lr 3e-3 at batch 4096 (128 x 32), wd 0.05, warm-up 10
# epochs from 0, cosine to 1e-5, drop path 0.1. The commands run `./run.sh imagenet_pretrain ...`,
# whose own arguments hold where a command passes none: betas (0.9, 0.98), eps 1e-6, grad clip 3.0,
# ImageNet mean/std for the student. Model zoo: IN-1k 85.7, COCO 53.6, ADE 52.9.
_base_ = ['../_base_/dbot_pretrain_runtime.py']
# a local OpenAI CLIP file: JIT archive, state dict or tools/model_converters/clip_to_dbot_mm.py's
clip_checkpoint = 'checkpoints/clip/ViT-B-16.pt'
img_size = 224
patch_size = 16
model = dict(
    type='DBOTCLIP',
    # run.sh --imagenet_default_mean_and_std: timm's IMAGENET_DEFAULT_MEAN/STD (datasets.py) for
    # the student. The teacher undoes these and applies CLIP's own mean/std (CLIPTeacher; official
    # tokenizer/clip_encoder.py normalises the un-normalised second image itself).
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    # our assumption: DBotViT keeps its frozen sin-cos absolute position embedding (the official
    # student has none, --abs_pos_emb False) and a per-block relative position bias where the
    # official one is shared (use_shared_rel_pos_bias); one backbone for every task.
    backbone=dict(
        type='DBotViT',
        arch='base',
        img_size=img_size,
        patch_size=patch_size,
        drop_path_rate=0.1,
        layer_scale_init_value=0.1,
        use_rel_pos_bias=True),
    teacher=dict(type='CLIPTeacher', checkpoint=clip_checkpoint, input_size=None),
    head=dict(
        type='MIMHead', loss=dict(type='CosineSimilarityLoss', shift_factor=1.0, scale_factor=1.0)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4, hue=0.),
    dict(
        type='RandomResizedCrop',
        scale=img_size,
        crop_ratio_range=(0.4, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    # official masking_generator.py (dbot_mm/datasets/transforms/block_masking.py: mmpretrain's
    # BEiTMaskGenerator never masks the last row and column)
    dict(
        type='BlockMaskGenerator',
        input_size=img_size // patch_size,
        num_masking_patches=78,
        min_num_patches=16,
        max_num_patches=None),
    dict(type='PackInputs', algorithm_keys=['mask']),
]
train_dataloader = dict(
    batch_size=128,  # per GPU, x 32 GPUs = 4096
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ImageNet', data_root='data/imagenet/', split='train', pipeline=train_pipeline))

optim_wrapper = dict(
    type='AmpOptimWrapper',  # dynamic loss scale (its default)
    # run.sh --opt_betas 0.9 0.98 --opt_eps 1e-6; wd: run_pretrain.py default 0.05, constant
    optimizer=dict(type='AdamW', lr=3e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.05),
    clip_grad=dict(max_norm=3.0),  # run.sh --clip_grad 3.0
    constructor='MergedGroupsOptimWrapperConstructor',
    # optim_factory.py get_parameter_groups: no decay on 1-D parameters, `.bias` and the names in
    # no_weight_decay() = {pos_embed, cls_token} (modeling_pretrain.py); the mask token and the
    # 2-D relative position bias tables are decayed. Our pos_embed is frozen (not optimised).
    paramwise_cfg=dict(
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        flat_decay_mult=0.,
        custom_keys={'cls_token': dict(decay_mult=0.)}))
max_epochs = 1600
warmup_epochs = 10
param_scheduler = [
    # utils.py multi_stage_cosine_scheduler: warm-up from 0 (start_warmup_value; --warmup_lr is
    # never read), closed form. StageCosineLR's warm-up (its cosine part ends unused here), as
    # mmengine's chained LinearLR cannot start at 0 (its next step divides by the start factor).
    dict(
        type='StageCosineLR',
        stage_epochs=[0, max_epochs],
        warmup_epochs=warmup_epochs,
        eta_min=0.,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=4096)
custom_hooks = [dict(type='RandomStateHook')]
