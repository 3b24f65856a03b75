# dBOT ViT-B/16 pretrained on your own images: dbot_vit-b.py (crops, schedule, bit-exact resume)
# on every image of one folder (ImageFolder: flat or nested, jpg/jpeg/png/webp/bmp/tif/tiff, no
# labels, no meta files; docs/own_data.md):
#   python tools/train.py configs/pretrain/dbot_vit-b_custom-folder.py \
#       --cfg-options train_dataloader.dataset.dataset.data_root=my_images
# ViT-L/16 and ViT-H/14: dbot_vit-{l,h}_custom-folder.py; the fast input pipeline: base this file
# on './dbot_vit-b_fast-pipeline.py'. A file that fails to load is replaced by another image and
# logged; more than 0.1 % of the loads failing stops the run (BadFilesHook).
_base_ = './dbot_vit-b.py'
train_dataloader = dict(
    dataset=dict(  # the SeededDataset of the base
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
