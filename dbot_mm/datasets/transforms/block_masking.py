"""Block-wise masking as the official dBOT ``beit`` branch draws it (masking_generator.py
``MaskingGenerator``, BEiT's), for the CLIP-teacher pretraining pipeline.

mmpretrain 1.2.0's ``BEiTMaskGenerator`` does not serve: it draws a block's corner with
``np.random.randint(0, H - h)``, whose upper bound is excluded (the official ``random.randint``
includes it), so the last row and column of patches are never masked; and it loops until exactly
``num_masking_patches`` are masked, where the official generator stops once 10 tries in a row add
nothing and may mask fewer.
"""
import math
import random

import numpy as np
from mmpretrain.datasets.transforms import BEiTMaskGenerator
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class BlockMaskGenerator(BEiTMaskGenerator):
    """``BEiTMaskGenerator`` (same arguments, ``results['mask']`` an (H, W) int array) with the
    official random calls: Python's ``random`` (seeded per sample by ``SeededDataset``, per
    worker by the DataLoader), inclusive corner bounds, at most ``num_masking_patches``."""

    def _mask(self, mask: np.ndarray, max_mask_patches: int) -> int:
        delta = 0
        for _ in range(10):
            target_area = random.uniform(self.min_num_patches, max_mask_patches)
            aspect_ratio = math.exp(random.uniform(*self.log_aspect_ratio))
            h = int(round(math.sqrt(target_area * aspect_ratio)))
            w = int(round(math.sqrt(target_area / aspect_ratio)))
            if w < self.width and h < self.height:
                top = random.randint(0, self.height - h)
                left = random.randint(0, self.width - w)
                block = mask[top:top + h, left:left + w]
                if 0 < h * w - block.sum() <= max_mask_patches:
                    delta += int((block == 0).sum())
                    block[...] = 1
                if delta > 0:
                    break
        return delta

    def transform(self, results: dict) -> dict:
        mask = np.zeros((self.height, self.width), dtype=int)
        count = 0
        while count < self.num_masking_patches:
            delta = self._mask(mask, min(self.num_masking_patches - count, self.max_num_patches))
            if delta == 0:
                break
            count += delta
        results['mask'] = mask
        return results
