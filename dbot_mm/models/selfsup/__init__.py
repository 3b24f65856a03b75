from .dbot import DBOT, random_masking

__all__ = ['DBOT', 'random_masking']
from .dbot_clip import DBOTCLIP  # noqa: E402
from .dbot_distill import DBOTDistill  # noqa: E402

__all__ += ['DBOTCLIP', 'DBOTDistill']
