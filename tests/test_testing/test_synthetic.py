"""The synthetic datasets load with the real OpenMMLab dataset classes and say what they draw."""
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dbot_mm.testing import make_ade20k, make_coco, make_imagenet
from dbot_mm.testing._store import MARKER
from tests.helpers.tools import import_tool

REPO = Path(__file__).resolve().parents[2]


def _tree_digest(root):
    """relative path -> sha1 of every file below root (the marker included)."""
    root = Path(root)
    return {
        str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


def _shift_and(mask, steps):
    """4-neighbour erosion, ``steps`` times (numpy only)."""
    for _ in range(steps):
        m = np.pad(mask, 1)
        mask = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    return mask


def _shift_or(mask, steps):
    """4-neighbour dilation, ``steps`` times."""
    for _ in range(steps):
        m = np.pad(mask, 1)
        mask = m[1:-1, 1:-1] | m[:-2, 1:-1] | m[2:, 1:-1] | m[1:-1, :-2] | m[1:-1, 2:]
    return mask


# ---------------------------------------------------------------------------------------- ImageNet


def test_imagenet_layout_and_mmpretrain_splits(imagenet_data):
    from mmpretrain.datasets import ImageNet
    root = Path(imagenet_data['data_root'])
    assert imagenet_data['num_classes'] == 4
    assert (imagenet_data['num_train'], imagenet_data['num_val']) == (4 * 16, 4 * 4)
    assert sorted(p.name for p in (root / 'train').iterdir()) == imagenet_data['wnids']

    classes = imagenet_data['classes']
    train = ImageNet(data_root=str(root), split='train', metainfo=dict(classes=classes))
    val = ImageNet(data_root=str(root), split='val', metainfo=dict(classes=classes))
    assert len(train) == imagenet_data['num_train'] and len(val) == imagenet_data['num_val']
    assert train.ann_file.endswith('meta/train.txt') and val.ann_file.endswith('meta/val.txt')
    assert list(train.CLASSES) == classes

    # labels follow the class folder (train) and interleave (val)
    for info in train.load_data_list():
        wnid = Path(info['img_path']).parent.name
        assert info['gt_label'] == imagenet_data['wnids'].index(wnid)
        assert os.path.isfile(info['img_path'])
    val_labels = [info['gt_label'] for info in val.load_data_list()]
    assert val_labels == [j % 4 for j in range(imagenet_data['num_val'])]
    assert np.bincount(val_labels).tolist() == [4] * 4

    # a folder scan of train (no ann_file) gives the same labels
    scanned = ImageNet(data_root=str(root), data_prefix='train', metainfo=dict(classes=classes))
    assert sorted((Path(d['img_path']).name, d['gt_label']) for d in scanned.load_data_list()) == \
        sorted((Path(d['img_path']).name, d['gt_label']) for d in train.load_data_list())


def test_imagenet_images_through_mmpretrain_pipeline(imagenet_data):
    from mmpretrain.datasets import ImageNet
    ds = ImageNet(
        data_root=imagenet_data['data_root'],
        split='val',
        metainfo=dict(classes=imagenet_data['classes']),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='mmpretrain.PackInputs')])
    sample = ds[3]
    assert tuple(sample['inputs'].shape) == (3, 64, 64)
    assert sample['data_samples'].gt_label.tolist() == [3]


def test_imagenet_classes_learnable_by_tiny_vit():
    """A 2-block ViT tells the default four families apart from 32 images each in 150 steps."""
    import torch
    from torch import nn

    from dbot_mm.testing._draw import image_rng
    from dbot_mm.testing.synthetic import IMAGENET_FAMILIES, render_imagenet_image

    def batch(split, per_class, size=32):
        imgs, labels = [], []
        for c, family in enumerate(IMAGENET_FAMILIES[:4]):
            for k in range(per_class):
                imgs.append(render_imagenet_image(image_rng(0, split, c * 1000 + k), family, size))
                labels.append(c)
        x = torch.tensor(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1
        return x, torch.tensor(labels)

    class TinyViT(nn.Module):

        def __init__(self, dim=64, patch=8, tokens=16):
            super().__init__()
            self.embed = nn.Conv2d(3, dim, patch, patch)
            self.pos = nn.Parameter(0.02 * torch.randn(1, tokens, dim))
            layer = nn.TransformerEncoderLayer(dim, 4, 4 * dim, 0.0, batch_first=True)
            self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(dim, 4)

        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2) + self.pos
            return self.head(self.blocks(x).mean(1))

    x_train, y_train = batch(0, 32)
    x_test, y_test = batch(1, 16)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: more threads only contend on a shared CPU
    try:
        torch.manual_seed(0)
        model = TinyViT()
        opt = torch.optim.AdamW(model.parameters(), 1e-3)
        gen = torch.Generator().manual_seed(0)
        for _ in range(150):
            idx = torch.randint(0, len(x_train), (32, ), generator=gen)
            loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert acc > 0.7, f'held-out accuracy {acc:.2f} (chance 0.25)'


