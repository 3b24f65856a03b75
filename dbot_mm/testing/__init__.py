"""Test and demo helpers, as ``mmdet.testing``: synthetic ImageNet / COCO / ADE20K written in the
real on-disk layouts. Not imported by ``import dbot_mm``: the library registers no dataset."""
from .synthetic import make_ade20k, make_coco, make_imagenet

__all__ = ['make_imagenet', 'make_coco', 'make_ade20k']
