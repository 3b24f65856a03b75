# Copyright (c) dbot_mm contributors. All rights reserved.
"""Utilities that are not models: checkpoint I/O (``dbot_mm.utils.checkpoint``) and the launch
glue of ``tools/train.py`` / ``tools/test.py`` (``dbot_mm.utils.launch``, not imported here)."""
from .checkpoint import (
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
