"""Synthetic ImageNet, COCO and ADE20K written in the real on-disk layouts, with learnable content.

No dataset can be downloaded here, so tests and demos run the real OpenMMLab dataset classes and
pipelines on files this module writes:

- ``make_imagenet``: one shape/texture family per class (discs, squares, stripes, ...) with random
  colours, positions, scales and background noise, in mmpretrain's ``ImageNet`` layout.
- ``make_coco``: non-overlapping shapes whose polygon annotations rasterise (with pycocotools, as
  mmdet does) to exactly the pixels that were painted.
- ``make_ade20k``: wavy bands of textured "stuff" classes plus a few objects, with exact uint8
  label PNGs that use real ADE20K ids (0 = other, ignored with ``reduce_zero_label``).

Every image is a pure function of ``(seed, split, index)``. A call on a root that already holds the
same complete dataset returns at once; a partial one is rewritten (see ``_store``).
"""
import json
import math
import warnings
from pathlib import Path

import numpy as np

from . import _draw as D
from . import _store

TRAIN, VAL = 0, 1

# --------------------------------------------------------------------------------------- ImageNet

# Ordered by how quickly a tiny ViT tells them apart: the first four (the default) are learned in a
# few hundred iterations; the outline-only shapes later in the list (square vs disc vs triangle
# ...) take a tiny ViT much longer, which makes larger ``num_classes`` a harder task.
IMAGENET_FAMILIES = ('disc', 'hstripes', 'checker', 'vstripes', 'dots', 'diagonal', 'square',
                     'triangle', 'ring', 'cross')


def _centre(rng, s, r):
    return rng.uniform(r, s - r, size=2)


def _shape_mask(family, rng, s, scale):
    """One shape of a family, ``scale`` = its radius as a fraction of the image side."""
    yy, xx = D.coords(s, s)
    r = scale * s
    if family in ('disc', 'ring'):
        cx, cy = _centre(rng, s, r)
        d2 = (yy - cy)**2 + (xx - cx)**2
        mask = d2 < r * r
        return mask & (d2 > (0.55 * r)**2) if family == 'ring' else mask
    cx, cy = _centre(rng, s, r)
    angle = rng.uniform(-0.3, 0.3)
    if family == 'square':
        return D.polygon_mask(D.rect_polygon(cx, cy, 0.75 * r, 0.75 * r, angle), s, s)
    if family == 'triangle':
        return D.polygon_mask(D.regular_polygon(cx, cy, r, 3, -math.pi / 2 + angle), s, s)
    if family == 'cross':
        bar1 = D.polygon_mask(D.rect_polygon(cx, cy, r, 0.3 * r, angle), s, s)
        return bar1 | D.polygon_mask(D.rect_polygon(cx, cy, 0.3 * r, r, angle), s, s)
    raise ValueError(f'unknown family {family!r}')


def _family_mask(family, rng, s):
    """Foreground mask of one image of a family; scale, position and angle are random."""
    if family in ('disc', 'ring', 'square', 'triangle', 'cross'):
        return _shape_mask(family, rng, s, rng.uniform(0.22, 0.4))
    period = rng.uniform(0.12, 0.24) * s
    jitter = rng.uniform(-0.2, 0.2)
    if family == 'hstripes':
        return D.stripes(s, s, period, jitter, rng.random())
    if family == 'vstripes':
        return D.stripes(s, s, period, math.pi / 2 + jitter, rng.random())
    if family == 'diagonal':
        return D.stripes(s, s, period, rng.choice([-1, 1]) * math.pi / 4 + jitter, rng.random())
    if family == 'checker':
        return D.checkerboard(s, s, period, jitter, rng.random(2))
    if family == 'dots':
        return D.dot_grid(s, s, 1.3 * period, 0.4 * period, rng.random(2))
    raise ValueError(f'unknown family {family!r}')


def render_imagenet_image(rng, family, size):
    """One classification image: a family's mask in one colour over a noisy background."""
    bg = D.random_colour(rng)
    fg = D.random_colour(rng, far_from=bg)
    img = D.background(rng, size, size, bg)
    D.paint(img, _family_mask(family, rng, size), fg, rng)
    return D.to_uint8(img)


def imagenet_wnid(label):
    """WordNet-id-like folder name; zero padding keeps sorted order equal to label order."""
    return f'n{label + 1:08d}'


