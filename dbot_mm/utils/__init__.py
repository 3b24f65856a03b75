# Copyright (c) dbot_mm contributors. All rights reserved.
"""Utilities that are not models: safe checkpoint loading, tool launch glue.

``dbot_mm.utils.launch`` (used by ``tools/train.py`` and ``tools/test.py``) is
not imported here: it pulls in mmengine's Runner, which library users do not
need.
"""
from .checkpoint_safety import (UnsafeCheckpointError, checkpoint_safe_globals,
                                load_checkpoint_file,
                                register_checkpoint_safe_globals)

__all__ = [
    'UnsafeCheckpointError', 'checkpoint_safe_globals', 'load_checkpoint_file',
    'register_checkpoint_safe_globals'
]
