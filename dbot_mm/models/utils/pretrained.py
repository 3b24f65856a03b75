"""Load pretrained ViT weights loudly: every encoder weight, or a one-line error.

mmengine's ``PretrainedInit`` and mmseg's ``MAE`` backbone load with ``strict=False`` (and mmseg
ignores ``prefix``), so a checkpoint whose keys do not line up loads nothing and training starts
from random weights without a word. :func:`load_backbone_checkpoint`, what ``DBotViT.init_weights``
runs for ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``, reads the file with
:mod:`dbot_mm.utils.checkpoint`, takes the keys under ``prefix``, resizes ``pos_embed`` to the
model's token grid (and relative position bias tables as BEiT does) and refuses, in one line
naming the file, when nothing matches, a shape differs, an encoder weight (``patch_embed.*``,
``cls_token``, ``blocks.N.*``) is missing, or the file holds trained ViT weights the model has no
place for (layer scale, relative position bias, ``pos_embed``, deeper blocks: dropping them
changes the pretrained network) unless ``drop_trained`` allows it. Parameters that only exist
downstream (``fc_norm``, layer scale ``ls*``, ``rel_pos_bias``, a ``norm`` the file lacks,
``pos_embed``: the fixed sin-cos of every dBOT/MAE encoder) and keys outside the ViT (the decoder
of a pretraining file, the final ``norm`` that avg-pool fine-tuning replaces by ``fc_norm``) are
logged as warnings.
"""
import logging
import math
import os
import re
from collections import OrderedDict
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import print_log
from timm.layers import resample_abs_pos_embed

from dbot_mm.utils.checkpoint import CheckpointLoadError, extract_state_dict, load_checkpoint

# Model parameters a pretrained encoder file must provide (anything else is downstream-only).
_ENCODER_PATTERN = re.compile(r'^(patch_embed\.|cls_token$|blocks\.\d+\.)')
# Per-block parameters that are new downstream (layer scale, relative position bias).
_DOWNSTREAM_BLOCK_PATTERN = re.compile(r'^blocks\.\d+\.(ls\d|rel_pos_bias)')
# Trained ViT weights of a file that a model without them would drop (the index is a buffer).
_TRAINED_PATTERN = re.compile(r'^(pos_embed$|rel_pos_bias\.|blocks\.\d+\.)(?!.*_index$)')
_TABLE = 'relative_position_bias_table'
# a key part of such weights -> the DBotViT option that has a place for them
_HINTS = (('.ls', 'layer_scale_init_value > 0'), ('rel_pos_bias', 'use_rel_pos_bias=True'),
          ('pos_embed', 'use_abs_pos_emb=True'))
# Keys of mmengine's PretrainedInit (type, checkpoint, prefix, map_location) and ours.
_PRETRAINED_CFG_KEYS = ('type', 'checkpoint', 'prefix', 'map_location', 'drop_trained')
# Where a dBOT checkpoint keeps each network (``DBOT``: ``backbone`` = student, ``teacher``).
SOURCE_PREFIXES = {'student': 'backbone.', 'teacher': 'teacher.'}


class LoadReport(NamedTuple):
    """What :func:`load_backbone_checkpoint` did: model keys loaded, model keys kept at their
    init (downstream-only), checkpoint keys under the prefix that the model does not have, and
    keys resized to the model's grid."""
    matched: List[str]
    missing: List[str]
    unexpected: List[str]
    resized: List[str]


class PretrainedCfg(NamedTuple):
    """A validated ``init_cfg=dict(type='Pretrained', ...)``."""
    checkpoint: str
    prefix: str
    map_location: Any
    drop_trained: Union[bool, Sequence[str]] = False


def _short_list(keys: Iterable[str], limit: int = 8) -> str:
    keys = list(keys)
    shown = ', '.join(keys[:limit])
    return shown + (f', ... (+{len(keys) - limit} more)' if len(keys) > limit else '')


