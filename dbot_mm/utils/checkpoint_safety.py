# Copyright (c) dbot_mm contributors. All rights reserved.
"""Load checkpoints with ``torch.load(weights_only=True)`` on torch >= 2.6.

torch >= 2.6 unpickles with a restricted unpickler by default: only tensors, containers and an
allowlist of globals may appear in a file. mmengine 0.10.7 calls ``torch.load`` without
``weights_only``, and its checkpoints hold a few more globals (the message hub's
``HistoryBuffer`` objects, which keep numpy arrays and scalars), so resuming fails there.

Instead of switching the whole process back to full unpickling (which lets any downloaded
``.pth`` run code), :func:`register_checkpoint_safe_globals` allowlists exactly the data-only
pieces that an mmengine or an official MAE/dBOT checkpoint needs. Each of them only rebuilds
plain data, and every object inside them is itself unpickled by the same restricted unpickler.
``HistoryBuffer`` itself is *not* allowlisted: its ``__setstate__`` copies statistics methods
from the file into the class, shared by every buffer of the process. The file's buffers are
rebuilt by :class:`_HistoryBufferFromFile`, which takes the logged values only.
docs/checkpoint_safety.md explains the choices.
"""
import argparse
import os
import os.path as osp
import pickle
import re
from typing import Any, Callable, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

SafeGlobal = Union[Callable, Tuple[Callable, str]]

_REGISTERED = False

# numpy dtypes whose type objects may appear when a numpy array or scalar is unpickled
# (``BUILD`` on a dtype instance needs its class in the allowlist).
_NUMPY_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                 np.uint64, np.float16, np.float32, np.float64)

# The statistics methods HistoryBuffer registers for itself.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')
# What HistoryBuffer.__getstate__ writes: its data, and the class-level statistics methods.
_HISTORY_BUFFER_DATA = {'_log_history': np.ndarray, '_count_history': np.ndarray, 'max_length': int}
_HISTORY_BUFFER_NAME = f'{HistoryBuffer.__module__}.{HistoryBuffer.__qualname__}'
# Marks our own refusals inside torch's error message (see _refused_globals).
_REFUSED = 'dbot_mm refused'


def _numpy_core():
    """numpy 2 moved ``numpy.core`` to ``numpy._core``; return the one in use."""
    return np._core if hasattr(np, '_core') else np.core


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f'{_REFUSED} {what}')


