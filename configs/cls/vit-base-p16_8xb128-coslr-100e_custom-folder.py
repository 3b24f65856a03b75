# dBOT ViT-B/16 fine-tuning on your own images: the ImageNet fine-tuning recipe
# (vit-base-p16_8xb128-coslr-100e_in1k.py) on mmpretrain's CustomDataset, one sub-folder per class:
#   data/my_dataset/train/<class>/*.jpg and data/my_dataset/val/<class>/*.jpg
# Set num_classes to the number of class folders (here or on the command line), e.g. 6 classes:
#   python tools/train.py configs/cls/vit-base-p16_8xb128-coslr-100e_custom-folder.py \
#       --cfg-options model.head.num_classes=6 model.data_preprocessor.num_classes=6 \
#       model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
# (a different folder: train_dataloader.dataset.data_root=DIR val_dataloader.dataset.data_root=DIR
# test_dataloader.dataset.data_root=DIR). The lr of the recipe is per 1024 images; add
# --auto-scale-lr to scale it to your batch. Top-1 only: top-5 needs at least 5 classes.
_base_ = './vit-base-p16_8xb128-coslr-100e_in1k.py'
num_classes = 1000  # the number of class sub-folders of train/ and val/
data_root = 'data/my_dataset'
model = dict(data_preprocessor=dict(num_classes=num_classes), head=dict(num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
