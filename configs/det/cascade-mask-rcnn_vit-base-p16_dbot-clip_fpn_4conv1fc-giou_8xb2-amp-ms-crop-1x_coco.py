# Cascade Mask R-CNN on the CLIP-distilled dBOT ViT-B/16, COCO 2017 (official `beit` branch
# DOWNSTREAM.md ViT-B/16 COCO command, run with the main branch's evaluation/object_detection/
# configs/cascade_rcnn/beit_base_giou_4conv1f_coco_3x.py): our dBOT detector (4conv1fc GIoU heads,
# 12 epochs, steps 8/11, batch 16 = 8 x 2, activation checkpointing) with the BEiT backbone of the
# command: absolute position embedding (use_abs_pos_emb=True, "the model are pre-trained with
# absolute position embedding"), no relative position bias (use_rel_pos_bias=False,
# use_shared_rel_pos_bias=False: a trained table of the file is dropped, as the official
# load_checkpoint(strict=False) does), layer scale (init_values 0.1) and q/v biases from the file,
# drop path 0.1, AdamW lr 1e-4, wd 0.05, layer decay 0.8. The weight decay follows its
# layer_decay_optimizer_constructor.py: it compares the detector's parameter names
# ('backbone.pos_embed') with 'pos_embed' / 'cls_token', so only 1-D weights and biases go
# without, the position embedding and CLS token are decayed. A file without pos_embed starts it at
# our sin-cos table (the official: trunc_normal std 0.02). Its number: docs/model_zoo.md.
_base_ = './cascade-mask-rcnn_vit-base-p16_fpn_4conv1fc-giou_8xb2-amp-ms-crop-1x_coco.py'
pretrained = 'checkpoints/dbot-clip_vit-b-p16_official.pth'  # docs/model_zoo.md
model = dict(
    backbone=dict(
        use_abs_pos_emb=True,
        use_rel_pos_bias=False,
        drop_path_rate=0.1,
        layer_scale_init_value=0.1,
        init_cfg=dict(checkpoint=pretrained, drop_trained=['rel_pos_bias'])))
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.8, flat_decay_mult=0.))
