"""Write Fashion-MNIST (Debian package ``dataset-fashion-mnist``) as an ImageNet-style folder.

    python tools/dataset_converters/fashion_mnist_to_folder.py data/fashion_mnist \
        --num-train 10000 --num-val 2000

reads the four IDX files the package installs in ``/usr/share/datasets/fashion-mnist`` and writes
``OUT/{train,val}/<class>/<index>.png``: the first NUM_TRAIN training and NUM_VAL test images,
zero-padded from 28 to 32 px (the background is black, so the padding adds no content and a
32 px image splits into 8x8 patches of 4 px). mmpretrain's ``CustomDataset`` reads the folder.
Re-running with the same arguments returns at once (``OUT/.complete`` records them).
"""
import argparse
import gzip
import json
import os
import os.path as osp
import shutil
import struct
import sys

import numpy as np
from PIL import Image

DEFAULT_SOURCE = '/usr/share/datasets/fashion-mnist'
# the classes in label order (github zalandoresearch/fashion-mnist README), as folder names
CLASSES = ('0_tshirt-top', '1_trouser', '2_pullover', '3_dress', '4_coat', '5_sandal', '6_shirt',
           '7_sneaker', '8_bag', '9_ankle-boot')
FILES = {
    'train': ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
    'val': ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'),
}


def read_idx(path: str, expect_ndim: int) -> np.ndarray:
    """An IDX file (magic 0x0803 images / 0x0801 labels, big-endian sizes) as uint8."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: not found; install the Debian package dataset-fashion-mnist '
            '(`make setup` does) or pass --source')
    with gzip.open(path, 'rb') as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack('>HBB', data[:4])
    if zero != 0 or dtype != 0x08 or ndim != expect_ndim:
        raise ValueError(f'{path}: not a uint8 IDX file with {expect_ndim} dims '
                         f'(header {data[:4].hex()})')
    shape = struct.unpack(f'>{ndim}I', data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f'{path}: {body.size} bytes of data for shape {shape}')
    return body.reshape(shape)


def write_split(out: str, split: str, source: str, num: int, pad: int) -> None:
    images = read_idx(osp.join(source, FILES[split][0]), 3)
    labels = read_idx(osp.join(source, FILES[split][1]), 1)
    if num > len(images):
        raise ValueError(f'--num-{split} {num}: the {split} file has only {len(images)} images')
    for name in CLASSES:
        os.makedirs(osp.join(out, split, name), exist_ok=True)
    for i in range(num):
        img = np.pad(images[i], pad) if pad else images[i]
        Image.fromarray(img).save(osp.join(out, split, CLASSES[labels[i]], f'{i:05d}.png'))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output folder, e.g. data/fashion_mnist')
    parser.add_argument('--source', default=DEFAULT_SOURCE, help='folder of the IDX .gz files')
    parser.add_argument('--num-train', type=int, default=10000)
    parser.add_argument('--num-val', type=int, default=2000)
    parser.add_argument('--pad', type=int, default=2, help='zero padding per side (28 -> 32 px)')
    args = parser.parse_args(argv)
    record = dict(num_train=args.num_train, num_val=args.num_val, pad=args.pad)
    marker = osp.join(args.out, '.complete')
    if osp.isfile(marker):
        with open(marker) as f:
            if json.load(f) == record:
                print(f'{args.out}: already written ({record})')
                return
    for split in FILES:  # a partial or different folder is rewritten
        shutil.rmtree(osp.join(args.out, split), ignore_errors=True)
    try:
        for split in FILES:
            write_split(args.out, split, args.source, getattr(args, f'num_{split}'), args.pad)
    except (OSError, ValueError) as e:
        sys.exit(f'fashion_mnist_to_folder: {e}')
    with open(marker, 'w') as f:
        json.dump(record, f)
    print(f'{args.out}: wrote {args.num_train} train / {args.num_val} val images ({record})')


if __name__ == '__main__':
    main()
