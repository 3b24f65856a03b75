# dBOT ViT-H/14 (official PRETRAIN.md ViT-H/14 command): the ViT-L recipe with 14 px patches and
# drop path 0.3.
_base_ = './dbot_vit-l.py'
model = dict(
    backbone=dict(arch='huge', patch_size=14, drop_path_rate=0.3),
    neck=dict(drop_path_rate=0.3),
    teacher=dict(arch='huge', patch_size=14))