def make_imagenet(root,
                  num_classes=4,
                  train_per_class=16,
                  val_per_class=4,
                  img_size=64,
                  seed=0,
                  verbose=False):
    """Write mmpretrain's ImageNet layout (``train/<wnid>/*.JPEG``, ``val/*.JPEG``, ``meta/*.txt``).

    ``ImageNet(data_root=root, split='train'|'val')`` loads it; so does a folder scan of ``train``.
    Returns a summary dict (paths, class names, counts).
    """
    if not 1 <= num_classes <= len(IMAGENET_FAMILIES):
        raise ValueError(f'num_classes must be in [1, {len(IMAGENET_FAMILIES)}], got {num_classes}')
    params = dict(
        num_classes=num_classes,
        train_per_class=train_per_class,
        val_per_class=val_per_class,
        img_size=img_size,
        seed=seed)
    root = Path(root)
    owned = ('train', 'val', 'meta')
    summary = _store.completed_summary(root, 'imagenet', params,
                                       lambda: _store.count_files(root, owned))
    if summary is None:
        _store.start(root, 'imagenet', params, owned)
        summary = _write_imagenet(root, verbose=verbose, **params)
        _store.finish(root, 'imagenet', params, summary, _store.count_files(root, owned))
    return _imagenet_paths(root, summary)


def _write_imagenet(root, num_classes, train_per_class, val_per_class, img_size, seed, verbose):
    families = IMAGENET_FAMILIES[:num_classes]
    wnids = [imagenet_wnid(i) for i in range(num_classes)]
    for sub in ('meta', 'train', 'val'):
        (root / sub).mkdir(parents=True, exist_ok=True)

    lines, total = [], num_classes * train_per_class
    progress = _store.ProgressPrinter('imagenet train', total, verbose)
    for label, wnid in enumerate(wnids):
        for k in range(train_per_class):
            name = f'{wnid}/{wnid}_{k + 1}.JPEG'
            rng = D.image_rng(seed, TRAIN, label * 1_000_000 + k)
            _store.save_jpeg(
                render_imagenet_image(rng, families[label], img_size), root / 'train' / name)
            lines.append(f'{name} {label}')
            progress(len(lines))
    (root / 'meta' / 'train.txt').write_text(''.join(line + '\n' for line in lines))

    # Real val is one flat folder with classes interleaved; label = index mod num_classes.
    lines, total = [], num_classes * val_per_class
    progress = _store.ProgressPrinter('imagenet val', total, verbose)
    for j in range(total):
        label = j % num_classes
        name = f'ILSVRC2012_val_{j + 1:08d}.JPEG'
        rng = D.image_rng(seed, VAL, j)
        _store.save_jpeg(render_imagenet_image(rng, families[label], img_size), root / 'val' / name)
        lines.append(f'{name} {label}')
        progress(len(lines))
    (root / 'meta' / 'val.txt').write_text(''.join(line + '\n' for line in lines))
    return dict(
        classes=list(families),
        wnids=wnids,
        num_classes=num_classes,
        num_train=num_classes * train_per_class,
        num_val=total)


def _imagenet_paths(root, summary):
    return dict(
        summary,
        data_root=str(root),
        train_dir=str(root / 'train'),
        val_dir=str(root / 'val'),
        train_ann=str(root / 'meta' / 'train.txt'),
        val_ann=str(root / 'meta' / 'val.txt'))


# ------------------------------------------------------------------------------------------- COCO


def _shape_polygon(name, cx, cy, r, angle):
    if name == 'circle':
        return D.regular_polygon(cx, cy, r, 32)
    if name == 'square':
        return D.regular_polygon(cx, cy, r, 4, math.pi / 4 + angle)
    if name == 'triangle':
        return D.regular_polygon(cx, cy, r, 3, -math.pi / 2 + angle)
    if name == 'pentagon':
        return D.regular_polygon(cx, cy, r, 5, -math.pi / 2 + angle)
    if name == 'hexagon':
        return D.regular_polygon(cx, cy, r, 6, angle)
    if name == 'star':
        return D.star_polygon(cx, cy, r, 5, -math.pi / 2 + angle)
    if name == 'bar':
        return D.rect_polygon(cx, cy, r, 0.35 * r, angle)
    raise ValueError(f'no synthetic shape for class {name!r}; choose from {COCO_SHAPES}')