class _HistoryBufferFromFile(HistoryBuffer):
    """What a checkpoint's ``HistoryBuffer`` unpickles to: a plain ``HistoryBuffer`` holding
    the file's logged values, never the file's statistics methods.

    mmengine's ``HistoryBuffer.__setstate__`` runs
    ``HistoryBuffer._statistics_methods.update(state['statistics_methods'])``: a class-level
    dict, so a file mapping ``'mean'`` to ``HistoryBuffer.max`` would make every ``mean`` of the
    process (all logged losses) compute a max. This stand-in is allowlisted under
    ``HistoryBuffer``'s pickle name instead of the class; its ``__setstate__`` accepts only the
    data keys, requires ``statistics_methods`` to be what mmengine writes (each name mapped to
    ``HistoryBuffer``'s own method of that name), discards it, and turns the object into a plain
    ``HistoryBuffer``.
    """

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise _refuse(f'HistoryBuffer state of type {type(state).__name__} (expected a dict)')
        state = dict(state)
        methods = state.pop('statistics_methods', {})
        unknown = sorted(set(state) - set(_HISTORY_BUFFER_DATA))
        if unknown:
            raise _refuse(f'HistoryBuffer state keys {unknown} (a buffer holds only '
                          f'{sorted(_HISTORY_BUFFER_DATA)})')
        for key, value in state.items():
            if not isinstance(value, _HISTORY_BUFFER_DATA[key]):
                raise _refuse(f'HistoryBuffer.{key} of type {type(value).__name__}')
        if not isinstance(methods, dict):
            raise _refuse('HistoryBuffer statistics_methods that is not a dict')
        for name, method in methods.items():
            if name not in _HISTORY_BUFFER_STATISTICS or method is not getattr(HistoryBuffer, name):
                shown = getattr(method, '__qualname__', type(method).__name__)
                raise _refuse(f"HistoryBuffer statistics_methods['{name}'] = {shown} (only "
                              "each built-in statistic mapped to itself is accepted)")
        self.__class__ = HistoryBuffer
        self._set_default_statistics()
        self.__dict__.update(state)


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """``getattr`` as an mmengine checkpoint uses it, and nothing more.

    ``HistoryBuffer`` pickles its statistics methods (``HistoryBuffer.mean``...), which pickle
    protocol 2 writes as ``getattr(HistoryBuffer, 'mean')``. Allowlisting the real ``getattr``
    would let a file reach any attribute of any allowlisted object; this stand-in resolves only
    the statistics methods ``HistoryBuffer`` itself defines.
    """
    if owner not in (HistoryBuffer, _HistoryBufferFromFile) or \
            name not in _HISTORY_BUFFER_STATISTICS:
        owner_name = getattr(owner, '__qualname__', type(owner).__name__)
        if owner is _HistoryBufferFromFile:
            owner_name = 'HistoryBuffer'
        raise _refuse(f'getattr({owner_name}.{name}): only the statistics methods of '
                      'HistoryBuffer may be looked up')
    return getattr(HistoryBuffer, name)


def checkpoint_safe_globals() -> List[SafeGlobal]:
    """The globals (beyond torch's defaults) that an mmengine or official checkpoint needs.

    Found with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on checkpoints written by
    mmengine's Runner (model, AdamW state, LinearLR and CosineAnnealingLR schedulers, message hub,
    AMP loss scaler) and on the official MAE / dBOT ``misc.save_model`` layout: the message hub's
    ``HistoryBuffer`` objects (rebuilt by :class:`_HistoryBufferFromFile`; numpy arrays of logged
    scalars, plus their statistics methods via ``getattr``), numpy scalars in ``meta``, and the
    official files' ``args`` (an ``argparse.Namespace``: a plain attribute bag, rebuilt from its
    ``__dict__``). numpy's reconstructors are also registered under their numpy-1 names
    (``numpy.core.multiarray.*``) so that files written before numpy 2 load.
    """
    multiarray = _numpy_core().multiarray
    safe: List[SafeGlobal] = [
        (_HistoryBufferFromFile, _HISTORY_BUFFER_NAME),
        (_history_buffer_method, 'builtins.getattr'),
        argparse.Namespace,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
    ]
    safe += [type(np.dtype(t)) for t in _NUMPY_DTYPES]
    for name in ('_reconstruct', 'scalar'):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            safe.append((getattr(multiarray, name), f'{module}.{name}'))
    return safe


