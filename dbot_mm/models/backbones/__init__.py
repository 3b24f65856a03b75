from .vit import DBotViT

__all__ = ['DBotViT']
