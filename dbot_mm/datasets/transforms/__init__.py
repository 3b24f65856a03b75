"""Fast pretraining transforms, registered in mmpretrain's ``TRANSFORMS``."""
from .fast_crop import LoadImageAndRandomResizedCrop

__all__ = ['LoadImageAndRandomResizedCrop']
