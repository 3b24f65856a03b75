"""SeededDataset(in_memory=True): every image decoded once, and the very samples the file
pipeline gives; a file that does not decode or has another size is a one-line error naming it."""
import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from PIL import Image

from dbot_mm.engine.data import SeededDataset, SeededSampler
from dbot_mm.engine.seeding import seed_all

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=16,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]


def _folder(root, sizes):
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        cls = root / f'class{i % 2}'
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), np.uint8)).save(cls / f'{i:02d}.png')
    return root


def _dataset(root, in_memory):
    init_default_scope('mmpretrain')
    return SeededDataset(
        dict(type='CustomDataset', data_root=str(root), pipeline=PIPELINE), in_memory=in_memory)


def test_in_memory_gives_the_file_pipelines_samples(tmp_path):
    root = _folder(tmp_path / 'data', [(20, 20)] * 8)
    files, memory = _dataset(root, False), _dataset(root, True)
    assert len(memory) == 8 and memory.metainfo == files.metainfo
    sampler = SeededSampler(files, shuffle=True, seed=5)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        for item in sampler:
            a, b = files[item], memory[item]
            assert torch.equal(a['inputs'], b['inputs'])
            assert a['data_samples'].gt_label == b['data_samples'].gt_label
            assert a['data_samples'].img_path == b['data_samples'].img_path
    first = memory[(0, 1)]['inputs'].clone()
    memory[(0, 1)]['inputs'].zero_()  # a sample's tensor is its own: the stored image is intact
    assert torch.equal(memory[(0, 1)]['inputs'], first)


def test_another_size_is_one_line_naming_the_file(tmp_path):
    root = _folder(tmp_path / 'data', [(20, 20), (20, 20), (24, 20)])
    with pytest.raises(
            ValueError,
            match=r"in_memory: .*02\.png decodes to \(24, 20, 3\) uint8, but "
            r'.*00\.png to \(20, 20, 3\) uint8') as info:
        _dataset(root, True)
    assert '\n' not in str(info.value)


def test_an_unreadable_file_is_one_line_naming_it(tmp_path):
    root = _folder(tmp_path / 'data', [(20, 20), (20, 20)])
    (root / 'class1' / '01.png').write_bytes(b'<html>not an image</html>')
    with pytest.raises(ValueError, match=r'in_memory: cannot read .*01\.png') as info:
        _dataset(root, True)
    assert '\n' not in str(info.value)


def test_seeding_without_cuda_draws_the_same_cpu_stream():
    torch.manual_seed(123)
    expected = torch.rand(5)
    seed_all(123, cuda=False)
    assert torch.equal(torch.rand(5), expected)