# -------------------------------------------------------------------------------------------- COCO


def test_coco_pycocotools_masks_match_drawn_pixels(coco_data):
    from pycocotools.coco import COCO
    root = Path(coco_data['data_root'])
    for split in ('train', 'val'):
        coco = COCO(coco_data[f'{split}_ann'])
        assert len(coco.getImgIds()) == coco_data[f'num_{split}']
        assert len(coco.getAnnIds()) == coco_data[f'num_{split}_instances'] > 0
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(coco_data['classes'])
        assert coco.getCatIds() == [1, 2, 3]
        for img_info in coco.loadImgs(coco.getImgIds()):
            anns = coco.loadAnns(coco.getAnnIds(imgIds=img_info['id']))
            assert 1 <= len(anns) <= 3
            img = np.asarray(Image.open(root / f'{split}2017' / img_info['file_name']), np.float32)
            assert img.shape == (img_info['height'], img_info['width'], 3) == (96, 128, 3)
            for ann in anns:
                mask = coco.annToMask(ann).astype(bool)
                assert ann['iscrowd'] == 0 and len(ann['segmentation'][0]) >= 6
                assert mask.sum() == ann['area'] > 0
                ys, xs = np.nonzero(mask)
                assert ann['bbox'] == [
                    xs.min(), ys.min(),
                    xs.max() - xs.min() + 1,
                    ys.max() - ys.min() + 1
                ]
                # the mask covers one flat-coloured object, different from what surrounds it
                inside = img[_shift_and(mask, 2)]
                ring = img[_shift_or(mask, 2) & ~_shift_or(mask, 1)]
                colour = inside.mean(0)
                assert np.abs(inside - colour).mean() < 12
                assert np.linalg.norm(ring.mean(0) - colour) > 40


def test_coco_mmdet_dataset_counts(coco_data):
    from mmdet.datasets import CocoDataset
    from pycocotools.coco import COCO
    classes = tuple(coco_data['classes'])
    for split in ('train', 'val'):
        ds = CocoDataset(
            data_root=coco_data['data_root'],
            ann_file=f'annotations/instances_{split}2017.json',
            data_prefix=dict(img=f'{split}2017/'),
            metainfo=dict(classes=classes),
            filter_cfg=dict(filter_empty_gt=True, min_size=32),
            test_mode=split == 'val',
            pipeline=[])
        assert len(ds) == coco_data[f'num_{split}']
        coco = COCO(coco_data[f'{split}_ann'])
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        instances = [inst for info in infos for inst in info['instances']]
        assert len(instances) == coco_data[f'num_{split}_instances']
        for info in infos:  # labels are the category ids - 1, boxes the json's (x, y, w, h)
            anns = coco.imgToAnns[info['img_id']]
            assert [(i['bbox_label'], i['bbox'])
                    for i in info['instances']] == [(a['category_id'] - 1, [
                        a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                        a['bbox'][1] + a['bbox'][3]
                    ]) for a in anns]
            assert os.path.isfile(info['img_path'])
        assert all(inst['ignore_flag'] == 0 for inst in instances)


def test_coco_mmdet_pipeline_with_masks(coco_data):
    from mmdet.datasets import CocoDataset
    from mmengine.registry import DefaultScope
    from pycocotools.coco import COCO
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='PackDetInputs')
    ]
    with DefaultScope.overwrite_default_scope('mmdet'):
        ds = CocoDataset(
            data_root=coco_data['data_root'],
            ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'),
            metainfo=dict(classes=tuple(coco_data['classes'])),
            pipeline=pipeline)
        sample = ds[0]
    inputs, data_sample = sample['inputs'], sample['data_samples']
    assert tuple(inputs.shape) == (3, 96, 128)
    gt = data_sample.gt_instances
    masks = gt.masks.to_ndarray()
    areas = [a['area'] for a in COCO(coco_data['train_ann']).imgToAnns[data_sample.img_id]]
    assert masks.shape[0] == len(gt.bboxes) == len(gt.labels) == len(areas)
    assert masks.shape[1:] == (96, 128)
    assert sorted(masks.reshape(len(masks), -1).sum(1).tolist()) == sorted(areas)


# ------------------------------------------------------------------------------------------ ADE20K