def pretrained_from_init_cfg(init_cfg: Any, owner: str = 'DBotViT') -> Optional[PretrainedCfg]:
    """The checkpoint of a ``Pretrained`` ``init_cfg``; None for no or another init_cfg.

    mmengine accepts a list of initialisers, applying ``Pretrained`` last; the strict loader here
    takes exactly one dict, so a list holding a ``Pretrained`` entry (which mmengine would load
    leniently after the others) and a ``Pretrained`` dict without a checkpoint are one-line
    errors naming ``owner``, instead of an AttributeError / KeyError.
    """
    if not init_cfg:
        return None
    if isinstance(init_cfg, (list, tuple)):
        types = [c.get('type') if isinstance(c, dict) else type(c).__name__ for c in init_cfg]
        if 'Pretrained' in types:
            raise CheckpointLoadError(
                f'{owner}: init_cfg is a list {types}; a pretrained {owner} takes a single '
                "init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...), loaded strictly")
        return None
    if not isinstance(init_cfg, dict):
        raise CheckpointLoadError(
            f'{owner}: init_cfg must be a dict, got {type(init_cfg).__name__} {init_cfg!r}')
    if init_cfg.get('type') != 'Pretrained':
        return None
    unknown = [k for k in init_cfg if k not in _PRETRAINED_CFG_KEYS]
    if unknown:
        raise CheckpointLoadError(
            f"{owner}: init_cfg=dict(type='Pretrained') has unknown keys {unknown} "
            f'(accepted: {list(_PRETRAINED_CFG_KEYS)})')
    checkpoint = init_cfg.get('checkpoint')
    if not checkpoint or not isinstance(checkpoint, (str, os.PathLike)):
        raise CheckpointLoadError(
            f"{owner}: init_cfg=dict(type='Pretrained') needs checkpoint=<file or URL>, got "
            f'{checkpoint!r} (keys: {sorted(init_cfg)})')
    prefix = init_cfg.get('prefix') or ''
    if not isinstance(prefix, str):
        raise CheckpointLoadError(
            f"{owner}: init_cfg prefix must be a string such as 'backbone.', got {prefix!r}")
    drop = init_cfg.get('drop_trained', False)
    if not (isinstance(drop, bool)
            or isinstance(drop, (list, tuple)) and all(isinstance(d, str) for d in drop)):
        raise CheckpointLoadError(
            f'{owner}: init_cfg drop_trained must be True/False or a list of key parts such as '
            f"['rel_pos_bias'], got {drop!r}")
    return PretrainedCfg(
        os.fspath(checkpoint), prefix, init_cfg.get('map_location', 'cpu'),
        drop if isinstance(drop, bool) else tuple(drop))


def key_prefixes(keys: Iterable[str]) -> List[str]:
    """The distinct first components of ``keys``, with their dot: ``['backbone.', 'neck.']``;
    a key without a dot (``cls_token``) counts as the empty prefix ``''``."""
    return list(dict.fromkeys(k.split('.', 1)[0] + '.' if '.' in k else '' for k in keys))


def strip_prefix(state: Dict[str, torch.Tensor], prefix: str) -> 'OrderedDict[str, torch.Tensor]':
    return OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


def _resize_pos_embed(pos_embed: torch.Tensor, grid, filename: str) -> torch.Tensor:
    """(1, 1 + n*n, C) -> (1, 1 + H*W, C): bicubic without antialias, as MAE's
    ``interpolate_pos_embed`` (torch's antialiased bicubic is another kernel even when
    upsampling), CLS slot kept; the same resampling as ``DBotViT`` applies to other inputs."""
    n = pos_embed.shape[1] - 1 if pos_embed.ndim == 3 else 0
    side = math.isqrt(max(n, 0))
    if not side or side * side != n:
        raise CheckpointLoadError(
            f"checkpoint '{filename}': pos_embed of shape {tuple(pos_embed.shape)} is not "
            '(1, 1 + n*n, C), cannot infer its token grid to resize it')
    return resample_abs_pos_embed(
        pos_embed, list(grid), [side, side], num_prefix_tokens=1, antialias=False)


