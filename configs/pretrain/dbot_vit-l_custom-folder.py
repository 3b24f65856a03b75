# dBOT ViT-L/16 pretrained on your own images: dbot_vit-l.py on one folder, as
# dbot_vit-b_custom-folder.py (the folder: train_dataloader.dataset.dataset.data_root=DIR).
_base_ = './dbot_vit-l.py'
train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            _delete_=True,
            type='ImageFolder',
            data_root='data/my_images',
            pipeline=_base_.train_pipeline)))
# k-NN top-1 of the student (and each stage's teacher) on a labelled folder, off until one is
# given: --cfg-options default_hooks.knn_watch.data=MY_VAL (class subfolders; absolute, or
# relative to data_root), every 20 epochs on 1000 of its images (KNNWatchHook)
default_hooks = dict(
    bad_files=dict(type='BadFilesHook', max_fraction=0.001),
    knn_watch=dict(type='KNNWatchHook', data=None, num_images=1000, interval=20))
