"""Pretraining transforms, registered in mmpretrain's ``TRANSFORMS``."""
from .block_masking import BlockMaskGenerator
from .fast_crop import LoadImageAndRandomResizedCrop

__all__ = ['BlockMaskGenerator', 'LoadImageAndRandomResizedCrop']