def test_ade20k_mmseg_dataset_and_labels(ade_data):
    from mmengine.registry import DefaultScope
    from mmseg.datasets import ADE20KDataset
    root = Path(ade_data['data_root'])
    assert root.name == 'ADEChallengeData2016'
    allowed = {0, *ade_data['label_ids']}
    for split, count in (('training', ade_data['num_train']), ('validation', ade_data['num_val'])):
        ds = ADE20KDataset(
            data_root=str(root),
            data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
            pipeline=[])
        assert len(ds) == count
        for info in ds.load_data_list():
            assert info['reduce_zero_label'] is True
            label = Image.open(info['seg_map_path'])
            assert label.mode == 'L' and label.size == (96, 96)
            assert set(np.unique(np.asarray(label)).tolist()) <= allowed
            assert Image.open(info['img_path']).size == (96, 96)
    assert set(ade_data['label_ids_present']) <= allowed and len(ade_data['label_ids_present']) > 3

    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', reduce_zero_label=True),
        dict(type='PackSegInputs')
    ]
    with DefaultScope.overwrite_default_scope('mmseg'):
        ds = ADE20KDataset(
            data_root=str(root),
            data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
            pipeline=pipeline)
        sample = ds[0]
    seg = sample['data_samples'].gt_sem_seg.data.numpy()
    assert seg.shape == (1, 96, 96)
    assert set(np.unique(seg).tolist()) <= {c - 1 for c in ade_data['label_ids']} | {255}


def test_ade20k_num_classes_limits_label_ids(tmp_path):
    summary = make_ade20k(tmp_path, num_train=4, num_val=1, img_size=(32, 48), num_classes=5)
    assert summary['label_ids'] == [1, 2, 3, 4, 5]
    for png in Path(summary['train_ann_dir']).glob('*.png'):
        label = np.asarray(Image.open(png))
        assert label.shape == (32, 48) and label.max() <= 5


# ---------------------------------------------------------------------- determinism and idempotency


@pytest.mark.parametrize('maker,kwargs', [
    (make_imagenet, dict(num_classes=3, train_per_class=2, val_per_class=1, img_size=32)),
    (make_coco, dict(num_train=3, num_val=2, img_size=(48, 64))),
    (make_ade20k, dict(num_train=3, num_val=2, img_size=48)),
])
def test_same_seed_same_bytes(tmp_path, maker, kwargs):
    maker(tmp_path / 'a', seed=3, **kwargs)
    maker(tmp_path / 'b', seed=3, **kwargs)
    maker(tmp_path / 'c', seed=4, **kwargs)
    a, b, c = (_tree_digest(tmp_path / n) for n in 'abc')
    assert len(a) > 3 and a == b
    assert a.keys() == c.keys()
    assert any(a[k] != c[k] for k in a if k != MARKER)  # the images themselves change with seed


def test_rerun_skips_and_partial_is_rewritten(tmp_path):
    kwargs = dict(num_classes=2, train_per_class=2, val_per_class=1, img_size=32)
    first = make_imagenet(tmp_path, **kwargs)
    img = tmp_path / 'train' / 'n00000001' / 'n00000001_1.JPEG'
    stamp = img.stat().st_mtime_ns
    assert make_imagenet(tmp_path, **kwargs) == first
    assert img.stat().st_mtime_ns == stamp  # skipped: nothing rewritten

    img.unlink()  # an incomplete dataset is rewritten
    assert make_imagenet(tmp_path, **kwargs) == first and img.is_file()

    marker = json.loads((tmp_path / MARKER).read_text())
    (tmp_path / MARKER).write_text(json.dumps(dict(marker, complete=False)))
    (tmp_path / 'train' / 'stray.JPEG').write_bytes(b'x')
    make_imagenet(tmp_path, **kwargs)
    assert not (tmp_path / 'train' / 'stray.JPEG').exists()

    bigger = make_imagenet(tmp_path, **dict(kwargs, train_per_class=3))  # new params: rewritten
    assert bigger['num_train'] == 6
    assert len((tmp_path / 'meta' / 'train.txt').read_text().splitlines()) == 6


def test_refuses_to_overwrite_foreign_data(tmp_path):
    (tmp_path / 'train2017').mkdir()
    (tmp_path / 'train2017' / 'real.jpg').write_bytes(b'real data')
    with pytest.raises(FileExistsError):
        make_coco(tmp_path, num_train=1, num_val=1)
    assert (tmp_path / 'train2017' / 'real.jpg').read_bytes() == b'real data'


def test_bad_arguments():
    with pytest.raises(ValueError):
        make_imagenet('/nonexistent', num_classes=11)
    with pytest.raises(ValueError):
        make_coco('/nonexistent', classes=('circle', 'dog'))
    with pytest.raises(ValueError):
        make_ade20k('/nonexistent', num_classes=1)


# --------------------------------------------------------------------------------------------- CLI


def test_cli_writes_standard_paths(tmp_path, capsys):
    cli = import_tool(REPO / 'tools' / 'misc' / 'make_synthetic_data.py')
    cli.main(['ade20k', '--out', str(tmp_path), '--seed', '1'])
    out = capsys.readouterr().out
    assert '[ade20k training] 16/16' in out and 'num_train=16' in out
    images = tmp_path / 'ade' / 'ADEChallengeData2016' / 'images' / 'training'
    assert len(list(images.iterdir())) == 16
    assert not (tmp_path / 'imagenet').exists()


def test_refuses_to_mix_kinds(tmp_path):
    make_ade20k(tmp_path, num_train=1, num_val=1, img_size=16)
    with pytest.raises(FileExistsError):
        make_coco(tmp_path, num_train=1, num_val=1)
