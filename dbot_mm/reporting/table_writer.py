"""Write :class:`BenchmarkTables` as markdown (``tables.md``), CSV (one file per table) and
PNG plots (pretraining loss with stage boundaries; downstream metric curves).

Numbers are formatted once, here, so the markdown and the CSV always agree.
"""
import csv
import os
import os.path as osp
import re
from typing import Dict, List, Optional

from .rows import MetricRow, PretrainRow
from .seeds import SeedSummaryRow
from .tables import BenchmarkTables, DownstreamGroup

HEADER_NOTE = (
    '*last val* is the **last** validation result of a run (*at*: its epoch `ep N` or '
    'iteration `it N`); *best* is the maximum over all its validations. Rows marked `test` '
    'come from `tools/test.py` runs in the same work dir. Paper numbers and their sources: '
    '`dbot_mm/reporting/paper_results.json`; Δ = ours − paper. *k-NN* and *linear probe* rows '
    'of a `frozen_eval.json` (frozen features) have one result: *last val*, with its settings '
    'under *at*, and no paper number (the official README gives fine-tuning numbers only).')
_OPTIONAL_GROUPS = ('external', 'random_init', 'raw_pixels')


def _num(v: Optional[float], digits: int) -> str:
    return '' if v is None else f'{v:.{digits}f}'


def _signed(v: Optional[float]) -> str:
    return '' if v is None else f'{v:+.2f}'


def _ref(method: str, v: Optional[float]) -> str:
    return '' if v is None else f'{method} {v:.1f}'


def _md_cell(text) -> str:
    return str(text).replace('|', '\\|').replace('\n', ' ')


def _md_table(header: List[str], rows: List[List[str]]) -> List[str]:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(_md_cell(c) for c in r) + ' |' for r in rows]
    return lines


# ----------------------------------------------------------------------------- pretraining
def _stage_cell(row: PretrainRow) -> str:
    parts = []
    for k, loss, state in row.stage_losses:
        text = f's{k} ' + ('-' if loss is None else f'{loss:.4f}')
        parts.append(text if state == 'done' else f'{text} ({state})')
    return '; '.join(parts)


PRETRAIN_NOTE = (
    '*final loss per stage*: the last logged loss of each bootstrapping stage; *time/iter*: '
    'median of the logged (smoothed) iteration times; *img/s* = batch/GPU x GPUs / time/iter.')
PRETRAIN_MD = [
    'run', 'config', 'model', 'teacher', 'stages (ep)', 'epochs done/planned', 'status',
    'final loss per stage', 'time/iter (s, median)', 'batch/GPU x GPUs', 'img/s', 'notes'
]


def _pretrain_md_row(r: PretrainRow) -> List[str]:
    planned = '?' if r.epochs_planned is None else r.epochs_planned
    gpus = '?' if r.world_size is None else r.world_size
    return [
        r.run, r.config, r.model, r.teacher, '/'.join(map(str, r.stages)),
        f'{r.epochs_done}/{planned}', r.status,
        _stage_cell(r),
        _num(r.time_iter, 3), f'{"?" if r.batch is None else r.batch} x {gpus}',
        _num(r.img_s, 1), '; '.join(r.notes)
    ]


def _pretrain_csv(rows: List[PretrainRow]) -> List[List[str]]:
    n = max([len(r.stage_losses) for r in rows] or [0])
    header = [
        'run', 'work_dir', 'config', 'model', 'teacher', 'stages', 'epochs_done', 'epochs_planned',
        'status'
    ] + [f'loss_stage{k}'
         for k in range(1, n + 1)] + ['time_iter_s', 'batch_per_gpu', 'gpus', 'img_per_s', 'notes']
    out = [header]
    for r in rows:
        losses = [_num(loss, 4) for _, loss, _ in r.stage_losses]
        losses += [''] * (n - len(losses))
        out.append([
            r.run, r.work_dir, r.config, r.model, r.teacher, '/'.join(map(str, r.stages)),
            str(r.epochs_done), '' if r.epochs_planned is None else str(r.epochs_planned), r.status
        ] + losses + [
            _num(r.time_iter, 3), '' if r.batch is None else str(r.batch), '' if r.world_size is
            None else str(r.world_size),
            _num(r.img_s, 1), '; '.join(r.notes)
        ])
    return out


