# ImageNet-1k fine-tuning of the CLIP-distilled dBOT ViT-B/16 (official `beit` branch: DOWNSTREAM.md
# ViT-B/16 command, run.sh imagenet_cls arguments, run_finetune.py defaults). The network is
# BEiT's (modeling_finetune.py): no absolute position embedding (--abs_pos_emb off), a relative
# position bias per block (--rel_pos_bias on; a pretrained shared table is copied into every block,
# by the converter as by run_finetune.py), layer scale and q/v biases from the checkpoint, mean
# pooling + fc_norm (--use_mean_pooling), head drawn as trunc_normal(std 0.02) x 0.001
# (--init_scale 0.001). lr 2e-4, absolute (run_finetune.py does not scale it), at batch 1024 =
# 32 x 32 GPUs (4 nodes x 8), warm-up 20 epochs, cosine to 1e-6 per iteration, 100 epochs, layer
# decay 0.65, drop path 0.1, AdamW (0.9, 0.999), eps 1e-8, wd 0.05 on every 2-D weight but
# pos_embed and cls_token (optim_factory.py: the relative position bias tables are decayed), no grad
# clip, AMP. Data as the dBOT recipe (timm create_transform: RandAug m9, erasing 0.25, mixup 0.8,
# cutmix 1.0, smoothing 0.1; test: resize 256, crop 224). Its number: docs/model_zoo.md.
# `pretrained` is the released checkpoint converted as docs/model_zoo.md says. A student of our
# configs/pretrain/dbot-clip_* holds a frozen sin-cos pos_embed, which this network has no place
# for (the loader stops): keep it with model.backbone.use_abs_pos_emb=True, or drop it as
# run_finetune.py would with model.backbone.init_cfg.drop_trained=True.
_base_ = './vit-base-p16_8xb128-coslr-100e_in1k.py'
pretrained = 'checkpoints/dbot-clip_vit-b-p16_official.pth'
model = dict(
    backbone=dict(
        use_abs_pos_emb=False,
        use_rel_pos_bias=True,
        layer_scale_init_value=0.1,  # run.sh --layer_scale_init_value (where the file has none)
        init_cfg=dict(checkpoint=pretrained)),
    head=dict(init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.02 * 0.001)]))
train_dataloader = dict(batch_size=32)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
warmup_epochs = 20
param_scheduler = [
    dict(_base_.param_scheduler[0], end=warmup_epochs),
    dict(_base_.param_scheduler[1], T_max=100 - warmup_epochs, begin=warmup_epochs),
]
auto_scale_lr = dict(base_batch_size=1024)
