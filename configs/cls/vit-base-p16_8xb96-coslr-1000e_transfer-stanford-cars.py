# dBOT ViT-B/16 transfer classification on Stanford Cars (196 classes; mmpretrain StanfordCars
# on the cars_annos.mat layout that eval_cls.py CarsDataset reads) (official DOWNSTREAM.md "Transfer
# classification", run.sh `cars_cls`, evaluation/eval_cls.py): the pretrained ViT-B with a new
# linear head on the CLS token, trained 1000 epochs at lr 7.5e-6 per 512 images, 8 GPUs x 96 images.
#   tools/dist_train.sh configs/cls/vit-base-p16_8xb96-coslr-1000e_transfer-stanford-cars.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = [
    '../_base_/models/vit-b-p16_transfer-cls-token.py',
    '../_base_/datasets/transfer_bs96.py',
    '../_base_/schedules/transfer_adamw_coslr-1000e.py',
    '../_base_/mmpretrain_runtime.py',
]
num_classes = 196
data_root = 'data/cars'  # run.sh `--data data/cars`
model = dict(data_preprocessor=dict(num_classes=num_classes), head=dict(num_classes=num_classes))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='StanfordCars',
        data_root=data_root,
        split='train',
        pipeline=_base_.train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='StanfordCars',
        data_root=data_root,
        split='test',
        pipeline=_base_.test_pipeline))
test_dataloader = val_dataloader
