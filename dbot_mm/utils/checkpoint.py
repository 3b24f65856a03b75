# Copyright (c) dbot_mm contributors. All rights reserved.
"""Checkpoint I/O: read with ``torch.load(weights_only=True)`` only (mmengine's checkpoints, the
official MAE / dBOT files, paths and URLs), write atomically, pick the checkpoint to resume from.
docs/checkpoint_safety.md explains what is allowlisted and why.
"""
import argparse
import contextlib
import glob
import hashlib
import os
import os.path as osp
import pickle
import re
import sys
import zipfile
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple, Union
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint references code or classes outside the allowlist."""


class CheckpointReadError(RuntimeError):
    """A checkpoint file cannot be read: empty, truncated, an HTML page, not a torch file."""


# ----------------------------------------------------------------------------- safe globals
_REFUSED = 'dbot_mm refused'  # marks our own refusals inside torch's error message
_STATISTICS = ('min', 'max', 'current', 'mean')  # the methods HistoryBuffer registers
_BUFFER_DATA = {'_log_history': np.ndarray, '_count_history': np.ndarray, 'max_length': int}
_NUMPY_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                 np.uint64, np.float16, np.float32, np.float64)
_registered = False


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f'{_REFUSED} {what}')


class _HistoryBufferFromFile(HistoryBuffer):
    """What a checkpoint's ``HistoryBuffer`` unpickles to: a plain ``HistoryBuffer`` with the
    file's logged values. mmengine's own ``__setstate__`` copies the file's statistics methods
    into the class (a file mapping ``'mean'`` to ``max`` would turn every logged mean into a max).
    """

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise _refuse(f'HistoryBuffer state of type {type(state).__name__} (expected a dict)')
        state = dict(state)
        methods = state.pop('statistics_methods', {})
        unknown = sorted(set(state) - set(_BUFFER_DATA))
        if unknown:
            raise _refuse(f'HistoryBuffer state keys {unknown} (a buffer holds only '
                          f'{sorted(_BUFFER_DATA)})')
        for key, value in state.items():
            if not isinstance(value, _BUFFER_DATA[key]):
                raise _refuse(f'HistoryBuffer.{key} of type {type(value).__name__}')
        if not isinstance(methods, dict):
            raise _refuse('HistoryBuffer statistics_methods that is not a dict')
        for name, method in methods.items():
            if name not in _STATISTICS or method is not getattr(HistoryBuffer, name):
                shown = getattr(method, '__qualname__', type(method).__name__)
                raise _refuse(f"HistoryBuffer statistics_methods['{name}'] = {shown} (only "
                              'each built-in statistic mapped to itself is accepted)')
        self.__class__ = HistoryBuffer
        self._set_default_statistics()
        self.__dict__.update(state)


def _history_buffer_method(owner: Any, name: str) -> Callable:
    """The ``getattr(HistoryBuffer, 'mean')`` that pickle writes for the pickled statistics
    methods, and nothing more (the real ``getattr`` would reach any attribute of any global)."""
    if owner not in (HistoryBuffer, _HistoryBufferFromFile) or name not in _STATISTICS:
        owner_name = getattr(owner, '__qualname__', type(owner).__name__)
        owner_name = 'HistoryBuffer' if owner is _HistoryBufferFromFile else owner_name
        raise _refuse(f'getattr({owner_name}.{name}): only the statistics methods of '
                      'HistoryBuffer may be looked up')
    return getattr(HistoryBuffer, name)


def checkpoint_safe_globals() -> list:
    """The globals beyond torch's defaults that mmengine's and the official checkpoints need:
    the message hub's buffers, numpy arrays and scalars (also under their numpy-1 names) and the
    official files' ``args`` (``argparse.Namespace``)."""
    multiarray = (np._core if hasattr(np, '_core') else np.core).multiarray
    safe = [(_HistoryBufferFromFile, f'{HistoryBuffer.__module__}.{HistoryBuffer.__qualname__}'),
            (_history_buffer_method, 'builtins.getattr'), argparse.Namespace, np.ndarray, np.dtype,
            multiarray._reconstruct, multiarray.scalar]
    safe += [type(np.dtype(t)) for t in _NUMPY_DTYPES]
    for name in ('_reconstruct', 'scalar'):
        for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
            safe.append((getattr(multiarray, name), f'{module}.{name}'))
    return safe


