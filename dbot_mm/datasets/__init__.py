"""Synthetic datasets in the real ImageNet / COCO / ADE20K layouts (tests and demos)."""
from .synthetic import (ADE_CLASSES, COCO_SHAPES, IMAGENET_FAMILIES, make_ade20k, make_coco,
                        make_imagenet)

__all__ = ['make_imagenet', 'make_coco', 'make_ade20k', 'IMAGENET_FAMILIES', 'COCO_SHAPES',
           'ADE_CLASSES']
