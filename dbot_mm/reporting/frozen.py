"""Rows of a frozen-feature evaluation: k-NN and a linear probe on features of a frozen backbone
(or on raw pixels), one ``frozen_eval.json`` per work dir (``eval_frozen_features.py``, no
Runner). The file names the checkpoint it read (null for random init and raw pixels), which
links it to a pretraining run as a downstream run's record does."""
import os.path as osp
from typing import List

from .labels import TASK_TITLES, classification_task
from .record import FROZEN_EVAL, Issue
from .rows import MetricRow, is_number

# key of frozen_eval.json -> method shown
FROZEN_METHODS = (('knn', 'k-NN'), ('linear', 'linear probe'))


def config_name(data: dict) -> str:
    cfg = data.get('config')
    return osp.splitext(osp.basename(cfg))[0] if isinstance(cfg, str) else ''


def _settings(key: str, result: dict) -> str:
    """The 'at' cell: what the number depends on besides the features."""
    if key == 'knn':
        return f'k={result.get("k", "?")}, T={result.get("temperature", "?")}'
    parts = [str(result['solver'])] if result.get('solver') else []
    if result.get('weight_decay') is not None:
        parts.append(f'wd {result["weight_decay"]}')
    return ', '.join(parts)


def frozen_rows(name: str, path: str, d: dict, init: str, issues: List[Issue]) -> List[MetricRow]:
    """One 'top1' row per method (k-NN, linear probe). No paper number: the official README
    gives fine-tuning numbers only."""
    dataset = d.get('dataset')
    size = (f'{d.get("num_train", "?")} train / {d.get("num_val", "?")} val, '
            f'{d.get("num_classes", "?")} classes ({dataset})')
    rows = []
    for key, method in FROZEN_METHODS:
        result = d.get(key) if isinstance(d.get(key), dict) else {}
        row = MetricRow(
            run=name,
            work_dir=path,
            task=TASK_TITLES[classification_task(dataset)],
            method=method,
            metric='top1',
            init=init,
            notes=[size],
            seed=d.get('seed') if is_number(d.get('seed')) else None,
            config=config_name(d),
            status='finished')
        if is_number(result.get('top1')):
            row.last, row.last_at = float(result['top1']), _settings(key, result)
        else:
            issues.append(
                Issue(osp.join(path, FROZEN_EVAL), None, f'no metric: no "{key}": {{"top1": ...}}'))
            row.status = 'no metric'
        rows.append(row)
    return rows