COCO_SHAPES = ('circle', 'square', 'triangle', 'pentagon', 'hexagon', 'star', 'bar')


def coco_polygon_mask(polygon, h, w):
    """Rasterise a flat COCO polygon exactly as pycocotools (and so mmdet) decodes it."""
    from pycocotools import mask as mask_utils
    rle = mask_utils.merge(mask_utils.frPyObjects([list(polygon)], h, w))
    with warnings.catch_warnings():  # pycocotools 2.0.x warns about numpy 2's copy keyword
        warnings.simplefilter('ignore', DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


def _mask_bbox(mask):
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() - x0 + 1), float(ys.max() - y0 + 1)]


def _overlaps(box, boxes, gap=2.0):
    x, y, w, h = box
    return any(x < bx + bw + gap and bx < x + w + gap and y < by + bh + gap and by < y + h + gap
               for bx, by, bw, bh in boxes)


def render_coco_image(rng, classes, img_size, max_objects):
    """One detection image and its objects.

    Objects never touch, so each stored polygon is exactly the visible object; pixels are painted
    from the pycocotools rasterisation of the rounded polygon that goes into the JSON.
    Returns ``(img, objects)`` with objects as dicts (category index, flat polygon, mask, bbox).
    """
    h, w = img_size
    bg = rng.uniform(40, 215, size=3)
    img = D.background(rng, h, w, bg, amplitude=25.0)
    objects, boxes = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        for _attempt in range(30):
            cat = int(rng.integers(len(classes)))
            r = rng.uniform(0.1, 0.28) * min(h, w)
            cx, cy = rng.uniform(r + 1, w - r - 1), rng.uniform(r + 1, h - r - 1)
            poly = _shape_polygon(classes[cat], cx, cy, r, rng.uniform(-0.3, 0.3))
            flat = [round(float(v), 2) for v in poly.reshape(-1)]
            mask = coco_polygon_mask(flat, h, w)
            if mask.sum() < 16:
                continue
            box = _mask_bbox(mask)
            if not _overlaps(box, boxes):
                break
        else:
            continue  # no free spot: fewer objects in this image
        D.paint(img, mask, D.random_colour(rng, far_from=bg), rng, sigma=4.0)
        boxes.append(box)
        objects.append(dict(category=cat, polygon=flat, mask=mask, bbox=box))
    return D.to_uint8(img), objects


def _as_hw(img_size):
    return (img_size, img_size) if isinstance(img_size, int) else tuple(int(v) for v in img_size)


def make_coco(root,
              num_train=16,
              num_val=8,
              img_size=(96, 128),
              classes=('circle', 'square', 'triangle'),
              max_objects=3,
              seed=0,
              verbose=False):
    """Write the COCO-2017 instances layout.

    ``annotations/instances_{train,val}2017.json`` and images in ``{train,val}2017/``.

    ``img_size`` is (height, width). Category ids start at 1 in the order of ``classes``; use
    ``CocoDataset(metainfo=dict(classes=classes), ...)`` in mmdet. Every image has >= 1 object.
    """
    classes = tuple(classes)
    for name in classes:
        if name not in COCO_SHAPES:
            raise ValueError(f'no synthetic shape for class {name!r}; choose from {COCO_SHAPES}')
    if max_objects < 1:
        raise ValueError('max_objects must be >= 1')
    params = dict(
        num_train=num_train,
        num_val=num_val,
        img_size=list(_as_hw(img_size)),
        classes=list(classes),
        max_objects=max_objects,
        seed=seed)
    root = Path(root)
    owned = ('annotations', 'train2017', 'val2017')
    summary = _store.completed_summary(root, 'coco', params,
                                       lambda: _store.count_files(root, owned))
    if summary is None:
        _store.start(root, 'coco', params, owned)
        summary = dict(classes=list(classes))
        for split, split_id, count in (('train2017', TRAIN, num_train), ('val2017', VAL, num_val)):
            n_inst = _write_coco_split(root, split, split_id, count, _as_hw(img_size), classes,
                                       max_objects, seed, verbose)
            summary[f'num_{split[:-4]}'] = count
            summary[f'num_{split[:-4]}_instances'] = n_inst
        _store.finish(root, 'coco', params, summary, _store.count_files(root, owned))
    return dict(
        summary,
        data_root=str(root),
        train_ann=str(root / 'annotations' / 'instances_train2017.json'),
        val_ann=str(root / 'annotations' / 'instances_val2017.json'),
        train_dir=str(root / 'train2017'),
        val_dir=str(root / 'val2017'))