def _beit_positions(src: int, dst: int) -> np.ndarray:
    """Where BEiT puts the ``src`` offsets of a table axis on the ``dst`` ones: spaced by a
    geometric progression so the outermost lands at ``dst // 2`` (beit run_finetune.py)."""
    left, right = 1.01, 1.5
    while right - left > 1e-6:
        q = (left + right) / 2.0
        if (1.0 - q**(src // 2)) / (1.0 - q) > dst // 2:
            right = q
        else:
            left = q
    dis = np.cumsum([1.] + [q**(i + 1) for i in range(src // 2 - 1)])
    return np.concatenate([-dis[::-1], [0.], dis])


def _resize_rel_pos_table(table: torch.Tensor, grid, filename: str) -> torch.Tensor:
    """A (2n-1)^2 + 3 relative position bias table -> the one of token ``grid``, as the beit
    branch's run_finetune.py and main's semantic_segmentation/mmcv_custom/checkpoint.py: offsets at
    the geometric positions, a cubic interpolating spline per head (their scipy ``interp2d``, gone
    from scipy 1.14; ``RectBivariateSpline`` is the same spline), the 3 CLS entries kept."""
    from scipy.interpolate import RectBivariateSpline
    side = math.isqrt(max(table.shape[0] - 3, 0))
    if side * side != table.shape[0] - 3 or side % 2 == 0:
        raise CheckpointLoadError(
            f"checkpoint '{filename}': a relative position bias table of {table.shape[0]} rows "
            'is not (2n-1)^2 + 3, cannot infer its window to resize it')
    dst = [2 * g - 1 for g in grid]
    y, x = (_beit_positions(side, d) for d in dst)
    dy, dx = (np.arange(-(d // 2), d // 2 + 0.1, 1.0) for d in dst)
    z = table[:-3].float().cpu().numpy().reshape(side, side, -1)
    out = np.stack([RectBivariateSpline(y, x, z[..., h])(dy, dx) for h in range(z.shape[-1])], -1)
    return torch.cat([torch.from_numpy(out.reshape(-1, z.shape[-1])).to(table), table[-3:]])


def _drop_hints(module: nn.Module, dropped: List[str]) -> str:
    """The backbone options that would give the ``dropped`` keys a place."""
    hints = [option for part, option in _HINTS if any(part in k for k in dropped)]
    depth = 1 + max((int(k.split('.')[1]) for k in dropped if k.startswith('blocks.')), default=-1)
    if depth > len(getattr(module, 'blocks', ())):
        hints.append(f'depth={depth}')
    return ', '.join(hints) or 'the architecture of the file'


def load_backbone_checkpoint(module: nn.Module,
                             filename: Union[str, os.PathLike],
                             prefix: str = '',
                             map_location='cpu',
                             logger: Optional[Union[logging.Logger, str]] = None,
                             drop_trained: Union[bool, Sequence[str]] = False) -> LoadReport:
    """Load the ViT weights under ``prefix`` of ``filename`` into ``module``, strictly.

    Args:
        module: a ``DBotViT`` (or any module with timm-style ViT keys and a ``grid_size``).
        filename: a local file or an http(s) URL (cached under torch hub's directory, keyed by
            the whole URL).
        prefix: ``'backbone.'`` (dBOT student / an mmengine model's backbone), ``'teacher.'``
            (dBOT teacher) or ``''`` (exported backbone, official MAE/dBOT ``{'model': ...}``).
        map_location: passed to ``torch.load``.
        logger: a logger or mmengine logger name for the summary and warnings ('current').
        drop_trained: True, or parts of key names (``['rel_pos_bias']``): trained ViT weights of
            the file that the model lacks may be dropped (a warning), as a recipe that builds
            its backbone without them intends; otherwise that is an error.

    Raises:
        FileNotFoundError, CheckpointReadError, UnsafeCheckpointError: see
            :func:`dbot_mm.utils.checkpoint.load_checkpoint_file`.
        CheckpointLoadError: nothing under ``prefix`` matches, a shape differs (other than a
            ``pos_embed`` or relative position bias table of another grid), an encoder weight is
            missing, or trained weights would be dropped (see ``drop_trained``).
    """
    logger = logger or 'current'
    prefix = prefix + '.' if prefix and not prefix.endswith('.') else prefix or ''
    state = extract_state_dict(load_checkpoint(filename, map_location), str(filename))
    source = strip_prefix(state, prefix)
    target = module.state_dict()
    matched = [k for k in target if k in source]
    if not matched:
        raise CheckpointLoadError(
            f"checkpoint '{filename}' has no weights of {type(module).__name__} under prefix "
            f"'{prefix}' ({len(source)} keys under it); the prefixes in the file are "
            f"{key_prefixes(state)} - set init_cfg prefix (e.g. 'backbone.' for a dBOT student "
            "or mmengine model, 'teacher.' for the dBOT teacher, '' for an exported backbone)")

    resized = []
    grid = getattr(module, 'grid_size', None)
    if 'pos_embed' in matched and source['pos_embed'].shape != target['pos_embed'].shape \
            and grid is not None and source['pos_embed'].shape[-1] == target['pos_embed'].shape[-1]:
        old_shape = tuple(source['pos_embed'].shape)
        source['pos_embed'] = _resize_pos_embed(source['pos_embed'], grid, str(filename))
        resized.append('pos_embed')
        print_log(
            f"load_backbone_checkpoint: pos_embed resized {old_shape} -> "
            f"{tuple(source['pos_embed'].shape)} (token grid {tuple(grid)})",
            logger=logger)
    tables = [
        k for k in matched if k.endswith(_TABLE) and grid is not None
        and source[k].shape != target[k].shape and source[k].shape[1:] == target[k].shape[1:]
    ]
    for k in tables:
        old_shape = tuple(source[k].shape)
        source[k] = _resize_rel_pos_table(source[k], grid, str(filename))
    if tables:
        resized += tables
        print_log(
            f'load_backbone_checkpoint: {len(tables)} relative position bias tables resized '
            f'{old_shape} -> {tuple(source[tables[0]].shape)} (token grid {tuple(grid)})',
            logger=logger)

    mismatched = [k for k in matched if source[k].shape != target[k].shape]
    if mismatched:
        desc = [
            f'{k} {tuple(source[k].shape)} in file vs {tuple(target[k].shape)} in model'
            for k in mismatched
        ]
        raise CheckpointLoadError(
            f"checkpoint '{filename}' (prefix '{prefix}') does not fit {type(module).__name__}: "
            f'shape mismatch in {len(mismatched)} keys: {_short_list(desc, 4)}')

    missing = [k for k in target if k not in source]
    required = [
        k for k in missing if _ENCODER_PATTERN.match(k) and not _DOWNSTREAM_BLOCK_PATTERN.match(k)
    ]
    if required:
        beit = any(k.endswith(('.q_bias', '.gamma_1')) for k in source)
        hint = ('a beit-branch file: convert it with tools/model_converters/'
                'official_dbot_to_dbot_mm.py' if beit else 'is it a shallower or different model?')
        raise CheckpointLoadError(
            f"checkpoint '{filename}' (prefix '{prefix}') lacks {len(required)} encoder weights "
            f'of {type(module).__name__}: {_short_list(required)} - {hint}')
    unexpected = [k for k in source if k not in target]
    allowed = () if isinstance(drop_trained, bool) else tuple(drop_trained)
    dropped = [] if drop_trained is True else [
        k for k in unexpected if _TRAINED_PATTERN.match(k) and not any(p in k for p in allowed)
    ]
    if dropped:
        raise CheckpointLoadError(
            f"checkpoint '{filename}' (prefix '{prefix}') holds {len(dropped)} trained weights "
            f'that {type(module).__name__} has no place for: {_short_list(dropped)} - build the '
            f'backbone with them ({_drop_hints(module, dropped)}) or, to fine-tune without them, '
            f'set init_cfg drop_trained=True')

    module.load_state_dict(OrderedDict((k, source[k]) for k in matched), strict=False)
    print_log(
        f"load_backbone_checkpoint: loaded {len(matched)} tensors of "
        f"{type(module).__name__} from '{filename}' (prefix '{prefix}')",
        logger=logger)
    if missing:
        print_log(
            f'load_backbone_checkpoint: {len(missing)} parameters not in the checkpoint '
            f'keep their initialisation (new downstream parameters): '
            f'{_short_list(missing)}',
            logger=logger,
            level=logging.WARNING)
    if unexpected:
        print_log(
            f"load_backbone_checkpoint: {len(unexpected)} keys under '{prefix}' in the "
            f'checkpoint are not used by {type(module).__name__}: '
            f'{_short_list(unexpected)}',
            logger=logger,
            level=logging.WARNING)
    return LoadReport(matched=matched, missing=missing, unexpected=unexpected, resized=resized)
