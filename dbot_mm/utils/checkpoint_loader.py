# Copyright (c) dbot_mm contributors. All rights reserved.
"""Read a checkpoint from a path or an http(s) URL, never unpickling code.

:class:`SafeCheckpointLoader` is mmengine's ``CheckpointLoader`` (its scheme registry,
``register_scheme`` and ``load_checkpoint``) with its own table of loaders. mmengine's registered
loaders do not serve here: its http(s) loader goes through ``torch.hub.load_state_dict_from_url``,
which unpickles with ``weights_only=False`` (a downloaded file can run code), caches by file name
only (two URLs ending in ``model.pth`` share one cache entry) and keeps whatever the server sent
(an HTML error page stays cached); its local loader raises torch's errors, which do not name the
file. Both loaders here read with :func:`~dbot_mm.utils.checkpoint_safety.load_checkpoint_file`.
Other schemes (``s3://``...) can be added with ``SafeCheckpointLoader.register_scheme``.
"""
import hashlib
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Callable, Dict
from urllib.parse import urlparse

import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint_safety import CheckpointReadError, load_checkpoint_file, unreadable_reason


class SafeCheckpointLoader(CheckpointLoader):
    """mmengine's scheme dispatch over loaders that read with ``weights_only=True``."""

    _schemes: Dict[str, Callable] = OrderedDict()


def url_cache_path(url: str) -> str:
    """Where ``url`` is cached: ``<torch hub dir>/checkpoints/dbot_mm/<sha256(url)[:16]>/<name>``.

    Keyed by the whole URL (query included), so two URLs with the same file name never share an
    entry; the file keeps its name for people browsing the cache.
    """
    name = osp.basename(urlparse(url).path) or 'checkpoint.pth'
    digest = hashlib.sha256(url.encode('utf-8')).hexdigest()[:16]
    return osp.join(torch.hub.get_dir(), 'checkpoints', 'dbot_mm', digest, name)


def _download(url: str, path: str) -> None:
    """Download ``url`` to ``path``; a download that is not a checkpoint is not kept."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    try:
        # writes a temporary file next to ``path`` and moves it there when complete
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
def load_from_file(filename: str, map_location: Any = None) -> Any:
    """A local file (``~`` expanded)."""
    return load_checkpoint_file(osp.expanduser(filename), map_location=map_location)


@SafeCheckpointLoader.register_scheme(prefixes=('http://', 'https://'))
def load_from_url(filename: str, map_location: Any = None) -> Any:
    """An http(s) URL, through :func:`cached_download`. A cached copy that does not load (cut
    short, damaged) is removed so that the next attempt downloads it again."""
    path = cached_download(filename)
    try:
        return load_checkpoint_file(path, map_location=map_location)
    except CheckpointReadError as err:
        os.remove(path)
        raise CheckpointReadError(
            f"checkpoint downloaded from '{filename}' does not load ({err}); removed it from "
            'the cache, the next attempt downloads it again') from None


def load_checkpoint(filename: Any, map_location: Any = 'cpu', logger: Any = 'current') -> Any:
    """Load a checkpoint from a path or http(s) URL with ``weights_only=True``.

    Raises:
        FileNotFoundError: a local file that does not exist.
        CheckpointReadError: empty, truncated or HTML file; failed download.
        UnsafeCheckpointError: the file holds globals that are not allowlisted.
    """
    return SafeCheckpointLoader.load_checkpoint(
        os.fspath(filename), map_location=map_location, logger=logger)
