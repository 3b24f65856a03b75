# dBOT ViT-B/16 transfer classification on Stanford Cars (196 classes; mmpretrain StanfordCars on
# the cars_annos.mat layout that eval_cls.py CarsDataset reads) (official DOWNSTREAM.md "Transfer
# classification", run.sh `cars_cls`, evaluation/eval_cls.py): the Flowers-102 recipe.
#   tools/dist_train.sh configs/cls/vit-base-p16_8xb96-coslr-1000e_transfer-stanford-cars.py 8 \
#       --cfg-options model.backbone.init_cfg.checkpoint=work_dirs/dbot_vit-b/epoch_1600.pth
_base_ = './vit-base-p16_8xb96-coslr-1000e_transfer-flowers102.py'
num_classes = 196
data_root = 'data/cars'  # run.sh `--data data/cars`
model = dict(data_preprocessor=dict(num_classes=num_classes), head=dict(num_classes=num_classes))
train_dataloader = dict(dataset=dict(type='StanfordCars', data_root=data_root, split='train'))
val_dataloader = dict(dataset=dict(type='StanfordCars', data_root=data_root, split='test'))
test_dataloader = val_dataloader
