"""check_data_root: a missing data set fails in one line naming the path and the layout."""
import shutil
from pathlib import Path

import pytest
from mmengine.config import Config

from dbot_mm.utils.data_root import DataRootError, check_data_root

REPO = Path(__file__).resolve().parents[2]
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# config, fixture giving a synthetic root in the right layout, a file of that layout
CASES = {
    'cls': ('configs/cls/vit-base-p16_8xb128-coslr-100e_in1k.py', 'imagenet_root', 'train'),
    'det': ('configs/det/mask-rcnn_vit-base-p16_fpn_8xb2-amp-ms-crop-1x_coco.py', 'coco_root',
            'annotations/instances_train2017.json'),
    'seg': ('configs/seg/upernet_vit-base-p16_8xb2-amp-160k_ade20k-512x512.py', 'ade_root',
            'annotations/training'),
}


def with_root(config: str, root) -> Config:
    cfg = Config.fromfile(REPO / config)
    for loader in LOADERS:
        cfg[loader].dataset.data_root = str(root)
    return cfg


@pytest.mark.parametrize('task', sorted(CASES))
def test_missing_data_root_is_one_line_with_layout(task, tmp_path):
    config, _, layout_file = CASES[task]
    missing = tmp_path / 'nowhere' / task
    with pytest.raises(DataRootError) as err:
        check_data_root(with_root(config, missing))
    msg = str(err.value)
    assert '\n' not in msg
    assert f"data_root '{missing}' does not exist" in msg
    assert f'{missing}/{layout_file}' in msg  # the expected layout, spelled out


@pytest.mark.parametrize('task', sorted(CASES))
def test_default_data_root_is_checked(task, tmp_path, monkeypatch):
    """The configs' own relative paths (data/imagenet, ...) are checked from the cwd."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataRootError, match=r"train_dataloader: data_root 'data/"):
        check_data_root(Config.fromfile(REPO / CASES[task][0]))


@pytest.mark.parametrize('task', sorted(CASES))
def test_synthetic_data_in_the_layout_passes(task, request):
    config, fixture, _ = CASES[task]
    root = request.getfixturevalue(fixture)
    check_data_root(with_root(config, root))


# the ImageNet val labels: mmpretrain would otherwise look for class folders in the flat val/
MISSING = sorted([(task, case[2]) for task, case in CASES.items()] + [('cls', 'meta/val.txt')])


@pytest.mark.parametrize('task, layout_file', MISSING)
def test_incomplete_data_root_names_the_missing_part(task, layout_file, request, tmp_path):
    config, fixture, _ = CASES[task]
    root = tmp_path / 'partial'
    shutil.copytree(request.getfixturevalue(fixture), root)
    target = root / layout_file
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(DataRootError) as err:
        check_data_root(with_root(config, root))
    assert '\n' not in str(err.value)
    assert f"'{target}' is missing under data_root '{root}'" in str(err.value)


def test_wrapped_datasets_and_plain_dicts(tmp_path):
    cfg = dict(
        train_dataloader=dict(
            dataset=dict(
                type='RepeatDataset',
                times=2,
                dataset=dict(
                    type='mmdet.CocoDataset',
                    data_root=str(tmp_path / 'coco'),
                    ann_file='annotations/instances_train2017.json'))))
    with pytest.raises(DataRootError, match='COCO 2017 layout'):
        check_data_root(cfg)
    check_data_root(dict(val_dataloader=None, train_dataloader=dict(dataset=dict(data_root=''))))


def test_missing_root_names_the_key_of_a_wrapped_dataset(tmp_path):
    """The pretraining loader wraps ImageNet in SeededDataset: the option to set is one level
    deeper, and the message must name it so the user's --cfg-options works."""
    cfg = Config.fromfile(REPO / 'configs/pretrain/dbot_vit-b.py')
    cfg.train_dataloader.dataset.dataset.data_root = str(tmp_path / 'nowhere')
    with pytest.raises(DataRootError, match=r'set train_dataloader\.dataset\.dataset\.data_root '):
        check_data_root(cfg, ('train_dataloader', ))
