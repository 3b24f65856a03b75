"""Fail early, in one line, when a config's data set is not where the config says.

Configs are data, so they cannot check their own paths; ``tools/train.py`` / ``tools/test.py``
call :func:`check_data_root` on the final config (after ``--cfg-options``) before building the
Runner. Without it a missing ``data/coco`` surfaces deep inside a dataset's ``load_data_list`` as a
bare ``FileNotFoundError`` on one annotation file, and a missing ImageNet as an empty folder scan.
"""
import os.path as osp
from typing import Iterator, Optional, Tuple

#: The on-disk layouts the downstream configs expect, by dataset type (scope prefix removed).
LAYOUTS = {
    'ImageNet': ('ImageNet-1k (mmpretrain layout)',
                 '{root}/train/<wnid>/*.JPEG, {root}/val/*.JPEG, {root}/meta/train.txt and '
                 '{root}/meta/val.txt'),
    'CocoDataset': ('COCO 2017', '{root}/annotations/instances_train2017.json, '
                    '{root}/annotations/instances_val2017.json, {root}/train2017/*.jpg, '
                    '{root}/val2017/*.jpg'),
    'ADE20KDataset': ('ADE20K (ADEChallengeData2016)',
                      '{root}/images/training/*.jpg, {root}/images/validation/*.jpg, '
                      '{root}/annotations/training/*.png, {root}/annotations/validation/*.png'),
    'INaturalist': ('iNaturalist release', '{root}/train<year>.json, {root}/val<year>.json, '
                    '{root}/train_val<year>/<supercategory>/<category_id>/*.jpg'),
}
_GENERIC = ("dataset's", 'the annotation file and image folders of the dataset config under {root}')


class DataRootError(FileNotFoundError):
    """A data set of the config is missing; the message names the path and the layout."""


def _leaf_datasets(dataset, key: str) -> Iterator[Tuple[str, dict]]:
    """(config key, dataset) of the datasets that read files, through RepeatDataset /
    SeededDataset / ConcatDataset-like wrappers."""
    if not isinstance(dataset, dict):
        return
    if dataset.get('dataset') is not None:
        yield from _leaf_datasets(dataset['dataset'], f'{key}.dataset')
    elif dataset.get('datasets') is not None:
        for i, inner in enumerate(dataset['datasets']):
            yield from _leaf_datasets(inner, f'{key}.datasets.{i}')
    else:
        yield key, dataset


def _required_paths(dataset, root: str, dtype: str) -> Iterator[Tuple[str, bool]]:
    """(path, is_dir) pairs the dataset will read, resolved against its data_root.

    mmpretrain's ``ImageNet(split='val')`` without ``ann_file`` reads ``meta/val.txt`` if it
    exists and otherwise scans ``val/`` for class folders; ImageNet's ``val/`` has none, so
    ``meta/val.txt`` is required (``train/`` has its class folders, so ``meta/train.txt`` is not).
    """
    ann_file, prefix = dataset.get('ann_file', ''), dataset.get('data_prefix')
    split = dataset.get('split')
    if isinstance(ann_file, str) and ann_file:
        yield osp.join(root, ann_file), False
    if isinstance(prefix, str) and prefix:
        yield osp.join(root, prefix), True
    elif isinstance(prefix, dict):
        yield from ((osp.join(root, p), True) for p in prefix.values() if isinstance(p, str) and p)
    if dtype == 'ImageNet' and isinstance(split, str) and split and prefix is None:
        yield osp.join(root, split), True  # mmpretrain ImageNet(split='train'|'val')
    if dtype == 'ImageNet' and split == 'val' and not ann_file:
        yield osp.join(root, 'meta/val.txt'), False


def layout_of(dataset_type: str, root: str) -> str:
    name, layout = LAYOUTS.get(dataset_type.split('.')[-1], _GENERIC)
    return f'{name} layout: {layout.format(root=root.rstrip("/"))}'


def check_data_root(cfg, loaders: Optional[Tuple[str, ...]] = None) -> None:
    """Raise :class:`DataRootError` (one line) if a dataloader's data set is missing.

    Checks ``data_root`` of every dataset in ``train/val/test_dataloader`` (or ``loaders``), then
    the annotation file and image folders (``ann_file``, ``data_prefix``, mmpretrain ``split``) the
    dataset will read. Datasets without a ``data_root`` are skipped. ``cfg`` is an mmengine
    ``Config`` or a plain dict.
    """
    for loader_name in loaders or ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(loader_name) or {}
        for key, dataset in _leaf_datasets(loader.get('dataset'), f'{loader_name}.dataset'):
            root = dataset.get('data_root', '')
            if not isinstance(root, str) or not root:
                continue
            dtype = dataset.get('type', '')
            dtype = (dtype if isinstance(dtype, str) else dtype.__name__).split('.')[-1]
            if not osp.isdir(root):
                raise DataRootError(
                    f"{loader_name}: data_root '{root}' does not exist; expected the "
                    f'{layout_of(dtype, root)} (link the data set there, or set '
                    f'{key}.data_root with --cfg-options)')
            for path, is_dir in _required_paths(dataset, root, dtype):
                if not (osp.isdir(path) if is_dir else osp.isfile(path)):
                    raise DataRootError(
                        f"{loader_name}: '{path}' is missing under data_root '{root}'; expected "
                        f'the {layout_of(dtype, root)}')
