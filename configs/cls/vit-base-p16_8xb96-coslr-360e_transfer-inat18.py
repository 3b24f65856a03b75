# dBOT ViT-B/16 transfer classification on iNaturalist 2018 (8142 species; dbot_mm INaturalist on
# the release layout train2018.json / val2018.json / train_val2018/, labels as eval_cls.py
# INatDataset) (official DOWNSTREAM.md "Transfer classification", run.sh `inat_cls`,
# evaluation/eval_cls.py `--datasource INAT`): the Flowers-102 recipe with 360 epochs and
# RandomErasing 0.1 (run.sh `--epochs 360 --reprob 0.1`); validation on val2018.json.
#   tools/dist_train.sh configs/cls/vit-base-p16_8xb96-coslr-360e_transfer-inat18.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = './vit-base-p16_8xb96-coslr-1000e_transfer-flowers102.py'
num_classes = 8142
data_root = 'data/inat/2018'  # run.sh `--data data/inat/2018`
model = dict(data_preprocessor=dict(num_classes=num_classes), head=dict(num_classes=num_classes))
train_pipeline = [
    dict(t, erase_prob=0.1) if t.type == 'RandomErasing' else t for t in _base_.train_pipeline
]
train_dataloader = dict(
    dataset=dict(
        type='INaturalist', data_root=data_root, split='train', year=2018, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='INaturalist', data_root=data_root, split='val', year=2018))
test_dataloader = val_dataloader

max_epochs = 360  # run.sh `--epochs 360`
param_scheduler = [
    _base_.param_scheduler[0],
    dict(_base_.param_scheduler[1], T_max=max_epochs - _base_.warmup_epochs, end=max_epochs),
]
train_cfg = dict(max_epochs=max_epochs)
