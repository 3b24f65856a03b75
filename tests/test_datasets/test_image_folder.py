"""``ImageFolder``: the folder scan, exclusion, one-line errors, bad files replaced
deterministically under ``SeededDataset``, and the own-folder pretraining configs."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DATASETS, init_default_scope
from PIL import Image

import dbot_mm  # noqa: F401
from dbot_mm.datasets import ImageFolder
from dbot_mm.utils.data_root import DataRootError

REPO = Path(__file__).resolve().parents[2]
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=16, crop_ratio_range=(0.2, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
FAST = [
    dict(
        type='LoadImageAndRandomResizedCrop', scale=16, crop_ratio_range=(0.2, 1.0), flip_prob=0.5),
    dict(type='PackInputs'),
]


def write_bad_files(folder: Path) -> list:
    """A truncated JPEG, an HTML page saved as .jpg and a zero-byte .png in ``folder``'s subfolders
    (relative paths returned)."""
    (folder / 'bad' / 'deep').mkdir(parents=True, exist_ok=True)
    good = next(p for p in sorted(folder.rglob('*')) if p.suffix.lower() in ('.jpg', '.jpeg'))
    data = good.read_bytes()
    (folder / 'bad' / 'deep' / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    (folder / 'bad' / 'page.jpg').write_text('<!DOCTYPE html><html><body>404</body></html>')
    (folder / 'empty.png').write_bytes(b'')
    return ['bad/deep/truncated.jpg', 'bad/page.jpg', 'empty.png']


def write_images(folder: Path, names) -> None:
    rng = np.random.default_rng(0)
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(
            folder / name, format={
                '.jpg': 'JPEG',
                '.tif': 'TIFF'
            }.get(Path(name).suffix.lower()))


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / 'images'
    write_images(root, ['z.JPG', 'a/b/c/deep.jpeg', 'a/x.png', 'b/y.webp', 'b/w.BMP', 'b/v.tif'])
    (root / 'notes.txt').write_text('not an image')
    (root / '.hidden.jpg').write_bytes(b'')
    (root / 'a' / '.DS_Store').write_bytes(b'\0')
    return root


def _paths(dataset):
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def test_scans_flat_and_nested_folders_by_extension_in_sorted_order(folder):
    dataset = ImageFolder(data_root=str(folder))
    assert _paths(dataset) == [
        str(folder / p)
        for p in ['a/b/c/deep.jpeg', 'a/x.png', 'b/v.tif', 'b/w.BMP', 'b/y.webp', 'z.JPG']
    ]
    assert 'gt_label' not in dataset.get_data_info(0)
    assert len(ImageFolder(data_root=str(folder / 'a' / 'b' / 'c'))) == 1  # flat


@pytest.mark.parametrize('suffix', ['.txt', '.json'])
def test_exclude_file_skips_the_listed_paths(folder, tmp_path, suffix):
    excluded = ['a/x.png', 'b/y.webp']
    out = tmp_path / f'bad{suffix}'
    out.write_text(
        json.dumps(dict.fromkeys(excluded, 'reason')) if suffix ==
        '.json' else '\n'.join(excluded) + '\n')
    paths = _paths(ImageFolder(data_root=str(folder), exclude_file=str(out)))
    assert len(paths) == 4 and not any(p.endswith(tuple(excluded)) for p in paths)


def test_missing_or_empty_folder_is_one_line(tmp_path, folder):
    with pytest.raises(DataRootError, match=f"^image folder '{tmp_path}/nope/' does not exist$"):
        ImageFolder(data_root=str(tmp_path / 'nope'))
    (tmp_path / 'empty' / 'sub').mkdir(parents=True)
    (tmp_path / 'empty' / 'sub' / 'a.txt').write_text('')
    with pytest.raises(DataRootError) as err:
        ImageFolder(data_root=str(tmp_path / 'empty'))
    assert str(err.value) == (
        f"no images in '{tmp_path}/empty/' or its subfolders: looked for .bmp, .jpeg, .jpg, .png, "
        '.tif, .tiff, .webp (any case)')
    everything = tmp_path / 'all.txt'
    everything.write_text('\n'.join(p[len(str(folder)) + 1:]
                                    for p in _paths(ImageFolder(data_root=str(folder)))))
    with pytest.raises(DataRootError, match=f'; 6 paths excluded by {everything}$'):
        ImageFolder(data_root=str(folder), exclude_file=str(everything))


@pytest.mark.parametrize('pipeline', [PIPELINE, FAST], ids=['shipped', 'fast'])
def test_bad_file_is_replaced_deterministically_and_reported(folder, pipeline):
    bad = write_bad_files(folder)
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(
        dict(
            type='SeededDataset',
            dataset=dict(type='ImageFolder', data_root=str(folder), pipeline=pipeline)))
    paths = _paths(dataset)
    reported = {}
    for index, path in enumerate(paths):
        for seed in range(5):
            first, again = dataset[(index, seed)], dataset[(index, seed)]
            assert torch.equal(first['inputs'], again['inputs'])  # same replacement, same crop
            failed = first['data_samples'].get('bad_files')
            assert failed == again['data_samples'].get('bad_files')
            if path.endswith(tuple(bad)):
                assert failed and failed[0][0] == path  # then any bad ones drawn before a good
                assert not first['data_samples'].img_path.endswith(tuple(bad))
                reported.update(failed)
            else:
                assert failed is None and first['data_samples'].img_path == path
    assert sorted(reported) == sorted(str(folder / b) for b in bad)
    if pipeline is PIPELINE:
        assert reported[str(folder / 'bad/page.jpg')].startswith('AssertionError: failed to load')
    # the replacement depends on the sample's seed, not always the same neighbour
    index = paths.index(str(folder / 'empty.png'))
    assert len({dataset[(index, s)]['data_samples'].img_path for s in range(20)}) > 2


@pytest.mark.parametrize('arch', ['b', 'l', 'h'])
def test_folder_configs_are_the_paper_configs_on_a_folder(arch, folder):
    cfg = Config.fromfile(REPO / f'configs/pretrain/dbot_vit-{arch}_custom-folder.py')
    paper = Config.fromfile(REPO / f'configs/pretrain/dbot_vit-{arch}.py')
    cfg.merge_from_dict({'train_dataloader.dataset.dataset.data_root': str(folder)})
    loader, inner = cfg.train_dataloader, cfg.train_dataloader.dataset.dataset
    assert inner == dict(type='ImageFolder', data_root=str(folder), pipeline=paper.train_pipeline)
    assert loader.dataset.type == 'SeededDataset' and loader.sampler.type == 'SeededSampler'
    for key in ('model', 'optim_wrapper', 'param_scheduler', 'custom_hooks', 'train_cfg'):
        assert cfg[key] == paper[key], key
    assert {
        k: v
        for k, v in loader.items() if k != 'dataset'
    } == {
        k: v
        for k, v in paper.train_dataloader.items() if k != 'dataset'
    }
    assert cfg.default_hooks.pop('bad_files') == dict(type='BadFilesHook', max_fraction=0.001)
    assert cfg.default_hooks.pop('knn_watch')['data'] is None  # off until a folder is given
    assert cfg.default_hooks == paper.default_hooks
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(loader.dataset)
    assert len(dataset) == 6 and dataset[(0, 0)]['inputs'].shape == (3, 224, 224)


def test_fast_pipeline_switch_keeps_the_folder(tmp_path, folder):
    """The documented switch: dbot_vit-b_custom-folder.py based on dbot_vit-b_fast-pipeline.py."""
    text = (REPO / 'configs/pretrain/dbot_vit-b_custom-folder.py').read_text()
    assert "_base_ = './dbot_vit-b.py'" in text
    shutil.copytree(REPO / 'configs', tmp_path / 'configs')
    switched = tmp_path / 'configs/pretrain/switched.py'
    switched.write_text(text.replace('./dbot_vit-b.py', './dbot_vit-b_fast-pipeline.py'))
    cfg = Config.fromfile(switched)
    fast = Config.fromfile(REPO / 'configs/pretrain/dbot_vit-b_fast-pipeline.py')
    assert cfg.train_dataloader.dataset.dataset.pipeline == fast.train_pipeline
    assert cfg.train_dataloader.dataset.dataset.type == 'ImageFolder'


def test_knn_watch_of_the_folder_config_reads_the_given_labelled_folder(tmp_path, imagenet_root):
    """--cfg-options default_hooks.knn_watch.data=DIR turns the k-NN watch on: its memory and
    query loaders read that folder's class subfolders at the student's input size."""
    from mmengine.runner import Runner

    from dbot_mm.engine.hooks import KNNWatchHook
    cfg = Config.fromfile(REPO / 'configs/pretrain/dbot_vit-b_custom-folder.py')
    train = str(Path(imagenet_root) / 'train')
    cfg.merge_from_dict({
        'train_dataloader.dataset.dataset.data_root': train,
        'default_hooks.knn_watch.data': train,
        'default_hooks.knn_watch.num_images': 8,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'optim_wrapper.type': 'OptimWrapper',
        'work_dir': str(tmp_path),
    })
    runner = Runner.from_cfg(cfg)
    hook = next(h for h in runner.hooks if isinstance(h, KNNWatchHook))
    hook.before_train(runner)
    memory, queries = hook.loaders
    assert len(memory.dataset) + len(queries.dataset) == 8
    batch = next(iter(queries))
    assert batch['inputs'][0].shape == (3, 224, 224)
