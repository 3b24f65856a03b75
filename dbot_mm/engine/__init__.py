"""Hooks, schedulers and optimizer constructors, registered in mmengine's root registries so that
mmpretrain, mmdet and mmseg configs all find them."""
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .schedulers import *  # noqa: F401,F403
