"""Rows of a frozen-feature evaluation: k-NN and a linear probe on features of a frozen backbone
(or on raw pixels), written as one ``frozen_eval.json`` per work dir, not by an mmengine Runner.

The file names the checkpoint it read (null for random init and raw pixels), which links it to a
pretraining run exactly as a downstream run's ``init_cfg`` does.
"""
import json
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional

from .log_reader import FROZEN_EVAL, Issue, WorkDirLog
from .rows import TASK_TITLES, MetricRow, _is_number, classification_task

# key of frozen_eval.json -> method shown
FROZEN_METHODS = (('knn', 'k-NN'), ('linear', 'linear probe'))


@dataclass
class FrozenEval:
    """``frozen_eval.json`` of one work dir, as written."""
    path: str
    data: dict

    @property
    def checkpoint(self) -> Optional[str]:
        return self.data.get('checkpoint') or None

    @property
    def prefix(self) -> Optional[str]:
        return self.data.get('prefix') or None

    @property
    def raw_pixels(self) -> bool:
        return self.data.get('features') == 'raw_pixels'

    @property
    def config_name(self) -> str:
        cfg = self.data.get('config')
        return osp.splitext(osp.basename(cfg))[0] if isinstance(cfg, str) else ''

    def as_log(self) -> WorkDirLog:
        """A log without sessions, for :mod:`.lineage` (checkpoints here are absolute)."""
        return WorkDirLog(path=self.path, sessions=[], config_name=self.config_name)


def read_frozen_eval(path: str, issues: List[Issue]) -> Optional[FrozenEval]:
    """The result file of a work dir, or None (and an issue) when it cannot be read."""
    file = osp.join(path, FROZEN_EVAL)
    try:
        with open(file, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        issues.append(Issue(file, None, f'unreadable frozen-feature result skipped ({e})'))
        return None
    if not isinstance(data, dict) or data.get('type') != 'FrozenFeatureEval':
        issues.append(
            Issue(file, None, 'not a FrozenFeatureEval result (no "type": '
                  '"FrozenFeatureEval") skipped'))
        return None
    return FrozenEval(path=path, data=data)


def _settings(key: str, result: dict) -> str:
    """The 'at' cell: what the number depends on besides the features."""
    if key == 'knn':
        return f'k={result.get("k", "?")}, T={result.get("temperature", "?")}'
    parts = [str(result['solver'])] if result.get('solver') else []
    if result.get('weight_decay') is not None:
        parts.append(f'wd {result["weight_decay"]}')
    return ', '.join(parts)


def frozen_rows(name: str, ev: FrozenEval, init: str, issues: List[Issue]) -> List[MetricRow]:
    """One 'top1' row per method (k-NN, linear probe). No paper number: the official README
    gives fine-tuning numbers only, and the backbone's arch is in the cls config, not here."""
    d = ev.data
    dataset = d.get('dataset')
    task = classification_task(dataset)
    file = osp.join(ev.path, FROZEN_EVAL)
    size = (f'{d.get("num_train", "?")} train / {d.get("num_val", "?")} val, '
            f'{d.get("num_classes", "?")} classes ({dataset})')
    rows = []
    for key, method in FROZEN_METHODS:
        result = d.get(key) if isinstance(d.get(key), dict) else {}
        row = MetricRow(
            run=name,
            work_dir=ev.path,
            task=TASK_TITLES[task],
            method=method,
            metric='top1',
            init=init,
            notes=[size],
            seed=d.get('seed') if _is_number(d.get('seed')) else None,
            config=ev.config_name,
            curve_unit='')
        if _is_number(result.get('top1')):
            row.last = float(result['top1'])
            row.last_at = _settings(key, result)
            row.status = 'finished'
        else:
            issues.append(Issue(file, None, f'no metric: no "{key}": {{"top1": ...}}'))
            row.status = 'no metric'
        rows.append(row)
    return rows