def register_checkpoint_safe_globals() -> None:
    """Allowlist :func:`checkpoint_safe_globals` for every ``weights_only`` load of the process
    (mmengine's ``--resume`` and ``load_from`` included). Idempotent."""
    global _registered
    if not _registered:
        torch.serialization.add_safe_globals(checkpoint_safe_globals())
        _registered = True


# ----------------------------------------------------------------------------------- reading
# How torch's restricted unpickler words a refusal; group 1 names the global.
_REFUSAL_PATTERNS = (r'GLOBAL (\S+) was not an allowed global', r'unsupported GLOBAL (\S+) whose',
                     r'unrecognized function (.+?)(?: which belongs to|$)',
                     r'allowlisted via `add_safe_globals`,? but got (.+)$')
_HTML_MARKERS = (b'<!doctype html', b'<html', b'<head', b'<?xml', b'<body')


def _refused_globals(path: Any, message: str) -> List[str]:
    """The globals that made a ``weights_only`` load refuse a file ([] if none): every one of a
    zip file, else the one torch's message names."""
    match = next(filter(None, (re.search(p, message, re.M) for p in _REFUSAL_PATTERNS)), None)
    if match is None:
        return []
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) file
        found = []
    return sorted(found) or [match.group(1).strip()]


def _first_line(message: str) -> str:
    """The gist of torch's (often multi-line, multi-sentence) message."""
    detail = re.search(r'WeightsUnpickler error:\s*(.+)', message)
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    line = detail.group(1).strip() if detail else (lines[0] if lines else '')
    return re.split(r'(?<=\.) ', line, maxsplit=1)[0]


def unreadable_reason(path: Union[str, os.PathLike]) -> Optional[str]:
    """Why ``path`` cannot be a checkpoint (what failed downloads leave: an empty file, a server's
    HTML page), from its size and first bytes; None if it may be one."""
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(path, 'rb') as f:
        head = f.read(512).lstrip().lower()
    if head.startswith(_HTML_MARKERS) or (head.startswith(b'<') and b'html' in head):
        return (f'it is an HTML page ({size} bytes), not a checkpoint: a failed or '
                'login-page download?')
    return None


def load_checkpoint_file(path: Any, map_location: Any = 'cpu') -> Any:
    """``torch.load(path, weights_only=True)``, always, with one-line errors naming the file.

    Raises:
        FileNotFoundError: the path does not exist.
        UnsafeCheckpointError: the file references globals (or holds a HistoryBuffer state)
            outside the allowlist; they are named.
        CheckpointReadError: an empty, truncated, HTML or otherwise unreadable file.
    """
    register_checkpoint_safe_globals()
    if isinstance(path, (str, os.PathLike)):
        if not osp.isfile(path):
            raise FileNotFoundError(f"checkpoint file '{path}' not found")
        reason = unreadable_reason(path)
        if reason:
            raise CheckpointReadError(f"could not load checkpoint '{path}': {reason}")
    unreadable = f"could not load checkpoint '{path}': it is truncated or not a torch checkpoint"
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        message = str(err)
    except (RuntimeError, EOFError, ValueError, OSError) as err:  # zip reader, legacy reader
        gist = _first_line(str(err))
        raise CheckpointReadError(f'{unreadable} ({type(err).__name__}'
                                  f"{': ' + gist if gist else ''})") from None
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
    raise CheckpointReadError(f'{unreadable} ({_first_line(message)})')


class SafeCheckpointLoader(CheckpointLoader):
    """mmengine's scheme dispatch with its own loaders, all reading with
    :func:`load_checkpoint_file` (mmengine's http(s) loader unpickles with ``weights_only=False``
    and caches by file name)."""

    _schemes: Dict[str, Callable] = OrderedDict()


