# dBOT ViT-B/16 transfer classification on CIFAR-100 (official DOWNSTREAM.md "Transfer
# classification", run.sh `cifar_cls`, evaluation/eval_cls.py `--datasource CIFAR`): the
# pretrained ViT-B with a new linear head on the CLS token, trained 1000 epochs at lr 7.5e-6 per
# 512 images, 8 GPUs x 96 images; the 32 px images are upsampled by the 224 px transforms (as
# eval_cls.py's create_transform, input size 224). mmpretrain's CIFAR100 reads the python pickles
# (data/cifar/cifar-100-python) and gives RGB arrays (no LoadImageFromFile, no RGB swap).
#   tools/dist_train.sh configs/cls/vit-base-p16_8xb96-coslr-1000e_transfer-cifar100.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = [
    '../_base_/models/vit-b-p16_transfer-cls-token.py',
    '../_base_/datasets/transfer_bs96.py',
    '../_base_/schedules/transfer_adamw_coslr-1000e.py',
    '../_base_/mmpretrain_runtime.py',
]
num_classes = 100
data_root = 'data/cifar'  # run.sh `--data data/cifar`
model = dict(
    data_preprocessor=dict(num_classes=num_classes, to_rgb=False),
    head=dict(num_classes=num_classes))
train_pipeline = [t for t in _base_.train_pipeline if t.type != 'LoadImageFromFile']
test_pipeline = [t for t in _base_.test_pipeline if t.type != 'LoadImageFromFile']
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CIFAR100',
        data_root=data_root,
        split='train',
        download=False,
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CIFAR100',
        data_root=data_root,
        split='test',
        download=False,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
