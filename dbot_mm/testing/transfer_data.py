"""Tiny transfer-classification data sets written in the layouts their data set classes read.

No data set can be downloaded here, so the transfer configs (configs/cls/*_transfer-*.py) are tested
on files these functions write: CIFAR-10/100 (python pickles), Stanford Cars (``cars_annos.mat`` +
``car_ims/``), Oxford Flowers-102 (``jpg/`` + ``imagelabels.mat`` + ``setid.mat``), iNaturalist
2018/2019 (``train{year}.json`` + ``val{year}.json`` + ``train_val{year}/``) and a user's image
folder (``train/<class>/``, ``val/<class>/``). Class ``k`` is a flat colour plus noise, so a label
mix-up shows as a wrong colour. The CIFAR files cannot match mmpretrain's md5 checks: a test clears
them (``CIFAR10.train_list`` etc.).
"""
import hashlib
import json
import pickle
from pathlib import Path

import mat4py
import numpy as np
from PIL import Image


def _image(label: int, index: int, size: int = 32) -> np.ndarray:
    """RGB uint8 image of class ``label``: a colour from the label, noise from the index."""
    rng = np.random.default_rng(1000 * label + index)
    colour = np.array([(37 * label) % 256, (91 * label + 60) % 256, (151 * label + 120) % 256])
    noise = rng.integers(-20, 21, size=(size, size, 3))
    return np.clip(colour + noise, 0, 255).astype(np.uint8)


def _save(path: Path, label: int, index: int, size: int = 32) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_image(label, index, size)).save(path)


def make_cifar(root, num_classes: int = 10, train_per_class: int = 2, test_per_class: int = 1):
    """CIFAR-10 (``cifar-10-batches-py``) or CIFAR-100 (``cifar-100-python``) under ``root``."""
    if num_classes not in (10, 100):
        raise ValueError(f'make_cifar: num_classes must be 10 or 100, got {num_classes}')
    root = Path(root)

    def batch(per_class, offset):
        labels = [k for k in range(num_classes) for _ in range(per_class)]
        if not labels:  # data_batch_2..5 of a tiny CIFAR-10
            return np.zeros((0, 3072), np.uint8), labels
        data = np.stack(
            [_image(k, offset + i).transpose(2, 0, 1).reshape(-1) for i, k in enumerate(labels)])
        return data, labels

    if num_classes == 10:
        folder = root / 'cifar-10-batches-py'
        folder.mkdir(parents=True, exist_ok=True)
        files = [(f'data_batch_{i}', train_per_class if i == 1 else 0) for i in range(1, 6)]
        files.append(('test_batch', test_per_class))
        for name, per_class in files:
            data, labels = batch(per_class, 0 if name.startswith('data') else 10000)
            _dump(folder / name, {'data': data, 'labels': labels})
        _dump(folder / 'batches.meta', {'label_names': [f'class{k}' for k in range(10)]})
    else:
        folder = root / 'cifar-100-python'
        folder.mkdir(parents=True, exist_ok=True)
        for name, per_class, offset in (('train', train_per_class, 0), ('test', test_per_class,
                                                                        10000)):
            data, labels = batch(per_class, offset)
            _dump(folder / name, {'data': data, 'fine_labels': labels})
        _dump(folder / 'meta', {'fine_label_names': [f'class{k}' for k in range(100)]})
    return root


def _dump(path: Path, obj) -> None:
    with open(path, 'wb') as f:
        pickle.dump(obj, f)


def make_stanford_cars(root,
                       num_classes: int = 3,
                       train_per_class: int = 2,
                       test_per_class: int = 1):
    """Stanford Cars in its ``cars_annos.mat`` layout (``car_ims/000001.jpg``, 1-based classes,
    ``test`` flag per image): the layout both mmpretrain's ``StanfordCars`` and the official
    evaluation/eval_cls.py ``CarsDataset`` read."""
    root = Path(root)
    paths, classes, test = [], [], []
    for flag, per_class in ((0, train_per_class), (1, test_per_class)):
        for k in range(num_classes):
            for i in range(per_class):
                name = f'car_ims/{len(paths) + 1:06d}.jpg'
                _save(root / name, k, len(paths))
                paths.append(name)
                classes.append(k + 1)
                test.append(flag)
    mat4py.savemat(
        str(root / 'cars_annos.mat'),
        {'annotations': {
            'relative_im_path': paths,
            'class': classes,
            'test': test
        }})
    return root


def make_flowers102(root, num_classes: int = 3, per_split: int = 1):
    """Oxford Flowers-102: ``jpg/image_00001.jpg``, ``imagelabels.mat`` (1-based labels) and
    ``setid.mat`` (1-based ids of trnid / valid / tstid, ``per_split`` images per class each)."""
    root = Path(root)
    labels, ids = [], {'trnid': [], 'valid': [], 'tstid': []}
    for split in ids:
        for k in range(num_classes):
            for _ in range(per_split):
                labels.append(k + 1)
                ids[split].append(len(labels))
                _save(root / 'jpg' / f'image_{len(labels):05d}.jpg', k, len(labels))
    mat4py.savemat(str(root / 'imagelabels.mat'), {'labels': labels})
    mat4py.savemat(str(root / 'setid.mat'), ids)
    return root


def make_inaturalist(root,
                     year: int = 2018,
                     num_classes: int = 3,
                     train_per_class: int = 2,
                     val_per_class: int = 2):
    """iNaturalist 2018 or 2019 in the release layout (read by ``dbot_mm.datasets.INaturalist``
    and eval_cls.py ``INatDataset``): COCO-style ``train{year}.json`` / ``val{year}.json``,
    ``categories.json`` (list indexed by category id) and
    ``train_val{year}/<supercategory>/<category_id>/<md5>.jpg``. Class ``k`` (colour ``k``, the
    ``k``-th species to appear in the train annotations) has category id ``num_classes - 1 - k``,
    so labels by first appearance differ from labels by sorted id."""
    root = Path(root)
    supers = ('Plantae', 'Insecta', 'Aves') if year == 2018 else ('Plants', 'Insects', 'Birds')
    categories = [
        dict(id=c, name=f'Species {c}', supercategory=supers[c % len(supers)])
        for c in range(num_classes)
    ]
    image_id = 0
    for split, per_class in (('train', train_per_class), ('val', val_per_class)):
        images, annotations = [], []
        for i in range(per_class):
            for k in range(num_classes):
                cat = num_classes - 1 - k
                image_id += 1
                name = hashlib.md5(str(image_id).encode()).hexdigest()
                file_name = f'train_val{year}/{categories[cat]["supercategory"]}/{cat}/{name}.jpg'
                _save(root / file_name, k, image_id)
                images.append(dict(id=image_id, file_name=file_name, width=32, height=32))
                annotations.append(dict(id=image_id, image_id=image_id, category_id=cat))
        _write_json(root / f'{split}{year}.json',
                    dict(images=images, annotations=annotations, categories=categories))
    _write_json(root / 'categories.json', categories)
    return root


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def make_image_folder(root, num_classes: int = 6, train_per_class: int = 2, val_per_class: int = 1):
    """A user's data set: ``train/<class>/*.png`` and ``val/<class>/*.png`` (mmpretrain's
    ``CustomDataset`` folder layout, one sub-folder per class)."""
    root = Path(root)
    for split, per_class in (('train', train_per_class), ('val', val_per_class)):
        for k in range(num_classes):
            for i in range(per_class):
                _save(root / split / f'class{k}' / f'{i}.png', k, i)
    return root
