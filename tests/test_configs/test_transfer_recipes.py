"""The transfer classification configs carry the official recipe and train on their data layouts.

Recipe: run.sh targets cifar10_cls / cifar_cls / cars_cls / flwrs_cls (batch 96 x 8 GPUs, lr 7.5e-6,
1000 epochs), inat_cls / inat19_cls (the same with 360 epochs and --reprob 0.1) and
evaluation/eval_cls.py (lr x total batch / 512, defaults for the rest, --reprob 0.25). Training:
each config, with a tiny ViT at 32 px, builds its dataset (mmpretrain's, or dbot_mm's INaturalist)
on files written by dbot_mm.testing.transfer_data and runs two iterations and a validation.
"""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.datasets import CIFAR10, CIFAR100

from dbot_mm.testing import transfer_data

REPO = Path(__file__).resolve().parents[2]
TRANSFER = {  # config suffix -> (dataset type, classes, generator)
    'cifar10': ('CIFAR10', 10, lambda root: transfer_data.make_cifar(root, 10)),
    'cifar100': ('CIFAR100', 100, lambda root: transfer_data.make_cifar(root, 100, 1, 1)),
    'stanford-cars': ('StanfordCars', 196, transfer_data.make_stanford_cars),
    'flowers102': ('Flowers102', 102, transfer_data.make_flowers102),
    'inat18': ('INaturalist', 8142, lambda root: transfer_data.make_inaturalist(root, 2018)),
    'inat19': ('INaturalist', 1010, lambda root: transfer_data.make_inaturalist(root, 2019)),
}
# run.sh: config suffix -> (--epochs, --reprob or eval_cls.py's default 0.25)
RUN_SH = {name: (1000, 0.25) for name in ('cifar10', 'cifar100', 'stanford-cars', 'flowers102')}
RUN_SH.update({'inat18': (360, 0.1), 'inat19': (360, 0.1)})
INAT = {'inat18': (2018, 'data/inat/2018'), 'inat19': (2019, 'data/inat/2019')}  # run.sh --data
CUSTOM = 'configs/cls/vit-base-p16_8xb128-coslr-100e_custom-folder.py'
OFFICIAL_BATCH = 8 * 96  # run.sh: 8 GPUs x --batch-size 96


def _config(name: str) -> Config:
    epochs = RUN_SH[name][0]
    return Config.fromfile(
        str(REPO / f'configs/cls/vit-base-p16_8xb96-coslr-{epochs}e_transfer-{name}.py'))


@pytest.mark.parametrize('name', sorted(TRANSFER))
def test_official_recipe(name):
    cfg = _config(name)
    dataset_type, num_classes, _ = TRANSFER[name]
    optim = cfg.optim_wrapper
    # eval_cls.py: lr = 7.5e-6 * batch_size * world_size / 512, at the official batch
    lr = optim.optimizer.lr * OFFICIAL_BATCH / cfg.auto_scale_lr.base_batch_size
    assert lr == pytest.approx(7.5e-6 * OFFICIAL_BATCH / 512)
    assert cfg.train_dataloader.batch_size == 96
    assert optim.optimizer.type == 'AdamW' and optim.optimizer.weight_decay == 0.05
    assert 'clip_grad' not in optim  # no clip
    # no layer decay: mmengine's paramwise rules, one group per setting
    assert optim.constructor == 'MergedGroupsOptimWrapperConstructor'
    epochs, reprob = RUN_SH[name]
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == 5 and optim.optimizer.lr * warmup.start_factor == pytest.approx(1e-6)
    assert cosine.eta_min == 1e-5 and cosine.end == epochs
    assert cosine.begin == 5 and cosine.T_max == epochs - 5
    assert cfg.train_dataloader.sampler == dict(
        type='RepeatAugSampler', num_repeats=3, shuffle=True)
    erasing = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomErasing']
    assert len(erasing) == 1 and erasing[0].erase_prob == reprob
    assert cfg.model.backbone.out_type == 'cls_token' and cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.model.head.num_classes == cfg.model.data_preprocessor.num_classes == num_classes
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert loader.dataset.type == dataset_type and 'pipeline' in loader.dataset
    if name in INAT:  # the official train2018.json / val2018.json (or 2019) under run.sh --data
        year, data_root = INAT[name]
        for loader, split in ((cfg.train_dataloader, 'train'), (cfg.val_dataloader, 'val'),
                              (cfg.test_dataloader, 'val')):
            assert (loader.dataset.year, loader.dataset.data_root) == (year, data_root)
            assert loader.dataset.split == split
        # the config's own imports register the dataset class
        from mmengine.utils import import_modules_from_strings
        from mmpretrain.registry import DATASETS
        import_modules_from_strings(cfg.custom_imports.imports)
        assert DATASETS.get(dataset_type) is not None


def _tiny(cfg: Config, work_dir: Path) -> Config:
    """The config's data and schedule with a 1-block, 32-wide ViT at 32 px, 2 iterations."""
    cfg.model.backbone.update(
        embed_dims=32, depth=1, num_heads=2, img_size=32, patch_size=8, init_cfg=None)
    cfg.model.head.in_channels = 32
    sizes = {'RandomResizedCrop': 'scale', 'CenterCrop': 'crop_size'}
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        for t in loader.dataset.pipeline:
            if t.type in sizes:
                t[sizes[t.type]] = 32
            elif t.type == 'ResizeEdge':
                t.scale = 36
        loader.update(batch_size=2, num_workers=0, persistent_workers=False, pin_memory=False)
        loader.dataset.indices = 4
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    cfg.train_cfg.max_epochs = 1
    cfg.work_dir = str(work_dir)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    return cfg


def _train(cfg: Config) -> Runner:
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.mark.parametrize('name', sorted(TRANSFER))
def test_trains_on_its_layout(name, tmp_path, monkeypatch):
    for cls in (CIFAR10, CIFAR100):  # generated pickles cannot match the md5 of the real ones
        monkeypatch.setattr(cls, 'train_list', [[f, None] for f, _ in cls.train_list])
        monkeypatch.setattr(cls, 'test_list', [[f, None] for f, _ in cls.test_list])
    TRANSFER[name][2](tmp_path / 'data')
    cfg = _config(name)
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(tmp_path / 'data')
    runner = _train(_tiny(cfg, tmp_path / 'work'))
    assert runner.iter == 2
    assert runner.message_hub.get_scalar('train/loss').current() > 0


def test_custom_folder_with_user_class_count(tmp_path):
    """The README's command: num_classes and the folder through --cfg-options."""
    root = transfer_data.make_image_folder(tmp_path / 'data', num_classes=6)
    cfg = Config.fromfile(str(REPO / CUSTOM))
    cfg.merge_from_dict({
        'model.head.num_classes': 6,
        'model.data_preprocessor.num_classes': 6,
        'train_dataloader.dataset.data_root': str(root),
        'val_dataloader.dataset.data_root': str(root),
        'test_dataloader.dataset.data_root': str(root),
    })
    assert cfg.train_dataloader.dataset.data_prefix == 'train'
    assert cfg.val_dataloader.dataset.data_prefix == 'val'
    runner = _train(_tiny(cfg, tmp_path / 'work'))
    assert runner.iter == 2
    assert len(runner.train_dataloader.dataset.metainfo['classes']) == 6