def _write_coco_split(root, split, split_id, count, img_size, classes, max_objects, seed, verbose):
    h, w = img_size
    (root / split).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    progress = _store.ProgressPrinter(f'coco {split}', count, verbose)
    for i in range(count):
        image_id = i + 1
        file_name = f'{image_id:012d}.jpg'
        img, objects = render_coco_image(
            D.image_rng(seed, split_id, i), classes, img_size, max_objects)
        _store.save_jpeg(img, root / split / file_name)
        images.append(dict(id=image_id, file_name=file_name, height=h, width=w, license=1))
        for obj in objects:
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=obj['category'] + 1,
                    segmentation=[obj['polygon']],
                    area=float(obj['mask'].sum()),
                    bbox=obj['bbox'],
                    iscrowd=0))
        progress(i + 1)
    dataset = dict(
        info=dict(description='dbot_mm synthetic shapes', version='1.0', year=2017),
        licenses=[dict(id=1, name='synthetic', url='')],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=k + 1, name=name, supercategory='shape') for k, name in enumerate(classes)
        ])
    ann_file = root / 'annotations' / f'instances_{split}.json'
    ann_file.parent.mkdir(parents=True, exist_ok=True)
    ann_file.write_text(json.dumps(dataset, separators=(',', ':')))
    return len(annotations)


# ----------------------------------------------------------------------------------------- ADE20K

# Real ADE20K ids (1-based, 0 = other) -> (name, mean colour, texture). Textures and colours differ
# per class so a small segmenter can learn them.
ADE_CLASSES = {
    1: ('wall', (205, 195, 175), 'flat'),
    2: ('building', (150, 110, 90), 'windows'),
    3: ('sky', (120, 170, 235), 'gradient'),
    4: ('floor', (160, 110, 65), 'planks'),
    5: ('tree', (35, 105, 40), 'blotches'),
    7: ('road', (105, 105, 105), 'grain'),
    10: ('grass', (95, 175, 60), 'streaks'),
    13: ('person', (235, 160, 125), 'flat'),
    21: ('car', (200, 35, 35), 'flat'),
    22: ('water', (35, 95, 150), 'waves'),
}
ADE_STUFF = (1, 2, 3, 4, 5, 7, 10, 22)
ADE_THINGS = (13, 21)


def ade_texture(cid, rng, h, w):
    """Full-size float texture of class ``cid`` (only the pixels of its region get used)."""
    _, colour, pattern = ADE_CLASSES[cid]
    colour = np.asarray(colour, np.float32) + rng.uniform(-15, 15, size=3)
    if pattern == 'blotches':
        return colour + 45.0 * D.smooth_noise(rng, h, w, cells=8).mean(-1, keepdims=True)
    img = D.background(rng, h, w, colour, amplitude=10.0, sigma=12.0 if pattern == 'grain' else 4.0)
    yy, xx = D.coords(h, w)
    if pattern == 'gradient':
        img += 50.0 * (yy / h - 0.5)[..., None]
    elif pattern == 'windows':
        p = rng.uniform(6, 10)
        img[((yy % p) < 0.5 * p) & ((xx % p) < 0.5 * p)] *= 0.45
    elif pattern == 'planks':
        img[D.stripes(h, w, rng.uniform(6, 10), 0.0, rng.random(), duty=0.2)] *= 0.6
    elif pattern == 'streaks':
        img += rng.normal(0, 25, size=(1, w, 1)).astype(np.float32)
    elif pattern == 'waves':
        img += 30.0 * np.sin(2 * math.pi *
                             (yy / rng.uniform(4, 8)) + 0.6 * np.sin(xx / 5.0))[..., None]
    return img


def _blob_polygon(rng, h, w):
    """A random star-convex blob (12 vertices), for objects and 'other' regions."""
    r = rng.uniform(0.08, 0.2) * min(h, w)
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    t = 2 * math.pi * np.arange(12) / 12
    radii = r * rng.uniform(0.6, 1.0, size=12)
    return np.stack([cx + radii * np.cos(t), cy + radii * np.sin(t)], axis=1)


