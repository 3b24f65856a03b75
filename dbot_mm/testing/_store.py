"""Writing a synthetic dataset safely: skip when complete, redo when partial, keep real data.

Each generated root holds a marker file. It says ``complete: false`` while files are being written
and records the parameters and the summary once everything is on disk, so a later call with the
same parameters returns at once and an interrupted run is detected and rewritten.
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

MARKER = '.dbot_mm_synthetic.json'


def _normalise(obj):
    """JSON round trip so tuples and lists compare equal."""
    return json.loads(json.dumps(obj))


def read_marker(root):
    path = Path(root) / MARKER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_marker(root, record):
    path = Path(root) / MARKER
    tmp = path.with_suffix('.tmp')
    tmp.write_text(json.dumps(record, indent=1) + '\n')
    os.replace(tmp, path)


def completed_summary(root, kind, params, count_files):
    """The stored summary if this exact dataset is already complete on disk, else None."""
    record = read_marker(root)
    if not record or not record.get('complete') or record.get('kind') != kind:
        return None
    if record.get('params') != _normalise(params):
        return None
    if count_files() != record.get('num_files'):
        return None  # files were deleted or added by hand: rewrite
    return record['summary']


def start(root, kind, params, owned):
    """Clear this generator's own (possibly partial) output and mark the root as in progress.

    Refuses to delete anything in a root that holds no marker: that data is not ours.
    """
    root = Path(root)
    existing = [root / p for p in owned if (root / p).exists()]
    record = read_marker(root)
    if existing and record is None:
        raise FileExistsError(f'{root} already holds {[str(p) for p in existing]} but no {MARKER}: '
                              'not a synthetic dataset, refusing to overwrite it')
    if record is not None and record.get('kind') != kind:
        raise FileExistsError(f'{root} holds a synthetic {record.get("kind")} dataset, not {kind}')
    for path in existing:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    root.mkdir(parents=True, exist_ok=True)
    _write_marker(root, dict(kind=kind, params=_normalise(params), complete=False))


def finish(root, kind, params, summary, num_files):
    _write_marker(
        root,
        dict(
            kind=kind,
            params=_normalise(params),
            complete=True,
            num_files=num_files,
            summary=_normalise(summary)))


def count_files(root, subdirs):
    """Number of regular files below the given subdirectories (a cheap completeness check)."""
    total = 0
    for sub in subdirs:
        for _, _, files in os.walk(Path(root) / sub):
            total += len(files)
    return total


def save_jpeg(img, path, quality=92):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(img)).save(path, format='JPEG', quality=quality)


def save_label_png(label, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(label.astype(np.uint8))).save(path, format='PNG')


class ProgressPrinter:
    """Prints ``[name] done/total`` about ten times per split when verbose; silent otherwise."""

    def __init__(self, name, total, verbose):
        self.name, self.total, self.verbose = name, total, verbose
        self.step = max(1, total // 10)

    def __call__(self, done):
        if self.verbose and (done % self.step == 0 or done == self.total):
            print(f'[{self.name}] {done}/{self.total}', flush=True)
