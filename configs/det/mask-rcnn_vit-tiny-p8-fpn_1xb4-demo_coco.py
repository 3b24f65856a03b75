# CPU demo / test variant of the Mask R-CNN recipe, only smaller: the tiny dBOT ViT
# (64 wide, 4 blocks, 8 px patches; features of every block), FPN and heads 64 channels wide,
# fewer proposals and RoIs, on the synthetic 3-shape COCO (96 x 128 images; the DETR multi-scale
# + crop augmentation scaled to short sides 64..96), batch 4, 12 epochs, fp32.
# With 8 px patches the adapter rescales by [2, 1, 0.5, 0.25] so that the pyramid keeps the
# strides 4/8/16/32 the anchors and RoI extractors assume.
_base_ = './mask-rcnn_vit-base-p16_fpn_8xb2-amp-ms-crop-1x_coco.py'
pretrained = 'work_dirs/dbot_vit-tiny_demo/epoch_6.pth'
tiny_vit = dict(arch='tiny', embed_dims=64, depth=4, num_heads=4, patch_size=8)
classes = ('circle', 'square', 'triangle')
width = 64

model = dict(
    backbone=dict(
        tiny_vit, img_size=64, out_indices=(0, 1, 2, 3), init_cfg=dict(checkpoint=pretrained)),
    neck=[
        dict(_base_.model.neck[0], embed_dim=64, rescales=[2, 1, 0.5, 0.25]),
        dict(_base_.model.neck[1], in_channels=[64, 64, 64, 64], out_channels=width),
    ],
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, fc_out_channels=256, num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=len(classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200), rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=200)))

ms_scales = [(160, short) for short in range(64, 97, 8)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(160, 64), (160, 80)], keep_ratio=True),
                dict(
                    type='RandomCrop',
                    crop_type='absolute_range',
                    crop_size=(48, 80),
                    allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 96), keep_ratio=True),
    *_base_.test_pipeline[2:],  # the parent's annotation loading and packing
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(
    train_dataloader, dataset=dict(train_dataloader['dataset'], pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(type='OptimWrapper')
param_scheduler = [dict(_base_.param_scheduler[0], end=20), _base_.param_scheduler[1]]  # warm-up 20
train_cfg = dict(val_interval=4)
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=4, max_keep_ckpts=1))
