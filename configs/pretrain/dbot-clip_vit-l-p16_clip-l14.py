# dBOT distilled from CLIP-L/14 into a vanilla ViT-L/16 (official `beit` branch PRETRAIN.md ViT-L/16
# command): the ViT-B recipe; CLIP-L/14 sees the crop at 196 px (--second_input_size 196) so its
# 14x14 grid matches the /16 student at 224. Layer scale stays 0.1 (the command does not pass
# --layer_scale_init_value). Model zoo: IN-1k 87.8, COCO 56.8, ADE 56.2.
_base_ = './dbot-clip_vit-b-p16_clip-b16.py'
clip_checkpoint = 'checkpoints/clip/ViT-L-14.pt'
model = dict(backbone=dict(arch='large'), teacher=dict(checkpoint=clip_checkpoint, input_size=196))
