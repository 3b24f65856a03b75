"""Which scanned pretraining run wrote the checkpoint a downstream run started from.

The checkpoint is the one its run record names (``init``); the pretraining run is the one that
saved its checkpoints in that checkpoint's folder: records keep the absolute work dir and
checkpoint folder on the machine that trained, so work dirs copied from a cluster still match; a
work dir found here also owns the files lying in it. Folder names are never compared.
"""
import os.path as osp
from typing import Dict, Optional, Set, Tuple

from ..utils.checkpoint import read_meta
from .record import Run, cfg_get


def launch_folder(run: Run) -> Optional[str]:
    """The folder the run was started in (relative paths of its config are relative to it)."""
    return next((x['cwd'] for x in run.record.get('launches', []) if x.get('cwd')), None)


def _folders(*paths) -> Set[str]:
    out = {osp.normpath(p) for p in paths if p}
    return out | {osp.realpath(p) for p in out if osp.isdir(p)}


def checkpoint_folders(path: str, launch: Optional[str]) -> Set[str]:
    """Absolute forms of a checkpoint's folder: as written when absolute, else under the folder
    the run was launched in (empty when that is unknown)."""
    folder = osp.dirname(path)
    if not osp.isabs(folder):
        if launch is None:
            return set()
        folder = osp.join(launch, folder)
    return _folders(folder)


def saved_folders(run: Run) -> Set[str]:
    """Where a run wrote its checkpoints: the folders its record names, and its work dir here."""
    rec = run.record
    return _folders(rec.get('work_dir'), rec.get('checkpoint_dir'), osp.abspath(run.path))


def link_checkpoint(ckpt: str, launch: Optional[str],
                    pretrain: Dict[str, Set[str]]) -> Tuple[Optional[str], Optional[str]]:
    """(the pretraining work dir that wrote ``ckpt``, None) or (None, why none when that is
    worth saying). ``pretrain``: each pretraining work dir -> its :func:`saved_folders`."""
    folders = checkpoint_folders(ckpt, launch)
    if not folders:
        return None, (f'relative checkpoint path {ckpt!r} not resolved: the folder the run was '
                      'started in is unknown (no launch "cwd" in its run record)')
    owners = sorted(wd for wd, saved in pretrain.items() if folders & saved)
    if len(owners) > 1:
        return None, f'checkpoint {ckpt} is in the checkpoint folder of several runs: {owners}'
    return (owners[0] if owners else None), None


def converted_from(ckpt: str, meta: Optional[dict], launch: Optional[str]) -> Optional[str]:
    """``meta['converted_from']`` (written by ``tools/model_converters/*``: the file it was
    converted from) of the recorded meta, else of the file when it is here (meta only: the
    tensors are memory-mapped, not read)."""
    if meta is None:
        paths = [osp.join(launch, ckpt)] if launch and not osp.isabs(ckpt) else []
        path = next((p for p in paths + [osp.abspath(ckpt)] if osp.isfile(p)), None)
        try:
            meta = read_meta(path)[0] if path else None
        except Exception:  # not a checkpoint: nothing to link
            meta = None
    src = cfg_get(meta, 'converted_from')
    return str(src) if src else None


def link_converted(src: str, pretrain: Dict[str, Set[str]],
                   files: Dict[str, Set[str]]) -> Tuple[Optional[str], Optional[str]]:
    """(the pretraining work dir that wrote ``src``, None) or (None, why not); ``src`` is the
    ``converted_from`` of a converted checkpoint. An absolute ``src`` is linked by its folder
    like any checkpoint; a bare name only when exactly one scanned run holds a file of that
    name (``files``: work dir -> its ``*.pth`` names), since every run has an ``epoch_N.pth``."""
    if osp.isabs(src):
        folders = _folders(osp.dirname(src))
        owners = sorted(wd for wd, saved in pretrain.items() if folders & saved)
    else:
        owners = sorted(wd for wd, names in files.items() if osp.basename(src) in names)
    if len(owners) > 1:
        return None, (f'converted from {src!r}: several scanned runs hold such a file '
                      f'{owners}; not linked')
    return (owners[0] if owners else None), None


def find_owner(ckpt: str, meta: Optional[dict], launch: Optional[str], pretrain: Dict[str,
                                                                                      Set[str]],
               files: Dict[str, Set[str]]) -> Tuple[Optional[str], Optional[str]]:
    """(the pretraining work dir that wrote ``ckpt``, or the file it was converted from; or
    None, why none when that is worth saying)."""
    owner, why_not = link_checkpoint(ckpt, launch, pretrain)
    src = converted_from(ckpt, meta, launch) if owner is None and why_not is None else None
    return link_converted(src, pretrain, files) if src else (owner, why_not)