def render_ade_image(rng, img_size, stuff, things):
    """One scene: 2-4 wavy horizontal bands of stuff, up to 2 objects, maybe an 'other' (0) blob.

    Returns ``(img uint8 HxWx3, label uint8 HxW)``; the image is painted from the label map.
    """
    h, w = img_size
    yy, xx = D.coords(h, w)
    n_bands = int(rng.integers(2, min(4, len(stuff)) + 1))
    band_ids = rng.choice(np.asarray(stuff), size=n_bands, replace=False)
    band = np.zeros((h, w), np.int64)
    for cut in np.sort(rng.uniform(0.2, 0.8, size=n_bands - 1)) * h:
        amp, phase = rng.uniform(0, 0.08 * h), rng.uniform(0, 2 * math.pi)
        wavelength = rng.uniform(0.5, 1.5) * w
        band += yy > cut + amp * np.sin(2 * math.pi * xx / wavelength + phase)
    label = band_ids[band].astype(np.uint8)
    if things:
        for _ in range(int(rng.integers(0, 3))):
            label[D.polygon_mask(_blob_polygon(rng, h, w), h, w)] = int(rng.choice(things))
    if rng.random() < 0.5:
        label[D.polygon_mask(_blob_polygon(rng, h, w), h, w)] = 0

    img = np.zeros((h, w, 3), np.float32)
    for cid in np.unique(label):
        region = label == cid
        tex = (
            D.background(rng, h, w, D.random_colour(rng), amplitude=40.0)
            if cid == 0 else ade_texture(int(cid), rng, h, w))
        img[region] = tex[region]
    return D.to_uint8(img), label


def make_ade20k(root, num_train=16, num_val=8, img_size=96, num_classes=150, seed=0, verbose=False):
    """Write ``root/ADEChallengeData2016/{images,annotations}/{training,validation}/``.

    Labels are real ADE20K ids (1..150, 0 = other) from the ``ADE_CLASSES`` subset with
    ``id <= num_classes``, so a head with ``num_classes`` outputs and ``reduce_zero_label=True``
    (fixed in mmseg's ``ADE20KDataset``) covers them. ``img_size`` is an int or (height, width).
    """
    stuff = [c for c in ADE_STUFF if c <= num_classes]
    things = [c for c in ADE_THINGS if c <= num_classes]
    if not 2 <= num_classes <= 150 or len(stuff) < 2:
        raise ValueError(f'num_classes must be in [2, 150], got {num_classes}')
    params = dict(
        num_train=num_train,
        num_val=num_val,
        img_size=list(_as_hw(img_size)),
        num_classes=num_classes,
        seed=seed)
    root = Path(root)
    base = root / 'ADEChallengeData2016'
    owned = ('ADEChallengeData2016', )
    summary = _store.completed_summary(root, 'ade20k', params,
                                       lambda: _store.count_files(root, owned))
    if summary is None:
        _store.start(root, 'ade20k', params, owned)
        present = set()
        for split, prefix, split_id, count in (('training', 'ADE_train', TRAIN, num_train),
                                               ('validation', 'ADE_val', VAL, num_val)):
            progress = _store.ProgressPrinter(f'ade20k {split}', count, verbose)
            for sub in ('images', 'annotations'):
                (base / sub / split).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                img, label = render_ade_image(
                    D.image_rng(seed, split_id, i), _as_hw(img_size), stuff, things)
                name = f'{prefix}_{i + 1:08d}'
                _store.save_jpeg(img, base / 'images' / split / f'{name}.jpg')
                _store.save_label_png(label, base / 'annotations' / split / f'{name}.png')
                present.update(int(v) for v in np.unique(label))
                progress(i + 1)
        summary = dict(
            num_train=num_train,
            num_val=num_val,
            num_classes=num_classes,
            label_ids=sorted(stuff + things),
            label_ids_present=sorted(present),
            class_names={str(c): ADE_CLASSES[c][0]
                         for c in sorted(stuff + things)})
        _store.finish(root, 'ade20k', params, summary, _store.count_files(root, owned))
    return dict(
        summary,
        data_root=str(base),
        train_img_dir=str(base / 'images' / 'training'),
        train_ann_dir=str(base / 'annotations' / 'training'),
        val_img_dir=str(base / 'images' / 'validation'),
        val_ann_dir=str(base / 'annotations' / 'validation'))
