from .dbot import DBOT, random_masking
from .dbot_clip import DBOTCLIP

__all__ = ['DBOT', 'DBOTCLIP', 'random_masking']
