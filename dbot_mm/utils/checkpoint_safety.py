# Copyright (c) dbot_mm contributors. All rights reserved.
"""Load checkpoints with ``torch.load(weights_only=True)`` on torch >= 2.6.

torch >= 2.6 unpickles with a restricted unpickler by default: only tensors,
containers and an allowlist of globals may appear in a file. mmengine 0.10.7
calls ``torch.load`` without ``weights_only``, and its checkpoints hold a few
more globals (the message hub's ``HistoryBuffer`` objects, which keep numpy
arrays and scalars), so resuming fails there.

Instead of switching the whole process back to full unpickling (which lets any
downloaded ``.pth`` run code), :func:`register_checkpoint_safe_globals`
allowlists exactly the data-only classes that an mmengine checkpoint needs.
Nothing here can call code: each allowlisted global only rebuilds plain data
(a numpy array or scalar from its bytes, a dtype from its code, a buffer whose
state is a dict of such values); every object inside them is itself unpickled
by the same restricted unpickler.
"""
import pickle
import re
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch

SafeGlobal = Union[Callable, Tuple[Callable, str]]

_REGISTERED = False

# numpy dtypes whose type objects may appear when a numpy array or scalar is
# unpickled (``BUILD`` on a dtype instance needs its class in the allowlist).
_NUMPY_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                 np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                 np.float64)


# The statistics methods HistoryBuffer registers for itself.
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _numpy_core():
    """numpy 2 moved ``numpy.core`` to ``numpy._core``; return the one in use."""
    return np._core if hasattr(np, '_core') else np.core


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """``getattr`` as an mmengine checkpoint may use it, and nothing more.

    ``HistoryBuffer`` pickles its statistics methods (``HistoryBuffer.mean``
    ...), which protocol 2 writes as ``getattr(HistoryBuffer, 'mean')``, and
    its ``__setstate__`` copies them into the class, where
    ``HistoryBuffer.statistics`` later calls them. Allowlisting the real
    ``getattr`` would let a file reach any attribute of any allowlisted
    object and plant it there; this stand-in resolves only the statistics
    methods that ``HistoryBuffer`` itself defines.
    """
    from mmengine.logging import HistoryBuffer

    if owner is not HistoryBuffer or name not in _HISTORY_BUFFER_STATISTICS:
        owner_name = getattr(owner, '__qualname__', type(owner).__name__)
        raise pickle.UnpicklingError(
            f'refused getattr({owner_name}.{name}): only the statistics '
            'methods of HistoryBuffer may be looked up')
    return getattr(HistoryBuffer, name)


def checkpoint_safe_globals() -> List[SafeGlobal]:
    """The globals (beyond torch's defaults) that an mmengine checkpoint needs.

    Found with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on
    checkpoints written by mmengine's Runner (model, AdamW state, LinearLR and
    CosineAnnealingLR schedulers, message hub, AMP loss scaler): the message
    hub's ``HistoryBuffer`` objects (numpy arrays of logged scalars, plus
    their statistics methods via ``getattr``) and numpy scalars in ``meta``.
    numpy's reconstructors are also registered under their numpy-1 names
    (``numpy.core.multiarray.*``) so that files written before numpy 2 load.
    """
    from mmengine.logging import HistoryBuffer

    multiarray = _numpy_core().multiarray
    safe: List[SafeGlobal] = [
        HistoryBuffer,
        (_history_buffer_method, 'builtins.getattr'),
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

    Idempotent; called when ``dbot_mm`` is imported so that mmengine's own
    ``torch.load`` calls (``--resume``, ``load_from``) work on torch >= 2.6.
    """
    global _REGISTERED
    if _REGISTERED or not hasattr(torch.serialization, 'add_safe_globals'):
        return  # torch < 2.4 has no allowlist (and defaults to full pickle)
    torch.serialization.add_safe_globals(checkpoint_safe_globals())
    _REGISTERED = True


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references code or classes outside the allowlist."""


# How torch's restricted unpickler words a refusal; group 1 names the global.
_REFUSAL_PATTERNS = (
    r'GLOBAL (\S+) was not an allowed global',
    r'unsupported GLOBAL (\S+) whose module',
    r'unrecognized function (.+?)(?: which belongs to|$)',
    r'allowlisted via `add_safe_globals`,? but got (.+)$',
    r'refused (getattr\(\S+\))',
)


def _refused_globals(path: Any, message: str) -> List[str]:
    """Name what made a ``weights_only`` load refuse a file ([] if nothing).

    For zip checkpoints every non-allowlisted global is listed (not just the
    first one hit); legacy files and types reached indirectly are read from
    torch's message.
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


def load_checkpoint_file(path: Any, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file with ``weights_only=True``, always.

    Use it for every file a user downloads or passes in: tensors, containers,
    numbers, strings and the mmengine classes of
    :func:`checkpoint_safe_globals` load; anything else (pickled code,
    arbitrary classes) is refused.

    Raises:
        UnsafeCheckpointError: one line naming the file and the global(s) it
            references that are not allowlisted.
        RuntimeError: one line, for a file that is not a readable checkpoint.
    """
    register_checkpoint_safe_globals()
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        message = str(err)
    refused = _refused_globals(path, message)
    if refused:
        raise UnsafeCheckpointError(
            f"refusing to load checkpoint '{path}': it references "
            f"{', '.join(refused)}, not allowlisted for "
            'torch.load(weights_only=True) (only tensors, containers and '
            'mmengine checkpoint data are trusted; convert the file to a plain '
            'state dict, or add the class with torch.serialization.'
            'add_safe_globals if you trust its source)')
    detail = re.search(r'WeightsUnpickler error:\s*(.+)', message)
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    detail = detail.group(1).strip() if detail else lines[0]
    raise RuntimeError(
        f"could not load checkpoint '{path}': {detail}") from None
