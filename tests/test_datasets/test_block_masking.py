"""BlockMaskGenerator draws the official dBOT ``beit`` branch's block masks
(masking_generator.py ``MaskingGenerator``, commit cb3af22), restated below from that file."""
import math
import random

import numpy as np
import pytest
from mmpretrain.datasets.transforms import BEiTMaskGenerator
from mmpretrain.registry import TRANSFORMS

import dbot_mm  # noqa: F401
from dbot_mm.engine.data import SeededDataset

# the CLIP pretraining configs: --num_mask_patches 78, --min_mask_patches_per_block 16, 14x14
# (ViT-B/L at 224 px) and 16x16 (ViT-H/14) windows
SETTINGS = dict(num_masking_patches=78, min_num_patches=16, max_num_patches=None)
DRAWS = 2000


def official_mask(size, num_masking_patches, min_num_patches, max_num_patches, min_aspect=0.3):
    """masking_generator.py ``MaskingGenerator.__call__`` and ``_mask``, line by line."""
    height = width = size
    max_num_patches = num_masking_patches if max_num_patches is None else max_num_patches
    log_aspect_ratio = (math.log(min_aspect), math.log(1 / min_aspect))
    mask = np.zeros((height, width), dtype=int)

    def _mask(max_mask_patches):
        delta = 0
        for attempt in range(10):
            target_area = random.uniform(min_num_patches, max_mask_patches)
            aspect_ratio = math.exp(random.uniform(*log_aspect_ratio))
            h = int(round(math.sqrt(target_area * aspect_ratio)))
            w = int(round(math.sqrt(target_area / aspect_ratio)))
            if w < width and h < height:
                top = random.randint(0, height - h)
                left = random.randint(0, width - w)
                num_masked = mask[top:top + h, left:left + w].sum()
                if 0 < h * w - num_masked <= max_mask_patches:
                    for i in range(top, top + h):
                        for j in range(left, left + w):
                            if mask[i, j] == 0:
                                mask[i, j] = 1
                                delta += 1
            if delta > 0:
                break
        return delta

    mask_count = 0
    while mask_count < num_masking_patches:
        max_mask_patches = min(num_masking_patches - mask_count, max_num_patches)
        delta = _mask(max_mask_patches)
        if delta == 0:
            break
        mask_count += delta
    return mask


def draw(size, seed, n=DRAWS, generator=None):
    random.seed(seed)
    if generator is None:
        return np.stack([official_mask(size, **SETTINGS) for _ in range(n)])
    return np.stack([generator({})['mask'] for _ in range(n)])


def build(size):
    return TRANSFORMS.build(dict(type='BlockMaskGenerator', input_size=size, **SETTINGS))


@pytest.mark.parametrize('size', [14, 16])
def test_bit_equal_to_the_official_algorithm_on_the_same_random_state(size):
    ours = draw(size, seed=3, n=300, generator=build(size))
    theirs = draw(size, seed=3, n=300)
    assert ours.shape == (300, size, size) and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize('size', [14, 16])
def test_frequencies_and_counts_match_the_official_within_sampling_error(size):
    """Independent streams: per-position frequencies and the count distribution agree within
    5 standard errors; every position is masked, the last row and column included."""
    ours = draw(size, seed=0, generator=build(size))
    official = draw(size, seed=1)
    f_ours, f_official = ours.mean(0), official.mean(0)
    assert f_ours.min() > 0 and f_ours[-1].min() > 0 and f_ours[:, -1].min() > 0
    p = (f_ours + f_official) / 2
    se = np.sqrt(2 * p * (1 - p) / DRAWS)
    assert np.all(np.abs(f_ours - f_official) < 5 * se + 1e-12)
    counts = [m.reshape(DRAWS, -1).sum(1) for m in (ours, official)]
    assert max(c.max() for c in counts) == 78  # never more than asked
    short = [np.mean(c < 78) for c in counts]  # the official gives up after 10 empty tries
    assert min(short) > 0.1
    q = sum(short) / 2
    assert abs(short[0] - short[1]) < 5 * math.sqrt(2 * q * (1 - q) / DRAWS)
    sd = math.sqrt((counts[0].var() + counts[1].var()) / DRAWS)
    assert abs(counts[0].mean() - counts[1].mean()) < 5 * sd


def test_mmpretrain_generator_never_masks_the_last_row_or_column():
    """Why BlockMaskGenerator exists (mmpretrain 1.2.0: np.random.randint excludes H - h)."""
    np.random.seed(0)
    gen = BEiTMaskGenerator(input_size=14, **SETTINGS)
    freq = np.stack([gen({})['mask'] for _ in range(500)]).mean(0)
    assert freq[-1].max() == 0 and freq[:, -1].max() == 0


class _Masks:
    """A dataset whose samples are masks."""

    def __init__(self):
        self.gen = build(14)

    def __len__(self):
        return 4

    def __getitem__(self, index):
        return self.gen({})['mask']


def test_deterministic_under_the_seeded_pipeline():
    dataset = SeededDataset(_Masks())
    random.seed(123)
    state = random.getstate()
    a, b, c = dataset[(0, 7)], dataset[(0, 7)], dataset[(0, 8)]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert random.getstate() == state  # the process's own stream is left as it was
