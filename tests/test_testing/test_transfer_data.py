"""The generated transfer data sets read back through mmpretrain's classes with the right labels."""
import json
import re

import numpy as np
import pytest
from mmpretrain.datasets import CIFAR10, CIFAR100, CustomDataset, Flowers102, StanfordCars
from PIL import Image

from dbot_mm.datasets import INaturalist
from dbot_mm.testing import transfer_data


def _samples(dataset):
    return [dataset.get_data_info(i) for i in range(len(dataset))]


COLOURS = np.stack([transfer_data._image(k, 0).reshape(-1, 3).mean(0) for k in range(100)])


def _label_of(image) -> int:
    """The class whose colour is nearest to the image's mean colour."""
    mean = np.asarray(image, np.float64).reshape(-1, 3).mean(0)
    return int(np.abs(COLOURS - mean).sum(1).argmin())


@pytest.mark.parametrize('cls,num_classes', [(CIFAR10, 10), (CIFAR100, 100)])
def test_cifar(cls, num_classes, tmp_path, monkeypatch):
    monkeypatch.setattr(cls, 'train_list', [[f, None] for f, _ in cls.train_list])
    monkeypatch.setattr(cls, 'test_list', [[f, None] for f, _ in cls.test_list])
    transfer_data.make_cifar(tmp_path, num_classes, train_per_class=2, test_per_class=1)
    train = _samples(cls(data_root=str(tmp_path), split='train', download=False))
    test = _samples(cls(data_root=str(tmp_path), split='test', download=False))
    assert (len(train), len(test)) == (2 * num_classes, num_classes)
    assert sorted({s['gt_label'] for s in test}) == list(range(num_classes))
    for s in train[::7]:  # HWC RGB arrays whose colour is their class's
        assert s['img'].shape == (32, 32, 3) and _label_of(s['img']) == s['gt_label']


def test_cifar_rejects_other_class_counts(tmp_path):
    with pytest.raises(ValueError, match='10 or 100'):
        transfer_data.make_cifar(tmp_path, 5)


def test_stanford_cars(tmp_path):
    transfer_data.make_stanford_cars(tmp_path, num_classes=3, train_per_class=2, test_per_class=1)
    train = _samples(StanfordCars(data_root=str(tmp_path), split='train'))
    test = _samples(StanfordCars(data_root=str(tmp_path), split='test'))
    assert (len(train), len(test)) == (6, 3)
    for s in train + test:
        assert _label_of(Image.open(s['img_path'])) == s['gt_label']
    assert {s['img_path'] for s in train}.isdisjoint(s['img_path'] for s in test)


def test_flowers102(tmp_path):
    transfer_data.make_flowers102(tmp_path, num_classes=3, per_split=1)
    trainval = _samples(Flowers102(data_root=str(tmp_path), split='trainval'))
    test = _samples(Flowers102(data_root=str(tmp_path), split='test'))
    assert (len(trainval), len(test)) == (6, 3)
    for s in trainval + test:
        assert _label_of(Image.open(s['img_path'])) == s['gt_label']


def test_image_folder(tmp_path):
    transfer_data.make_image_folder(tmp_path, num_classes=6, train_per_class=2, val_per_class=1)
    train = CustomDataset(data_root=str(tmp_path), data_prefix='train')
    val = CustomDataset(data_root=str(tmp_path), data_prefix='val')
    assert (len(train), len(val)) == (12, 6) and len(train.metainfo['classes']) == 6
    for s in _samples(val):
        assert _label_of(Image.open(s['img_path'])) == s['gt_label']


def _official_inat_labels(root, year, split):
    """eval_cls.py INatDataset with ``--inat-category name``: label = first appearance of the
    species (via categories.json) in train{year}.json; an image's species from its path."""
    catg = json.loads((root / 'categories.json').read_text())
    targeter = {}
    for elem in json.loads((root / f'train{year}.json').read_text())['annotations']:
        targeter.setdefault(catg[int(elem['category_id'])]['name'], len(targeter))
    images = json.loads((root / f'{split}{year}.json').read_text())['images']
    return [(str(root / e['file_name']), targeter[catg[int(e['file_name'].split('/')[2])]['name']])
            for e in images]


@pytest.mark.parametrize('year', [2018, 2019])
def test_inaturalist(year, tmp_path):
    transfer_data.make_inaturalist(
        tmp_path, year, num_classes=4, train_per_class=2, val_per_class=1)
    train = INaturalist(data_root=str(tmp_path), split='train', year=year)
    val = INaturalist(data_root=str(tmp_path), split='val', year=year)
    assert (len(train), len(val)) == (8, 4)
    for split, dataset in (('train', train), ('val', val)):
        samples = _samples(dataset)
        assert [(s['img_path'], s['gt_label']) for s in samples] == \
            _official_inat_labels(tmp_path, year, split)
        for s in samples:
            assert f'train_val{year}/' in s['img_path']
            assert _label_of(Image.open(s['img_path'])) == s['gt_label']
    # labels follow first appearance, not the sorted category ids (generated in reverse)
    first_appearance = tuple(f'Species {c}' for c in (3, 2, 1, 0))
    assert train.metainfo['classes'] == val.metainfo['classes'] == first_appearance


def test_inaturalist_errors(tmp_path):
    transfer_data.make_inaturalist(tmp_path, 2018, num_classes=2, train_per_class=1)
    with pytest.raises(ValueError, match="split must be one of .*'test'"):
        INaturalist(data_root=str(tmp_path), split='test')
    with pytest.raises(ValueError, match='year must be one of .*2021'):
        INaturalist(data_root=str(tmp_path), year=2021)
    with pytest.raises(FileNotFoundError, match='train2019.json'):
        INaturalist(data_root=str(tmp_path), year=2019)
    (tmp_path / 'train2018.json').rename(tmp_path / 'moved.json')
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / 'train2018.json'))):
        INaturalist(data_root=str(tmp_path), split='val')  # the label map needs the train json


def test_inaturalist_val_category_without_train_images(tmp_path):
    transfer_data.make_inaturalist(tmp_path, 2018, num_classes=2)
    val = json.loads((tmp_path / 'val2018.json').read_text())
    val['annotations'][0]['category_id'] = 7
    (tmp_path / 'val2018.json').write_text(json.dumps(val))
    with pytest.raises(ValueError, match='category 7 .* has no train2018 image'):
        INaturalist(data_root=str(tmp_path), split='val')
