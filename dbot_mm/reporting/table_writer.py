"""Write :class:`BenchmarkTables` as markdown (``tables.md``), CSV (one file per table) and PNG
plots (pretraining loss with stage boundaries; downstream metric curves).

Each table is one list of columns ``(markdown header, CSV header, cell)`` (None: not in that
format), so the markdown and the CSV always agree.
"""
import csv
import os
import os.path as osp
import re
from typing import Dict, List, Optional

from .tables import BenchmarkTables, DownstreamGroup

HEADER_NOTE = (
    '*last val* is the **last** validation result of a run (*at*: its epoch `ep N` or '
    'iteration `it N`); *best* is the maximum over all its validations. Rows marked `test` '
    'come from `tools/test.py` runs in the same work dir. Paper numbers and their sources: '
    '`dbot_mm/reporting/paper_results.json`; Δ = ours − paper. *k-NN* and *linear probe* rows '
    'of a `frozen_eval.json` (frozen features) have one result: *last val*, with its settings '
    'under *at*, and no paper number (the official README gives fine-tuning numbers only).')
PRETRAIN_NOTE = (
    '*final loss per stage*: the last logged loss of each bootstrapping stage; *time/iter*: '
    'median of the logged (smoothed) iteration times; *img/s* = batch/GPU x GPUs / time/iter.')
SEED_NOTE = ('Runs that differ only by their seed (`randomness.seed`, or `seed` of '
             '`frozen_eval.json`): mean ± sample standard deviation (number of runs) of the '
             '*last val* results.')
_OPTIONAL_GROUPS = ('external', 'random_init', 'raw_pixels')


def _num(v: Optional[float], digits: int = 2) -> str:
    return '' if v is None else f'{v:.{digits}f}'


def _signed(v: Optional[float]) -> str:
    return '' if v is None else f'{v:+.2f}'


def _str(v, none: str = '') -> str:
    return none if v is None else str(v)


def _stage_cell(r) -> str:
    cells = [(f's{k} ' + ('-' if loss is None else f'{loss:.4f}'), state)
             for k, loss, state in r.stage_losses]
    return '; '.join(c if state == 'done' else f'{c} ({state})' for c, state in cells)


def mean_std_cell(r) -> str:
    """'77.1 ± 0.4 (3)'; '77.1 (1)' for one run; '- (0)' when no run has the metric."""
    if r.mean is None:
        return '- (0)'
    return f'{r.mean:.1f}{"" if r.std is None else f" ± {r.std:.1f}"} ({r.n})'


def _notes(r) -> str:
    return '; '.join(r.notes)


PRETRAIN = [
    ('run', 'run', lambda r: r.run), (None, 'work_dir', lambda r: r.work_dir),
    ('config', 'config', lambda r: r.config), ('model', 'model', lambda r: r.model),
    ('teacher', 'teacher', lambda r: r.teacher),
    ('stages (ep)', 'stages', lambda r: '/'.join(map(str, r.stages))),
    ('epochs done/planned', None, lambda r: f'{r.epochs_done}/{_str(r.epochs_planned, "?")}'),
    (None, 'epochs_done', lambda r: str(r.epochs_done)),
    (None, 'epochs_planned', lambda r: _str(r.epochs_planned)),
    ('status', 'status', lambda r: r.status), ('final loss per stage', None, _stage_cell),
    ('time/iter (s, median)', 'time_iter_s', lambda r: _num(r.time_iter, 3)),
    ('batch/GPU x GPUs', None, lambda r: f'{_str(r.batch, "?")} x {_str(r.world_size, "?")}'),
    (None, 'batch_per_gpu', lambda r: _str(r.batch)), (None, 'gpus', lambda r: _str(r.world_size)),
    ('img/s', 'img_per_s', lambda r: _num(r.img_s, 1)), ('notes', 'notes', _notes)
]
DOWNSTREAM = [('run', 'run', lambda r: r.run), (None, 'work_dir', lambda r: r.work_dir),
              ('task', 'task', lambda r: r.task), ('method', 'method', lambda r: r.method),
              ('metric', 'metric', lambda r: r.metric),
              ('last val', 'last', lambda r: _num(r.last)), ('at', 'last_at', lambda r: r.last_at),
              ('best', 'best', lambda r: _num(r.best)), ('at', 'best_at', lambda r: r.best_at),
              ('paper (dBOT)', None, lambda r: ''
               if r.ref is None else f'{r.ref_method} {r.ref:.1f}'),
              (None, 'paper_method', lambda r: r.ref_method),
              (None, 'paper', lambda r: _num(r.ref, 1)),
              ('Δ paper', 'delta_paper', lambda r: _signed(r.delta)),
              ('baseline', None, lambda r: ''
               if r.baseline is None else f'{r.baseline_method} {r.baseline:.1f}'),
              (None, 'baseline_method', lambda r: r.baseline_method),
              (None, 'baseline', lambda r: _num(r.baseline, 1)),
              ('Δ baseline', 'delta_baseline', lambda r: _signed(r.baseline_delta)),
              ('status', 'status', lambda r: r.status), ('init', 'init', lambda r: r.init),
              ('notes', 'notes', _notes)]
