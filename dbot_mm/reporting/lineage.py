"""Which checkpoint a downstream run started from, and which scanned pretraining run wrote it.

The checkpoint comes from the run's own first config (what it really loaded). The pretraining run
is the one that saved its checkpoints in that checkpoint's folder: mmengine's CheckpointHook logs
'Checkpoints will be saved to DIR.' with the absolute path on the machine that trained, so logs
copied from a cluster still match; a work dir found here also owns the files lying in it. Folder
names are never compared.
"""
import os
import os.path as osp
from typing import Dict, Optional, Set, Tuple

from .log_reader import WorkDirLog, cfg_get


def init_checkpoint(log: WorkDirLog) -> Tuple[Optional[str], Optional[str]]:
    """(checkpoint the run started from, its key prefix), from its first session's config.

    ``model.backbone.init_cfg`` (type Pretrained), else ``load_from`` unless that resumes the run
    itself. A top-level ``pretrained = ...`` variable is not read: configs use it only to fill
    ``init_cfg``, and a random-init run (``model.backbone.init_cfg=None``) still carries it.
    """
    cfg = log.first_cfg or log.cfg or {}
    init = cfg_get(cfg, 'model.backbone.init_cfg')
    for c in (init if isinstance(init, list) else [init]):
        if isinstance(c, dict) and c.get('type') == 'Pretrained' and c.get('checkpoint'):
            return str(c['checkpoint']), c.get('prefix')
    load_from = cfg.get('load_from')
    if load_from and not cfg.get('resume'):
        if not checkpoint_folders(str(load_from), log) & saved_folders(log):
            return str(load_from), None
    return None, None


def launch_folder(log: WorkDirLog) -> Optional[str]:
    """The folder the run was started in, on the machine that ran it: its logged (absolute)
    checkpoint folder minus the relative ``work_dir`` of its config."""
    work_dir = cfg_get(log.first_cfg or log.cfg, 'work_dir')
    if not isinstance(work_dir, str) or osp.isabs(work_dir):
        return None
    rel = osp.normpath(work_dir)
    for s in log.sessions:
        saved = osp.normpath(s.checkpoint_dir or '')
        if s.checkpoint_dir and saved.endswith(os.sep + rel):
            return saved[:-len(rel) - 1] or os.sep
    return None


def _with_real(folders: Set[str]) -> Set[str]:
    return folders | {osp.realpath(f) for f in folders if osp.isdir(f)}


def checkpoint_folders(path: str, log: WorkDirLog) -> Set[str]:
    """Absolute forms of the folder of a checkpoint path that ``log``'s config names: as written
    when absolute, else under the run's launch folder (empty when that is unknown)."""
    folder = osp.dirname(path)
    if not osp.isabs(folder):
        launch = launch_folder(log)
        if launch is None:
            return set()
        folder = osp.join(launch, folder)
    return _with_real({osp.normpath(folder)})


def saved_folders(log: WorkDirLog) -> Set[str]:
    """Where a run wrote its checkpoints: the folders its logs name, and its work dir here."""
    folders = {osp.normpath(s.checkpoint_dir) for s in log.sessions if s.checkpoint_dir}
    return _with_real(folders | {osp.abspath(log.path)})


def link_checkpoint(ckpt: str, log: WorkDirLog,
                    pretrain: Dict[str, Set[str]]) -> Tuple[Optional[str], Optional[str]]:
    """(the pretraining work dir that wrote ``ckpt``, None) or (None, why none when that is
    worth saying). ``pretrain`` maps each pretraining work dir to its :func:`saved_folders`."""
    folders = checkpoint_folders(ckpt, log)
    if not folders:
        return None, (f'relative checkpoint path {ckpt!r} not resolved: the folder the run was '
                      "started in is unknown (no 'Checkpoints will be saved to' line in its log "
                      'or no relative work_dir in its config)')
    owners = sorted(wd for wd, saved in pretrain.items() if folders & saved)
    if len(owners) > 1:
        return None, f'checkpoint {ckpt} is in the checkpoint folder of several runs: {owners}'
    return (owners[0] if owners else None), None


# a converted checkpoint is opened only when it is this small or memory-mapped (meta only)
_MAX_READ_BYTES = 256 << 20


def converted_from(ckpt: str, log: WorkDirLog) -> Optional[str]:
    """``meta['converted_from']`` of a checkpoint file that exists here (written by
    ``tools/model_converters/*``: the file it was converted from), else None.

    The file is read with ``torch.load(weights_only=True, mmap=True)`` so only its meta is
    paged in; a legacy (non-zip) file is read whole only when small.
    """
    paths = [ckpt] if osp.isabs(ckpt) else [osp.abspath(ckpt)]
    launch = None if osp.isabs(ckpt) else launch_folder(log)
    if launch:
        paths.insert(0, osp.join(launch, ckpt))
    path = next((p for p in paths if osp.isfile(p)), None)
    if path is None:
        return None
    import torch
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except Exception:
        if osp.getsize(path) > _MAX_READ_BYTES:
            return None
        try:
            obj = torch.load(path, map_location='cpu', weights_only=True)
        except Exception:
            return None
    meta = obj.get('meta') if isinstance(obj, dict) else None
    src = meta.get('converted_from') if isinstance(meta, dict) else None
    return str(src) if src else None


def link_converted(src: str, pretrain: Dict[str, Set[str]],
                   files: Dict[str, Set[str]]) -> Tuple[Optional[str], Optional[str]]:
    """(the pretraining work dir that wrote ``src``, None) or (None, why not); ``src`` is the
    ``converted_from`` of a converted checkpoint. An absolute ``src`` is linked by its folder
    like any checkpoint; a bare name only when exactly one scanned run holds a file of that
    name (``files``: work dir -> its ``*.pth`` names), since every run has an ``epoch_N.pth``."""
    if osp.isabs(src):
        folders = _with_real({osp.normpath(osp.dirname(src))})
        owners = sorted(wd for wd, saved in pretrain.items() if folders & saved)
    else:
        owners = sorted(wd for wd, names in files.items() if osp.basename(src) in names)
    if len(owners) > 1:
        return None, (f"converted from {src!r}: several scanned runs hold such a file "
                      f'{owners}; not linked')
    return (owners[0] if owners else None), None
