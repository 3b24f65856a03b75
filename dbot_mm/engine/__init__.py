"""Hooks, schedulers, optimizer constructors and the seeded sampler/dataset pair, registered in
mmengine's root registries so that mmpretrain, mmdet and mmseg configs all find them."""
from .data import *  # noqa: F401,F403
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
