# dBOT ViT-B/16 transfer classification on iNaturalist 2019 (1010 species; train2019.json /
# val2019.json / train_val2019/) (official DOWNSTREAM.md "Transfer classification", run.sh
# `inat19_cls`, evaluation/eval_cls.py `--datasource INAT19`): the iNaturalist 2018 recipe.
#   tools/dist_train.sh configs/cls/vit-base-p16_8xb96-coslr-360e_transfer-inat19.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = './vit-base-p16_8xb96-coslr-360e_transfer-inat18.py'
num_classes = 1010
data_root = 'data/inat/2019'  # run.sh `--data data/inat/2019`
model = dict(data_preprocessor=dict(num_classes=num_classes), head=dict(num_classes=num_classes))
train_dataloader = dict(dataset=dict(data_root=data_root, year=2019))
val_dataloader = dict(dataset=dict(data_root=data_root, year=2019))
test_dataloader = val_dataloader
