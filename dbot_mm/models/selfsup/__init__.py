from .dbot import DBOT, random_masking

__all__ = ['DBOT', 'random_masking']