# ----------------------------------------------------------------------------- downstream
DOWNSTREAM_MD = [
    'run', 'task', 'method', 'metric', 'last val', 'at', 'best', 'at', 'paper (dBOT)', 'Δ paper',
    'baseline', 'Δ baseline', 'status', 'init', 'notes'
]
DOWNSTREAM_CSV = [
    'run', 'work_dir', 'task', 'method', 'metric', 'last', 'last_at', 'best', 'best_at',
    'paper_method', 'paper', 'delta_paper', 'baseline_method', 'baseline', 'delta_baseline',
    'status', 'init', 'notes'
]


def _downstream_md_row(r: MetricRow) -> List[str]:
    return [
        r.run, r.task, r.method, r.metric,
        _num(r.last, 2), r.last_at,
        _num(r.best, 2), r.best_at,
        _ref(r.ref_method, r.ref),
        _signed(r.delta),
        _ref(r.baseline_method, r.baseline),
        _signed(r.baseline_delta), r.status, r.init, '; '.join(r.notes)
    ]


def _downstream_csv(rows: List[MetricRow]) -> List[List[str]]:
    out = [DOWNSTREAM_CSV]
    for r in rows:
        out.append([
            r.run, r.work_dir, r.task, r.method, r.metric,
            _num(r.last, 2), r.last_at,
            _num(r.best, 2), r.best_at, r.ref_method,
            _num(r.ref, 1),
            _signed(r.delta), r.baseline_method,
            _num(r.baseline, 1),
            _signed(r.baseline_delta), r.status, r.init, '; '.join(r.notes)
        ])
    return out


# ----------------------------------------------------------------------------- seeds
SEED_NOTE = ('Runs that differ only by their seed (`randomness.seed`, or `seed` of '
             '`frozen_eval.json`): mean ± sample standard deviation (number of runs) of the '
             '*last val* results.')
SEED_MD = ['pretraining', 'config', 'task', 'method', 'metric', 'mean ± std (n)', 'seeds', 'notes']
SEED_CSV = [
    'pretraining', 'config', 'task', 'method', 'metric', 'mean', 'std', 'n', 'seeds', 'runs',
    'notes'
]


def mean_std_cell(r: SeedSummaryRow) -> str:
    """'77.1 ± 0.4 (3)'; '77.1 (1)' for one run; '- (0)' when no run has the metric."""
    if r.mean is None:
        return '- (0)'
    std = '' if r.std is None else f' ± {r.std:.1f}'
    return f'{r.mean:.1f}{std} ({r.n})'


def _seeds(r: SeedSummaryRow) -> str:
    return ' '.join('?' if s is None else str(s) for s in r.seeds)


def _seed_md_row(r: SeedSummaryRow) -> List[str]:
    return [
        r.pretrain, r.config, r.task, r.method, r.metric,
        mean_std_cell(r),
        _seeds(r), '; '.join(r.notes)
    ]


def _seed_csv(rows: List[SeedSummaryRow]) -> List[List[str]]:
    out = [SEED_CSV]
    for r in rows:
        out.append([
            r.pretrain, r.config, r.task, r.method, r.metric,
            _num(r.mean, 2),
            _num(r.std, 2),
            str(r.n),
            _seeds(r), ' '.join(r.runs), '; '.join(r.notes)
        ])
    return out


