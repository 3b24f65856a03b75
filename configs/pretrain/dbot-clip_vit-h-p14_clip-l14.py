# dBOT distilled from CLIP-L/14 into a vanilla ViT-H/14 (official `beit` branch PRETRAIN.md ViT-H/14
# command, model huge_patch14_224_8k_vocab: 1280 wide, 32 blocks, 16 heads): the ViT-L/CLIP recipe
# with a /14 student. The command passes no --second_input_size, so CLIP-L/14 sees the crop at
# run.sh's 224 px: 16x16 tokens, the /14 student's grid at 224. It keeps --num_mask_patches 78,
# now of 256 patches (30%; 40% of 196 for B and L), drop path 0.1, lr 3e-3 at 4096, 1600 epochs
# in one stage; layer scale 0.1 is run.sh's --layer_scale_init_value. Model zoo: IN-1k 88.5
# (89.1 fine-tuned at 448 px); COCO and ADE not reported.
_base_ = './dbot-clip_vit-l-p16_clip-l14.py'
img_size = 224
patch_size = 14
model = dict(backbone=dict(arch='huge', patch_size=patch_size), teacher=dict(input_size=img_size))
# the parent's pipeline with the mask generator on the 16x16 grid
train_pipeline = [
    dict(t, input_size=img_size // patch_size) if t.type == 'BlockMaskGenerator' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
