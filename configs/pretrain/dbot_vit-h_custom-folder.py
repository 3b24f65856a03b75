# dBOT ViT-H/14 pretrained on your own images: dbot_vit-h.py on one folder, as
# dbot_vit-b_custom-folder.py (the folder: train_dataloader.dataset.dataset.data_root=DIR).
_base_ = './dbot_vit-h.py'
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            _delete_=True,
            type='ImageFolder',
            data_root='data/my_images',
            pipeline=_base_.train_pipeline)))
default_hooks = dict(bad_files=dict(type='BadFilesHook', max_fraction=0.001))
