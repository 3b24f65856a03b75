# dBOT ViT-B/16 transfer classification on Oxford Flowers-102 (mmpretrain Flowers102; train =
# trnid + valid, test = tstid, as eval_cls.py FlwrsDataset) (official DOWNSTREAM.md "Transfer
# classification", run.sh `flwrs_cls`, evaluation/eval_cls.py): the pretrained ViT-B with a new
# linear head on the CLS token, trained 1000 epochs at lr 7.5e-6 per 512 images, 8 GPUs x 96 images.
#   tools/dist_train.sh configs/cls/vit-base-p16_8xb96-coslr-1000e_transfer-flowers102.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = [
    '../_base_/models/vit-b-p16_transfer-cls-token.py',
    '../_base_/datasets/transfer_bs96.py',
    '../_base_/schedules/transfer_adamw_coslr-1000e.py',
    '../_base_/mmpretrain_runtime.py',
]
num_classes = 102
data_root = 'data/flwrs'  # run.sh `--data data/flwrs`
model = dict(data_preprocessor=dict(num_classes=num_classes), head=dict(num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='Flowers102',
        data_root=data_root,
        split='trainval',
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='Flowers102',
        data_root=data_root,
        split='test',
        pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