SEEDS = [('pretraining', 'pretraining', lambda r: r.pretrain),
         ('config', 'config', lambda r: r.config), ('task', 'task', lambda r: r.task),
         ('method', 'method', lambda r: r.method), ('metric', 'metric', lambda r: r.metric),
         ('mean ± std (n)', None, mean_std_cell), (None, 'mean', lambda r: _num(r.mean)),
         (None, 'std', lambda r: _num(r.std)), (None, 'n', lambda r: str(r.n)),
         ('seeds', 'seeds', lambda r: ' '.join(_str(s, '?') for s in r.seeds)),
         (None, 'runs', lambda r: ' '.join(r.runs)), ('notes', 'notes', _notes)]


def _pretrain_columns(rows) -> list:
    """PRETRAIN with one ``loss_stage{k}`` CSV column per stage, after the status."""
    n = max([len(r.stage_losses) for r in rows] or [0])
    losses = [(None, f'loss_stage{k + 1}', lambda r, k=k: _num(r.stage_losses[k][1], 4)
               if k < len(r.stage_losses) else '') for k in range(n)]
    return PRETRAIN[:10] + losses + PRETRAIN[10:]


def _table(columns, rows, md: bool) -> List[List[str]]:
    """Header and rows of the columns of one format (markdown: ``md``, else CSV)."""
    cols = [(c[0] if md else c[1], c[2]) for c in columns if c[0 if md else 1] is not None]
    return [[h for h, _ in cols]] + [[cell(r) for _, cell in cols] for r in rows]


def _md(columns, rows) -> List[str]:
    header, *body = _table(columns, rows, md=True)
    cell = lambda c: str(c).replace('|', '\\|').replace('\n', ' ')  # noqa: E731
    return ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)
            ] + ['| ' + ' | '.join(map(cell, r)) + ' |' for r in body]


def _slug(text: str) -> str:
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', text).strip('_') or 'run'


def group_csv_name(group: DownstreamGroup) -> str:
    """``downstream_from_<run>.csv`` | ``downstream_external.csv`` |
    ``downstream_random_init.csv`` | ``downstream_raw_pixels.csv``."""
    if group.key.startswith('pretrain:'):
        return f'downstream_from_{_slug(group.key[len("pretrain:"):])}.csv'
    return f'downstream_{group.key}.csv'


def _shown(tables: BenchmarkTables) -> List[DownstreamGroup]:
    return [g for g in tables.groups if g.rows or g.key not in _OPTIONAL_GROUPS]


def render_markdown(tables: BenchmarkTables) -> str:
    """The whole report: pretraining table, one downstream table per group, seed summary,
    work dirs left out, problems."""
    lines = [
        '# dBOT benchmark tables', '', f'Generated from {len(tables.work_dirs)} work dir(s) by '
        '`tools/analysis_tools/benchmark_tables.py`.', '', '## Pretraining', '', PRETRAIN_NOTE, ''
    ]
    if tables.pretrain:
        lines += _md(_pretrain_columns(tables.pretrain), tables.pretrain)
    else:
        lines.append('_No pretraining runs (model.type DBOT) found._')
    lines += ['', '## Downstream', '', HEADER_NOTE]
    for group in _shown(tables):
        lines += ['', f'### {group.title}', '']
        if group.checkpoints:
            lines += ['Checkpoints: ' + ', '.join(f'`{c}`' for c in group.checkpoints), '']
        lines += (
            _md(DOWNSTREAM, group.rows)
            if group.rows else ['_No downstream runs start from this pretraining run._'])
    if tables.seed_summary:
        lines += ['', '## Seed summary', '', SEED_NOTE, ''] + _md(SEEDS, tables.seed_summary)
    if tables.skipped:
        lines += ['', '## Work dirs not in the tables', '']
        lines += [f'- `{wd}`: {why}' for wd, why in tables.skipped]
    if tables.issues:
        lines += ['', '## Problems found in the logs', ''] + [f'- `{i}`' for i in tables.issues]
    return '\n'.join(lines) + '\n'


