"""Fixtures for the tool tests: a tiny ImageNet-style folder of JPEGs.

Deliberately minimal (two class folders of random 32x32 images); the real
synthetic data sets live in ``dbot_mm.datasets``.
"""
import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope='session')
def tiny_image_folder(tmp_path_factory):
    """``root/class_{0,1}/img_{i}.jpg``: 8 random 32x32 RGB images a class."""
    root = tmp_path_factory.mktemp('tiny_imagenet')
    rng = np.random.default_rng(0)
    for label in range(2):
        folder = root / f'class_{label}'
        folder.mkdir()
        for i in range(8):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f'img_{i}.jpg')
    return root
