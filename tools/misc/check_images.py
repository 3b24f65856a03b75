# Copyright (c) dbot_mm contributors. All rights reserved.
"""List the image files of a folder that a pretraining run could not use.

    python tools/misc/check_images.py FOLDER [--min-size 32] [--workers 8] [--out bad_files.txt]

Scans the files ``ImageFolder`` reads (same extensions, nested folders) in parallel and decodes
each one in full with OpenCV, the decoder of ``LoadImageFromFile`` (Pillow names what is wrong
with a file it rejects). Prints one line per bad file (zero-byte, not an image, truncated or
unreadable, smaller than ``--min-size`` px on a side) and exits 1 if there is any; files of other
extensions are counted (the dataset does not read them). ``--out`` writes the bad files' paths
relative to FOLDER, one per line (``.txt``) or with the reasons (``.json``), the list that
``ImageFolder(exclude_file=...)`` skips.
"""
import argparse
import json
import os
import sys
import time
from functools import partial

import cv2
import numpy as np
from mmengine.utils import track_parallel_progress, track_progress
from mmpretrain.datasets.custom import get_samples
from PIL import Image

from dbot_mm.datasets import ImageFolder
from dbot_mm.utils.data_root import DataRootError


def problem(path: str, min_size: int = 0):
    """Why ``path`` cannot be trained on, or None."""
    with open(path, 'rb') as f:
        data = f.read()
    if not data:
        return 'zero-byte file'
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        try:
            with Image.open(path) as im:
                im.load()
            return 'OpenCV cannot decode it'
        except Image.UnidentifiedImageError:
            return 'not an image'
        except Exception as err:
            kind = 'truncated' if 'truncated' in str(err).lower() else 'unreadable'
            return f'{kind} ({type(err).__name__}: {err})'
    if min(img.shape[:2]) < min_size:
        return f'{img.shape[1]}x{img.shape[0]} px, below --min-size {min_size}'
    return None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='List the bad image files of a folder')
    parser.add_argument('folder', help='the folder a config reads (data_root)')
    parser.add_argument('--min-size', type=int, default=0, help='smallest side allowed, px')
    parser.add_argument('--workers', type=int, default=os.cpu_count(), help='processes')
    parser.add_argument('--out', help='write the bad files: .txt (paths) or .json (with reasons)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        dataset = ImageFolder(data_root=args.folder)
    except DataRootError as err:
        sys.exit(f'check_images.py: error: {err}')
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    others, _ = get_samples(dataset.img_prefix, None, lambda f: not dataset.is_valid_file(f))
    check = partial(problem, min_size=args.min_size)
    start = time.time()
    if args.workers > 1:
        chunk = max(1, min(256, len(paths) // (args.workers * 8)))
        found = track_parallel_progress(check, paths, args.workers, chunksize=chunk)
    else:
        found = track_progress(check, paths)
    seconds = time.time() - start
    bad = {os.path.relpath(p, args.folder): why for p, why in zip(paths, found) if why}
    for path, why in bad.items():
        print(f'{path}: {why}')
    print(f'{len(bad)} bad of {len(paths)} image files in {args.folder} ({seconds:.1f} s, '
          f'{len(paths) / seconds:.0f} images/s, {args.workers} workers); {len(others)} files '
          f"of other extensions not read{': ' + ', '.join(others[:3]) if others else ''}")
    if args.out:
        with open(args.out, 'w') as f:
            text = json.dumps(bad, indent=1) if args.out.endswith('.json') else '\n'.join(bad)
            f.write(text + '\n')
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
