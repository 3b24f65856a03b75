"""The generated transfer data sets read back through mmpretrain's classes with the right labels."""
import numpy as np
import pytest
from mmpretrain.datasets import CIFAR10, CIFAR100, CustomDataset, Flowers102, StanfordCars
from PIL import Image

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
