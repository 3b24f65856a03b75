# ViT-B/16 distilled from a trained dBOT ViT-H/14 (model zoo row "ViT-B, teacher ViT-H": IN-1k
# 84.6, COCO 53.5, ADE 50.8): configs/pretrain/dbot-distill_vit-b-p16_dbot-l.py with the ViT-H/14
# teacher (last-stage student of configs/pretrain/dbot_vit-h.py). Our assumption: the teacher sees
# the crop resized to 196 px (bicubic) so its 14x14 grid matches the /16 student at 224, as the
# official CLIP-L/14 recipe does (--second_input_size 196).
_base_ = './dbot-distill_vit-b-p16_dbot-l.py'
teacher_checkpoint = 'work_dirs/dbot_vit-h/epoch_1600.pth'
model = dict(
    type='DBOT',
    teacher_img_size=196,
    teacher=dict(arch='huge', patch_size=14, init_cfg=dict(checkpoint=teacher_checkpoint)))
