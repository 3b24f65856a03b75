# dBOT ViT-B/16 transfer classification on CIFAR-100 (official DOWNSTREAM.md "Transfer
# classification", run.sh `cifar_cls`, evaluation/eval_cls.py `--datasource CIFAR`): the CIFAR-10
# recipe on mmpretrain's CIFAR100 (data/cifar/cifar-100-python).
#   tools/dist_train.sh configs/cls/vit-base-p16_8xb96-coslr-1000e_transfer-cifar100.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = './vit-base-p16_8xb96-coslr-1000e_transfer-cifar10.py'
num_classes = 100
model = dict(data_preprocessor=dict(num_classes=num_classes), head=dict(num_classes=num_classes))
train_dataloader = dict(dataset=dict(type='CIFAR100'))
val_dataloader = dict(dataset=dict(type='CIFAR100'))
test_dataloader = val_dataloader
