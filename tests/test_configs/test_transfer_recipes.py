"""The transfer classification configs train on their data layouts.

Each config, with a tiny ViT at 32 px, builds its dataset (mmpretrain's, or dbot_mm's
INaturalist) on files written by dbot_mm.testing.transfer_data and runs two iterations and a
validation. The recipe values (run.sh, evaluation/eval_cls.py) are checked against the official
sources by test_official_recipes.py.
"""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.utils import import_modules_from_strings
from mmpretrain.datasets import CIFAR10, CIFAR100
from mmpretrain.registry import DATASETS

from dbot_mm.testing import transfer_data

REPO = Path(__file__).resolve().parents[2]
TRANSFER = {  # config suffix -> generator of its data layout
    'cifar10': lambda root: transfer_data.make_cifar(root, 10),
    'cifar100': lambda root: transfer_data.make_cifar(root, 100, 1, 1),
    'stanford-cars': transfer_data.make_stanford_cars,
    'flowers102': transfer_data.make_flowers102,
    'inat18': lambda root: transfer_data.make_inaturalist(root, 2018),
    'inat19': lambda root: transfer_data.make_inaturalist(root, 2019),
}
CUSTOM = 'configs/cls/vit-base-p16_8xb128-coslr-100e_custom-folder.py'


def _config(name: str) -> Config:
    path, = (REPO / 'configs/cls').glob(f'vit-base-p16_8xb96-coslr-*_transfer-{name}.py')
    return Config.fromfile(str(path))


@pytest.mark.parametrize('name', sorted(TRANSFER))
def test_dataset_is_registered_and_classes_agree(name):
    cfg = _config(name)
    import_modules_from_strings(cfg.custom_imports.imports)  # the config's own imports
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        assert DATASETS.get(loader.dataset.type) is not None, loader.dataset.type
    # mixup / cutmix one-hot targets have the head's width
    assert cfg.model.head.num_classes == cfg.model.data_preprocessor.num_classes


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
    TRANSFER[name](tmp_path / 'data')
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