def url_cache_path(url: str) -> str:
    """``<torch hub dir>/checkpoints/dbot_mm/<sha256(url)[:16]>/<file name>``: one per URL."""
    name = osp.basename(urlparse(url).path) or 'checkpoint.pth'
    digest = hashlib.sha256(url.encode('utf-8')).hexdigest()[:16]
    return osp.join(torch.hub.get_dir(), 'checkpoints', 'dbot_mm', digest, name)


def _download(url: str, path: str) -> None:
    """Download ``url`` to ``path``; a download that is not a checkpoint is not kept."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, path, progress=False)
    except Exception as err:  # noqa: BLE001 - urllib/http errors of any kind, one line
        raise CheckpointReadError(
            f"could not download checkpoint '{url}': {type(err).__name__}: {err}") from None
    reason = unreadable_reason(path)
    if reason:
        os.remove(path)
        raise CheckpointReadError(
            f"downloaded checkpoint '{url}' is unusable: {reason}; nothing was cached")


def cached_download(url: str) -> str:
    """The local copy of ``url``, downloaded once (rank 0 first, as mmengine's ``load_from_http``,
    then the other ranks, which find it on a shared file system)."""
    path = url_cache_path(url)
    rank, world_size = get_dist_info()
    if rank == 0 and not osp.isfile(path):
        _download(url, path)
    if world_size > 1:
        barrier()
        if rank > 0 and not osp.isfile(path):
            _download(url, path)
    return path


@SafeCheckpointLoader.register_scheme(prefixes='')
def _load_from_file(filename: str, map_location: Any = None) -> Any:
    return load_checkpoint_file(osp.expanduser(filename), map_location=map_location)


@SafeCheckpointLoader.register_scheme(prefixes=('http://', 'https://'))
def _load_from_url(filename: str, map_location: Any = None) -> Any:
    """Through :func:`cached_download`; a cached copy that does not load (cut short, damaged) is
    removed so that the next attempt downloads it again."""
    path = cached_download(filename)
    try:
        return load_checkpoint_file(path, map_location=map_location)
    except CheckpointReadError as err:
        os.remove(path)
        raise CheckpointReadError(
            f"checkpoint downloaded from '{filename}' does not load ({err}); removed it from "
            'the cache, the next attempt downloads it again') from None


def load_checkpoint(filename: Any, map_location: Any = 'cpu', logger: Any = 'current') -> Any:
    """A checkpoint from a path or an http(s) URL, read with ``weights_only=True``; raises what
    :func:`load_checkpoint_file` raises, and CheckpointReadError for a failed download."""
    return SafeCheckpointLoader.load_checkpoint(
        os.fspath(filename), map_location=map_location, logger=logger)


# ----------------------------------------------------------------------------------- writing
ATOMIC_BACKEND_ARGS = dict(backend='local_atomic')  # ``backend_args`` of mmengine's save calls
TMP_TAG = '.tmp-'  # in the name of atomic_write's temporary files: ``.NAME.tmp-PID``


def atomic_write(data: Union[bytes, str], path: str) -> None:
    """Write ``data`` to ``path``: afterwards ``path`` is the old file or the whole new one."""
    folder, name = osp.split(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{name}{TMP_TAG}{os.getpid()}')
    try:
        with open(tmp, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # not every file system lets a directory be opened/synced
        pass


@register_backend('local_atomic')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, writing with :func:`atomic_write`."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))


# ---------------------------------------------------------------------------------- resuming
def _peek(path: str) -> dict:
    """A checkpoint with its tensors memory-mapped, not read; raises if the file is incomplete."""
    register_checkpoint_safe_globals()
    ckpt = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    if not isinstance(ckpt, dict):
        raise ValueError('not a checkpoint dict')
    return ckpt


def read_meta(path: str) -> Tuple[dict, bool]:
    """``meta`` of a checkpoint, and whether the runner can resume from it (iteration and
    optimizer state present: not an end-of-stage snapshot or exported weights)."""
    ckpt = _peek(path)
    meta = ckpt.get('meta') if isinstance(ckpt.get('meta'), dict) else {}
    return meta, 'iter' in meta and 'optimizer' in ckpt


def read_state_keys(path: str) -> set:
    """The model keys a checkpoint holds (mmengine's ``module.`` prefix removed)."""
    state = _peek(path)
    return {k[7:] if k.startswith('module.') else k for k in state.get('state_dict', state)}


def _damage(path: str) -> Optional[str]:
    """Why ``path`` does not read back completely (CRC of every member), or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        return f'{type(err).__name__}: {err}'
    return f'member {bad} fails its CRC' if bad else None


def find_resume_checkpoint(work_dir: str) -> Tuple[Optional[str], List[str]]:
    """The newest (by ``meta['iter']``) complete resumable checkpoint in ``work_dir`` or next to
    the one ``last_checkpoint`` names, and a line per damaged one skipped."""
    folders = {osp.abspath(work_dir)}
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named:
            folders.add(osp.dirname(osp.abspath(named)))
    found, skipped = [], []
    for path in sorted({p for d in folders for p in glob.glob(osp.join(glob.escape(d), '*.pth'))}):
        try:
            meta, resumable = read_meta(path)
        except Exception as err:  # truncated, not a zip, unpicklable: unreadable either way
            skipped.append(f'{path} ({type(err).__name__}: {str(err).splitlines()[0][:120]})')
            continue
        if resumable:
            found.append((meta['iter'], osp.getmtime(path), path))
    for _, _, path in sorted(found, reverse=True):
        damage = _damage(path)
        if damage is None:
            return path, skipped
        skipped.append(f'{path} ({damage})')
    return None, skipped


# ------------------------------------------------------------------------------- state dicts
class CheckpointLoadError(RuntimeError):
    """A checkpoint holds no state dict, or none that fits its reader (one-line message)."""


# Everything the readers of checkpoints raise for a bad file, each with a one-line message.
CHECKPOINT_ERRORS = (FileNotFoundError, CheckpointLoadError, CheckpointReadError,
                     UnsafeCheckpointError)
STATE_DICT_KEYS = ('state_dict', 'model', 'module')


def extract_state_dict(checkpoint: object, filename: str = '') -> Dict[str, torch.Tensor]:
    """The tensors of an mmengine checkpoint (``state_dict``), an official MAE/dBOT file
    (``model``) or a plain state dict; a DDP ``module.`` prefix on every key is dropped.

    Not mmengine's ``_load_checkpoint_to_model``: that one only unwraps ``state_dict`` (not the
    official files' ``model``) and loads straight into a model with ``strict=False``, while the
    strict checks of ``load_backbone_checkpoint`` need the tensors first.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointLoadError(
            f"checkpoint '{filename}' holds a {type(checkpoint).__name__}, not a state dict")
    state = next((checkpoint[k] for k in STATE_DICT_KEYS if isinstance(checkpoint.get(k), dict)),
                 checkpoint)
    tensors = OrderedDict((k, v) for k, v in state.items() if isinstance(v, torch.Tensor))
    if not tensors:
        keys = list(map(str, checkpoint))
        more = f', ... (+{len(keys) - 8} more)' if len(keys) > 8 else ''
        raise CheckpointLoadError(f"checkpoint '{filename}' holds no tensors (top-level keys: "
                                  f"{', '.join(keys[:8])}{more})")
    if all(k.startswith('module.') for k in tensors):
        tensors = OrderedDict((k[len('module.'):], v) for k, v in tensors.items())
    return tensors


@contextlib.contextmanager
def exit_on_checkpoint_errors(*extra: type):
    """For a tool's ``main``: a bad checkpoint (or an ``extra`` error) ends the tool with its
    one-line message (``error: ...``, exit status 1) instead of a traceback."""
    try:
        yield
    except CHECKPOINT_ERRORS + extra as e:
        sys.exit(f'error: {e}')