def register_checkpoint_safe_globals() -> None:
    """Allowlist :func:`checkpoint_safe_globals` for ``weights_only`` loads.

    Idempotent; called when ``dbot_mm`` is imported so that mmengine's own ``torch.load`` calls
    (``--resume``, ``load_from``) work on torch >= 2.6.
    """
    global _REGISTERED
    if _REGISTERED or not hasattr(torch.serialization, 'add_safe_globals'):
        return  # torch < 2.4 has no allowlist (and defaults to full pickle)
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
    _REGISTERED = True


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references code or classes outside the allowlist."""


class CheckpointReadError(RuntimeError):
    """A checkpoint file cannot be read: empty, truncated, an HTML page, not a torch file."""


# How torch's restricted unpickler words a refusal; group 1 names the global.
_REFUSAL_PATTERNS = (
    r'GLOBAL (\S+) was not an allowed global',
    r'unsupported GLOBAL (\S+) whose module',
    r'unrecognized function (.+?)(?: which belongs to|$)',
    r'allowlisted via `add_safe_globals`,? but got (.+)$',
)


def _refused_globals(path: Any, message: str) -> List[str]:
    """Name the globals that made a ``weights_only`` load refuse a file ([] if none).

    For zip checkpoints every non-allowlisted global is listed (not just the first one hit);
    legacy files and types reached indirectly are read from torch's message.
    """
    for pattern in _REFUSAL_PATTERNS:
        match = re.search(pattern, message, flags=re.MULTILINE)
        if match:
            break
    else:
        return []
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) file
        found = []
    return sorted(found) or [match.group(1).strip()]


_HTML_MARKERS = (b'<!doctype html', b'<html', b'<head', b'<?xml', b'<body')


def unreadable_reason(path: Union[str, os.PathLike]) -> Optional[str]:
    """Why ``path`` cannot be a checkpoint, from its size and first bytes; None if it may be.

    Catches what failed downloads leave behind: an empty file, or the HTML page (login, error,
    "file too large to scan") a server sent instead of the file.
    """
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(512).lstrip().lower()
    if head.startswith(_HTML_MARKERS) or (head.startswith(b'<') and b'html' in head):
        return (f'it is an HTML page ({size} bytes), not a checkpoint: a failed or '
                'login-page download?')
    return None


def _first_line(message: str) -> str:
    """The gist of torch's (often multi-line, multi-sentence) message."""
    detail = re.search(r'WeightsUnpickler error:\s*(.+)', message)
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    line = detail.group(1).strip() if detail else (lines[0] if lines else '')
    return re.split(r'(?<=\.) ', line, maxsplit=1)[0]


def _describe(err: Exception) -> str:
    gist = _first_line(str(err))
    return f'{type(err).__name__}: {gist}' if gist else type(err).__name__


def load_checkpoint_file(path: Any, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file with ``weights_only=True``, always.

    Use it for every file a user downloads or passes in: tensors, containers, numbers, strings
    and the pieces of :func:`checkpoint_safe_globals` load; anything else (pickled code, arbitrary
    classes, a HistoryBuffer carrying methods) is refused.

    Raises:
        FileNotFoundError: the path does not exist.
        UnsafeCheckpointError: one line naming the file and the global(s) (or the
            HistoryBuffer state) it holds that are not allowlisted.
        CheckpointReadError: one line naming the file, for an empty, truncated, HTML or
            otherwise unreadable file.
    """
    register_checkpoint_safe_globals()
    if isinstance(path, (str, os.PathLike)):
        if not osp.isfile(path):
            raise FileNotFoundError(f"checkpoint file '{path}' not found")
        reason = unreadable_reason(path)
        if reason:
            raise CheckpointReadError(f"could not load checkpoint '{path}': {reason}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        message = str(err)
    except (RuntimeError, EOFError, ValueError, OSError) as err:  # zip reader, legacy reader
        raise CheckpointReadError(
            f"could not load checkpoint '{path}': it is truncated or not a torch checkpoint "
            f'({_describe(err)})') from None
    refused = _refused_globals(path, message)
    if refused:
        raise UnsafeCheckpointError(
            f"refusing to load checkpoint '{path}': it references {', '.join(refused)}, not "
            'allowlisted for torch.load(weights_only=True) (only tensors, containers and '
            'mmengine checkpoint data are trusted; convert the file to a plain state dict, or '
            'add the class with torch.serialization.add_safe_globals if you trust its source)')
    own = re.search(rf'{_REFUSED} (.+)', message)
    if own:
        raise UnsafeCheckpointError(
            f"refusing to load checkpoint '{path}': it holds {own.group(1).strip()}; a "
            'checkpoint may carry data only (see docs/checkpoint_safety.md)')
    raise CheckpointReadError(
        f"could not load checkpoint '{path}': it is truncated or not a torch checkpoint "
        f'({_first_line(message)})')
