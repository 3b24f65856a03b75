"""Fail early, in one line, when a config's data set is not where the config says.

Configs are data, so they cannot check their own paths; ``tools/train.py`` / ``tools/test.py``
call :func:`check_data_root` on the final config (after ``--cfg-options``) before building the
Runner. Without it a missing ``data/coco`` surfaces deep inside a dataset's ``load_data_list`` as a
bare ``FileNotFoundError`` on one annotation file, and a missing ImageNet as an empty folder scan.
"""
import os.path as osp
from typing import Iterator, List, Optional, Tuple

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
_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


class DataRootError(FileNotFoundError):
    """A data set of the config is missing; the message names the path and the layout."""


def _get(obj, key, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _leaf_datasets(dataset) -> Iterator[dict]:
    """The datasets that read files, through RepeatDataset / ConcatDataset-like wrappers."""
    if dataset is None:
        return
    inner = _get(dataset, 'dataset')
    inners = _get(dataset, 'datasets')
    if inner is not None:
        yield from _leaf_datasets(inner)
    elif inners is not None:
        for d in inners:
            yield from _leaf_datasets(d)
    else:
        yield dataset


def _type_name(dataset) -> str:
    t = _get(dataset, 'type', '')
    t = t if isinstance(t, str) else getattr(t, '__name__', str(t))
    return t.split('.')[-1]


def _required_paths(dataset, root: str) -> List[Tuple[str, bool]]:
    """(path, is_dir) pairs the dataset will read, resolved against its data_root.

    mmpretrain's ``ImageNet(split='val')`` without ``ann_file`` reads ``meta/val.txt`` if it
    exists and otherwise scans ``val/`` for class folders; ImageNet's ``val/`` has none, so
    ``meta/val.txt`` is required (``train/`` has its class folders, so ``meta/train.txt`` is not).
    """

    def join(p):
        return p if osp.isabs(p) else osp.join(root, p)

    paths = []
    ann_file = _get(dataset, 'ann_file', '')
    if isinstance(ann_file, str) and ann_file:
        paths.append((join(ann_file), False))
    prefix = _get(dataset, 'data_prefix', None)
    if isinstance(prefix, str) and prefix:
        paths.append((join(prefix), True))
    elif prefix is not None and hasattr(prefix, 'items'):
        paths.extend((join(p), True) for p in prefix.values() if isinstance(p, str) and p)
    split = _get(dataset, 'split', None)
    if isinstance(split, str) and split and prefix is None and _type_name(dataset) == 'ImageNet':
        paths.append((join(split), True))  # mmpretrain ImageNet(split='train'|'val')
    if split == 'val' and not ann_file and _type_name(dataset) == 'ImageNet':
        paths.append((join('meta/val.txt'), False))
    return paths


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
    for loader_name in loaders or _LOADERS:
        loader = _get(cfg, loader_name)
        for dataset in _leaf_datasets(_get(loader, 'dataset')):
            root = _get(dataset, 'data_root', '')
            if not isinstance(root, str) or not root:
                continue
            dtype = _type_name(dataset)
            if not osp.isdir(root):
                raise DataRootError(
                    f"{loader_name}: data_root '{root}' does not exist; expected the "
                    f'{layout_of(dtype, root)} (link the data set there, or set '
                    f'{loader_name}.dataset.data_root with --cfg-options)')
            for path, is_dir in _required_paths(dataset, root):
                ok = osp.isdir(path) if is_dir else osp.isfile(path)
                if not ok:
                    raise DataRootError(
                        f"{loader_name}: '{path}' is missing under data_root '{root}'; expected "
                        f'the {layout_of(dtype, root)}')
