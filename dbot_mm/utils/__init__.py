# Copyright (c) dbot_mm contributors. All rights reserved.
"""Utilities that are not models: checkpoint I/O, tool launch glue.

``dbot_mm.utils.launch`` (used by ``tools/train.py`` and ``tools/test.py``) is not imported here.
"""
from .checkpoint import (
    ATOMIC_BACKEND_ARGS,
    CheckpointReadError,
    UnsafeCheckpointError,
    atomic_write,
    cached_download,
    checkpoint_safe_globals,
    find_resume_checkpoint,
    load_checkpoint,
    load_checkpoint_file,
    read_meta,
    read_state_keys,
    register_checkpoint_safe_globals,
    unreadable_reason,
)

__all__ = [
    'ATOMIC_BACKEND_ARGS', 'CheckpointReadError', 'UnsafeCheckpointError', 'atomic_write',
    'cached_download', 'checkpoint_safe_globals', 'find_resume_checkpoint', 'load_checkpoint',
    'load_checkpoint_file', 'read_meta', 'read_state_keys', 'register_checkpoint_safe_globals',
    'unreadable_reason'
]
