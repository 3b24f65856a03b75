"""Read what a run left in its work dir: ``run_record.json`` (written by ``RunRecordHook``) and the
``vis_data/scalars.json`` of each launch it names (mmengine's ``LocalVisBackend``, one JSON object
a line: train lines carry 'iter', validation lines only metrics and 'step'); a frozen-feature
evaluation leaves ``frozen_eval.json`` instead. Nothing is dropped silently: every line that
cannot be read becomes an :class:`Issue` (``file:line: message``).
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, List, Optional

from ..engine.hooks.run_record_hook import RUN_RECORD

FROZEN_EVAL = 'frozen_eval.json'


@dataclass
class Issue:
    """A problem found in a work dir; printed as ``path:line: message`` like a compiler."""
    path: str
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f'{self.path}:{self.line}'
        return f'{where}: {self.message}'


@dataclass
class Run:
    """A work dir: its record and the scalars of its training launches, merged in order."""
    path: str
    record: dict
    train: List[dict] = field(default_factory=list)
    val: List[dict] = field(default_factory=list)
    bad_lines: int = 0

    @property
    def cfg(self) -> dict:
        return self.record.get('config') or {}

    def launches(self, mode: str) -> List[dict]:
        return [x for x in self.record.get('launches', []) if x.get('mode') == mode]


def cfg_get(cfg: Optional[dict], dotted: str, default: Any = None) -> Any:
    """``cfg_get(cfg, 'model.backbone.arch')`` without KeyErrors on partial configs."""
    for key in dotted.split('.'):
        if not isinstance(cfg, dict) or key not in cfg:
            return default
        cfg = cfg[key]
    return cfg


def read_json(path: str, kind: str, issues: List[Issue]) -> Optional[dict]:
    """The JSON object of ``path`` whose "type" is ``kind``, or None and an issue."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        issues.append(Issue(path, None, f'unreadable {kind} skipped ({e})'))
        return None
    if not isinstance(data, dict) or data.get('type') != kind:
        issues.append(Issue(path, None, f'not a {kind} (no "type": "{kind}") skipped'))
        return None
    return data


def read_scalars(path: str, issues: List[Issue]):
    """(train lines, validation lines, unreadable lines) of a ``scalars.json``; each line keeps
    its ``_src`` (file, line) so later problems can point at it."""
    train, val, bad = [], [], 0
    with open(path, encoding='utf-8', errors='replace') as f:
        for lineno, text in enumerate((t.strip() for t in f), 1):
            try:
                rec = json.loads(text) if text else None
            except json.JSONDecodeError as e:
                rec = e
            if text and not (isinstance(rec, dict) and 'step' in rec):
                why = f'({rec.msg}; truncated?)' if isinstance(rec, Exception) else '(no "step")'
                short = text if len(text) <= 60 else text[:60] + '...'
                issues.append(Issue(path, lineno, f'unreadable JSON line skipped {why}: {short}'))
                bad += 1
            elif rec:
                rec['_src'] = (path, lineno)
                (train if 'iter' in rec else val).append(rec)
    return train, val, bad


def _merge(parts: List[List[dict]]) -> List[dict]:
    """Launches in order; a resume replaces what an earlier launch logged from its first step."""
    merged: List[dict] = []
    for recs in filter(None, parts):
        first = min(r['step'] for r in recs)
        merged = [r for r in merged if r['step'] < first] + recs
    return merged


def read_run(path: str, issues: List[Issue]) -> Optional[Run]:
    """The record of a work dir and the scalars of its training launches."""
    record = read_json(osp.join(path, RUN_RECORD), 'RunRecord', issues)
    if record is None:
        return None
    run, train, val = Run(path, record), [], []
    for launch in run.launches('train'):
        file = osp.join(path, launch.get('scalars', ''))
        if not osp.isfile(file):
            issues.append(
                Issue(
                    file, None, 'missing (a visualizer without LocalVisBackend?): the losses '
                    'and metrics of this launch are not in the tables'))
            continue
        t, v, bad = read_scalars(file, issues)
        train.append(t)
        val.append(v)
        run.bad_lines += bad
    run.train, run.val = _merge(train), _merge(val)
    return run


def is_work_dir(path: str) -> bool:
    """A folder with a run record or a frozen-feature result, or a run written before records
    (an mmengine log folder ``<timestamp>/vis_data``)."""
    if osp.isfile(osp.join(path, RUN_RECORD)) or osp.isfile(osp.join(path, FROZEN_EVAL)):
        return True
    try:
        return any(osp.isdir(osp.join(path, n, 'vis_data')) for n in os.listdir(path))
    except OSError:
        return False


def find_work_dirs(path: str) -> List[str]:
    """``path`` itself when it is a work dir, else every work dir below it (sorted); a one-line
    error naming the path when there is none."""
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such directory')
    if is_work_dir(path):
        return [path]
    found = []
    for root, dirs, _ in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        if root != path and is_work_dir(root):
            found.append(root)
            dirs[:] = []  # its launches and checkpoints are not work dirs
    if not found:
        raise FileNotFoundError(f'{path}: no {RUN_RECORD}, {FROZEN_EVAL} or mmengine log folder '
                                'in it or below it')
    return found