def _slug(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', text).strip('_') or 'run'


def group_csv_name(group: DownstreamGroup) -> str:
    """``downstream_from_<run>.csv`` | ``downstream_external.csv`` |
    ``downstream_random_init.csv`` | ``downstream_raw_pixels.csv``."""
    if group.key.startswith('pretrain:'):
        return f'downstream_from_{_slug(group.key[len("pretrain:"):])}.csv'
    return f'downstream_{group.key}.csv'


# ----------------------------------------------------------------------------- markdown
def render_markdown(tables: BenchmarkTables) -> str:
    """The whole report: pretraining table, one downstream table per group, seed summary,
    problems."""
    lines = [
        '# dBOT benchmark tables', '', f'Generated from {len(tables.work_dirs)} work dir(s) by '
        '`tools/analysis_tools/benchmark_tables.py`.', '', '## Pretraining', '', PRETRAIN_NOTE, ''
    ]
    if tables.pretrain:
        lines += _md_table(PRETRAIN_MD, [_pretrain_md_row(r) for r in tables.pretrain])
    else:
        lines.append('_No pretraining runs (model.type DBOT) found._')
    lines += ['', '## Downstream', '', HEADER_NOTE]
    for group in tables.groups:
        if group.key in _OPTIONAL_GROUPS and not group.rows:
            continue
        lines += ['', f'### {group.title}', '']
        if group.checkpoints:
            lines += ['Checkpoints: ' + ', '.join(f'`{c}`' for c in group.checkpoints), '']
        if group.rows:
            lines += _md_table(DOWNSTREAM_MD, [_downstream_md_row(r) for r in group.rows])
        else:
            lines.append('_No downstream runs start from this pretraining run._')
    if tables.seed_summary:
        lines += ['', '## Seed summary', '', SEED_NOTE, '']
        lines += _md_table(SEED_MD, [_seed_md_row(r) for r in tables.seed_summary])
    if tables.skipped:
        lines += ['', '## Work dirs not in the tables', '']
        lines += [f'- `{wd}`: {why}' for wd, why in tables.skipped]
    if tables.issues:
        lines += ['', '## Problems found in the logs', '']
        lines += [f'- `{i}`' for i in tables.issues]
    return '\n'.join(lines) + '\n'


# ----------------------------------------------------------------------------- files
def _write_csv(path: str, rows: List[List[str]]) -> None:
    with open(path, 'w', newline='', encoding='utf-8') as f:
        csv.writer(f).writerows(rows)


def write_outputs(tables: BenchmarkTables, out_dir: str, plots: bool = True) -> Dict[str, str]:
    """Write ``tables.md``, ``pretrain.csv``, ``seed_summary.csv``, one ``downstream_*.csv``
    per downstream table and the PNG plots into ``out_dir``; returns {name: path} of what was
    written."""
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    md = osp.join(out_dir, 'tables.md')
    with open(md, 'w', encoding='utf-8') as f:
        f.write(render_markdown(tables))
    written['tables.md'] = md
    path = osp.join(out_dir, 'pretrain.csv')
    _write_csv(path, _pretrain_csv(tables.pretrain))
    written['pretrain.csv'] = path
    path = osp.join(out_dir, 'seed_summary.csv')
    _write_csv(path, _seed_csv(tables.seed_summary))
    written['seed_summary.csv'] = path
    for group in tables.groups:
        if group.key in _OPTIONAL_GROUPS and not group.rows:
            continue
        name = group_csv_name(group)
        _write_csv(osp.join(out_dir, name), _downstream_csv(group.rows))
        written[name] = osp.join(out_dir, name)
    if plots:
        written.update(write_plots(tables, out_dir))
    return written


def write_plots(tables: BenchmarkTables, out_dir: str) -> Dict[str, str]:
    """``pretrain_loss_<run>.png`` (stage boundaries as dashed vertical lines) and
    ``downstream_<task>_<metric>.png`` (one line per run)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    written = {}
    for r in tables.pretrain:
        if not r.loss_curve:
            continue
        fig, ax = plt.subplots(figsize=(7, 4))
        ax.plot(*zip(*r.loss_curve), label='loss')
        if r.curve_unit == 'epoch':
            for i, b in enumerate(r.stages[1:-1]):
                ax.axvline(
                    b, color='gray', linestyle='--', label='stage boundary' if i == 0 else None)
        ax.set(xlabel=r.curve_unit, ylabel='loss', title=f'{r.run}: {r.model} ({r.status})')
        ax.legend()
        ax.grid(alpha=0.3)
        name = f'pretrain_loss_{_slug(r.run)}.png'
        fig.savefig(osp.join(out_dir, name), dpi=100, bbox_inches='tight')
        plt.close(fig)
        written[name] = osp.join(out_dir, name)
    curves: Dict[tuple, List[MetricRow]] = {}
    for group in tables.groups:
        for row in group.rows:
            if row.curve:
                curves.setdefault((row.task, row.metric), []).append(row)
    for (task, metric), rows in sorted(curves.items()):
        fig, ax = plt.subplots(figsize=(7, 4))
        for row in rows:
            ax.plot(*zip(*row.curve), marker='o', label=f'{row.run} ({row.init})')
        ax.set(xlabel=rows[0].curve_unit, ylabel=metric, title=f'{task} {metric} (validation)')
        ax.legend(fontsize='small')
        ax.grid(alpha=0.3)
        name = f'downstream_{_slug(task)}_{_slug(metric)}.png'
        fig.savefig(osp.join(out_dir, name), dpi=100, bbox_inches='tight')
        plt.close(fig)
        written[name] = osp.join(out_dir, name)
    return written
