# UperNet on the CLIP-distilled dBOT ViT-B/16, ADE20K (official `beit` branch DOWNSTREAM.md ViT-B/16
# segmentation command, run with the main branch's evaluation/semantic_segmentation/configs/
# upernet/beit_base_512_ade20k_160k.py, iBOT's code): our dBOT segmenter (aux FCN 0.4, 160k
# iterations, batch 16 = 8 x 2, crop 512, poly, warm-up 1500 from 1e-6, slide test 512 stride 341)
# with the BEiT backbone: no absolute position embedding, a relative position bias per block from
# the file (14 x 14 -> 32 x 32 tokens, geometric spacing + cubic spline, as its mmcv_custom/
# checkpoint.py), layer scale (init_values 0.1) and q/v biases from the file; AdamW lr 3e-5, wd
# 0.05, layer decay 0.85, drop path 0.1. The weight decay follows its
# layer_decay_optimizer_constructor.py (full names compared with 'pos_embed' / 'cls_token'): only
# 1-D weights and biases go without; the CLS token and the bias tables are decayed. A file with a
# pos_embed (ours: the frozen sin-cos of configs/pretrain/dbot-clip_*) stops the loader: drop it as
# the official strict=False load does with model.backbone.init_cfg.drop_trained=True. Its number:
# docs/model_zoo.md.
_base_ = './upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py'
pretrained = 'checkpoints/dbot-clip_vit-b-p16_official.pth'  # docs/model_zoo.md
model = dict(
    backbone=dict(
        use_abs_pos_emb=False,
        layer_scale_init_value=0.1,
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint=pretrained)))
optim_wrapper = dict(
    optimizer=dict(lr=3e-5),
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.85, flat_decay_mult=0.))