def write_outputs(tables: BenchmarkTables, out_dir: str, plots: bool = True) -> Dict[str, str]:
    """Write ``tables.md``, ``pretrain.csv``, ``seed_summary.csv``, one ``downstream_*.csv``
    per downstream table and the PNG plots into ``out_dir``; returns {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    files = {
        'pretrain.csv': _table(_pretrain_columns(tables.pretrain), tables.pretrain, md=False),
        'seed_summary.csv': _table(SEEDS, tables.seed_summary, md=False),
        **{
            group_csv_name(g): _table(DOWNSTREAM, g.rows, md=False)
            for g in _shown(tables)
        }
    }
    written = {'tables.md': osp.join(out_dir, 'tables.md')}
    with open(written['tables.md'], 'w', encoding='utf-8') as f:
        f.write(render_markdown(tables))
    for name, rows in files.items():
        written[name] = osp.join(out_dir, name)
        with open(written[name], 'w', newline='', encoding='utf-8') as f:
            csv.writer(f).writerows(rows)
    if plots:
        written.update(write_plots(tables, out_dir))
    return written


def _plot_knn(ax, r) -> None:
    """KNNWatchHook's k-NN top-1: the student one line per stage, the teachers as crosses."""
    by_stage = {}
    for x, v in r.knn_curves.get('student', []):
        by_stage.setdefault(1 + sum(b < x for b in r.stages[1:-1]), []).append((x, v))
    for k, points in sorted(by_stage.items()):
        ax.plot(*zip(*points), marker='o', label=f'student, stage {k}')
    if r.knn_curves.get('teacher'):
        ax.plot(*zip(*r.knn_curves['teacher']), 'kx', markersize=9, label='teacher of the stage')
    ax.set(xlabel='epoch', ylabel='k-NN top-1 (%)', title='k-NN on the watch set')


def write_plots(tables: BenchmarkTables, out_dir: str) -> Dict[str, str]:
    """``pretrain_loss_<run>.png`` (stage boundaries as dashed vertical lines; the k-NN watch
    curve beside the loss when the run has one) and ``downstream_<task>_<metric>.png`` (one line
    per run)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figures, curves = [], {}
    for r in tables.pretrain:
        if r.loss_curve:
            knn = any(r.knn_curves.values())
            fig, axes = plt.subplots(1, 1 + knn, figsize=(7 + 5 * knn, 4), squeeze=False)
            ax, axes = axes[0][0], list(axes[0])
            ax.plot(*zip(*r.loss_curve), label='loss')
            ax.set(xlabel=r.curve_unit, ylabel='loss', title=f'{r.run}: {r.model} ({r.status})')
            if knn:
                _plot_knn(axes[1], r)
            for a in axes if r.curve_unit == 'epoch' else axes[1:]:
                for i, b in enumerate(r.stages[1:-1]):
                    a.axvline(
                        b, color='gray', linestyle='--', label=None if i else 'stage boundary')
            figures.append((f'pretrain_loss_{_slug(r.run)}.png', fig, axes, None))
    for row in (row for g in tables.groups for row in g.rows if row.curve):
        curves.setdefault((row.task, row.metric), []).append(row)
    for (task, metric), rows in sorted(curves.items()):
        fig, ax = plt.subplots(figsize=(7, 4))
        for row in rows:
            ax.plot(*zip(*row.curve), marker='o', label=f'{row.run} ({row.init})')
        ax.set(xlabel=rows[0].curve_unit, ylabel=metric, title=f'{task} {metric} (validation)')
        figures.append((f'downstream_{_slug(task)}_{_slug(metric)}.png', fig, [ax], 'small'))
    written = {}
    for name, fig, axes, fontsize in figures:
        for ax in axes:
            ax.legend(fontsize=fontsize)
            ax.grid(alpha=0.3)
        written[name] = osp.join(out_dir, name)
        fig.savefig(written[name], dpi=100, bbox_inches='tight')
        plt.close(fig)
    return written
