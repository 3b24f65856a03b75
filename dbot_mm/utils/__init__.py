# Copyright (c) dbot_mm contributors. All rights reserved.
"""Utilities that are not models: safe checkpoint loading, tool launch glue.

``dbot_mm.utils.launch`` (used by ``tools/train.py`` and ``tools/test.py``) and
``dbot_mm.utils.checkpoint_loader`` (paths and URLs, for pretrained weights and converters) are
not imported here: they pull in mmengine's Runner, which importing dbot_mm does not need.
"""
from .checkpoint_safety import (
    CheckpointReadError,
    UnsafeCheckpointError,
    checkpoint_safe_globals,
    load_checkpoint_file,
    register_checkpoint_safe_globals,
)

__all__ = [
    'CheckpointReadError', 'UnsafeCheckpointError', 'checkpoint_safe_globals',
    'load_checkpoint_file', 'register_checkpoint_safe_globals'
]
