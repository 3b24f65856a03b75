"""Bad image files in a pretraining folder, through ``tools/train.py`` on the tiny demo config with
``ImageFolder`` + ``BadFilesHook``: a few are logged once each, replaced, counted in the checkpoint
and a run killed mid-epoch resumes bit-exactly; a folder that is half bad stops with one line."""
import re
import runpy
import shutil
import signal
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers.forked_runs import assert_same_state, train_runs
from tests.helpers.tiny_pretrain import tiny_cfg
from tests.test_datasets.test_image_folder import write_bad_files

ROOT = Path(__file__).resolve().parents[2]
STAGES = [0, 1, 2]  # 64 good images, batch 16: 4 iterations an epoch, 8 in all


def _config(tmp_path, folder, name, kill_at=None, num_workers=2, max_fraction=0.2):
    cfg = tiny_cfg(
        tmp_path / name,
        folder,
        stage_epochs=STAGES,
        num_workers=num_workers,
        train_dataloader=dict(batch_size=16))
    inner = cfg.train_dataloader.dataset.dataset
    cfg.train_dataloader.dataset.dataset = dict(
        type='ImageFolder', data_root=str(folder), pipeline=inner.pipeline)
    cfg.default_hooks.bad_files = dict(type='BadFilesHook', max_fraction=max_fraction)
    cfg.default_hooks.logger.interval = 100
    if kill_at is not None:
        cfg.custom_imports.imports.append('tests.helpers.tiny_pretrain')
        cfg.custom_hooks.append(dict(type='FaultInjectionHook', at_iter=kill_at, how='kill'))
    path = tmp_path / f'{name}_{kill_at}.py'
    cfg.dump(str(path))
    return path


def _images(tmp_path, imagenet_root, name) -> Path:
    folder = tmp_path / name
    shutil.copytree(Path(imagenet_root) / 'train', folder)  # class folders: nested, unlabelled
    return folder


def test_bad_files_are_logged_replaced_counted_and_resumed_bit_exactly(tmp_path, imagenet_root):
    folder = _images(tmp_path, imagenet_root, 'images')
    bad = sorted(str(folder / p) for p in write_bad_files(folder))
    clean, killed = tmp_path / 'clean', tmp_path / 'killed'
    runs = [(_config(tmp_path, folder, 'clean'), clean, tmp_path / 'clean.log', []),
            (_config(tmp_path, folder, 'killed', kill_at=6), killed, tmp_path / 'k0.log', []),
            (_config(tmp_path, folder, 'killed'), killed, tmp_path / 'k1.log', ['--resume'])]
    (rc, out, _), (rc_killed, _, _), (rc_resumed, resumed, _) = train_runs(tmp_path, runs)
    assert (rc, rc_killed, rc_resumed) == (0, -signal.SIGKILL, 0), out[-3000:] + resumed[-3000:]
    logged = re.findall(r'bad image file (\S+) \(\w+: [^\n]*\): replaced by another', out)
    assert sorted(logged) == bad, out[-3000:]  # each once, on one line
    assert re.search(r'\d+ of \d+ image loads failed so far \(3 bad files\)', out)
    meta = [
        torch.load(d / 'epoch_2.pth', weights_only=True)['meta']['bad_files']
        for d in (clean, killed)
    ]
    assert meta[0] == meta[1] and sorted(meta[0]['files']) == bad
    assert meta[0]['failed'] >= 6 and meta[0]['loads'] == meta[0]['failed'] + 2 * 64
    final = [torch.load(d / 'epoch_2.pth', weights_only=True) for d in (clean, killed)]
    assert_same_state(
        *[dict(model=c['state_dict'], optimizer=c['optimizer']['state']) for c in final])


def _train_here(monkeypatch, config, work):
    """tools/train.py in this process; its exit message."""
    monkeypatch.setattr(sys, 'argv', ['train.py', str(config), '--work-dir', str(work)])
    handler = signal.getsignal(signal.SIGTERM)  # the run ends before PreemptionHook restores it
    try:
        with pytest.raises(SystemExit) as exit_:
            runpy.run_path(str(ROOT / 'tools' / 'train.py'), run_name='__main__')
    finally:
        signal.signal(signal.SIGTERM, handler)
    return exit_.value.code


def test_half_bad_folder_stops_with_one_line(tmp_path, imagenet_root, monkeypatch):
    folder = _images(tmp_path, imagenet_root, 'half_bad')
    for i, image in enumerate(sorted(folder.rglob('*.JPEG'))):
        if i % 2:
            image.write_text('<html>not found</html>')
    work = tmp_path / 'work'
    config = _config(tmp_path, folder, 'half', num_workers=0, max_fraction=0.001)
    message = _train_here(monkeypatch, config, work)
    assert re.fullmatch(
        r'train.py: \d+ of \d+ image loads failed \(\d+ bad files, logged\), more than '
        r'max_fraction=0.001: list them with tools/misc/check_images.py and exclude them '
        r'\(ImageFolder exclude_file\), or raise default_hooks.bad_files.max_fraction',
        message), message
    assert not list(work.glob('*.pth'))  # stopped at the first iteration


def test_folder_without_images_stops_with_one_line(tmp_path, monkeypatch):
    (tmp_path / 'empty' / 'sub').mkdir(parents=True)
    config = _config(tmp_path, tmp_path / 'empty', 'empty', num_workers=0)
    assert _train_here(monkeypatch, config, tmp_path / 'work') == (
        f"train.py: no images in '{tmp_path}/empty/' or its subfolders: looked for .bmp, .jpeg, "
        '.jpg, .png, .tif, .tiff, .webp (any case)')
