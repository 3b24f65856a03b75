"""The mini benchmark's report (``tools/analysis_tools/mini_benchmark.py``): its seed summary
(``tables.seed_summary``) as one table of models x protocols, the gains over random init with
their spread, the pretraining losses and the property-analysis plots."""
import math
import os.path as osp
from typing import Dict, List, Optional, Tuple

from .tables import BenchmarkTables

PROTOCOL_COLUMNS = (('k-NN', 'k-NN'), ('linear probe', 'linear probe'), ('fine-tune', 'fine-tune'))


def _cell(stat: Optional[Tuple[float, Optional[float], int]]) -> str:
    if stat is None:
        return '-'
    mean, std, n = stat
    return f'{mean:.1f} ± {std:.1f} ({n})' if std is not None else f'{mean:.1f} ({n})'


def summary_stats(tables: BenchmarkTables,
                  methods: Dict[str, Tuple[str, str]]) -> Dict[str, Dict[str, tuple]]:
    """model key ('raw', 'random', or a METHODS key) -> protocol -> (mean, std, n)."""
    by_config = {osp.splitext(osp.basename(cfg))[0]: key for key, (cfg, _) in methods.items()}
    names = {'raw pixels': 'raw', 'random init': 'random', **by_config}
    out: Dict[str, Dict[str, tuple]] = {}
    for row in tables.seed_summary:
        key = names.get(row.pretrain)
        if key is None or row.mean is None or row.metric != 'top1':
            continue
        out.setdefault(key, {})[row.method] = (row.mean, row.std, row.n)
    return out


def gain(a: Optional[tuple], b: Optional[tuple]) -> Optional[Tuple[float, float]]:
    """(mean of a - mean of b, spread = sqrt(std_a^2 + std_b^2), the std of the difference of
    two independent means' samples); None without numbers."""
    if not a or not b:
        return None
    spread = math.sqrt((a[1] or 0.)**2 + (b[1] or 0.)**2)
    return a[0] - b[0], spread


def mini_report(tables: BenchmarkTables, setting, methods: Dict[str, Tuple[str, str]],
                minutes: float, load: str, command: str) -> str:
    stats = summary_stats(tables, methods)
    models = [('raw', 'raw pixels (no network)'), ('random', 'random init')]
    models += [(k, label) for k, (_, label) in methods.items() if k in setting.methods]
    lines = [
        f'# Mini benchmark: {setting.name}', '',
        f'Fashion-MNIST, {setting.num_train} train / {setting.num_val} val images (32 px), '
        f'ViT 64 wide x 4 blocks, patch 4; pretraining {setting.epochs} epochs '
        f'(multi-stage dBOT: {setting.stages} stages), seeds {list(setting.seeds)}.', '',
        f'Command: `{command}`  ', f'Wall time: {minutes:.1f} min; load average during the run: '
        f'{load}.', '', '| model | ' + ' | '.join(c for c, _ in PROTOCOL_COLUMNS) + ' |',
        '|---|' + '---|' * len(PROTOCOL_COLUMNS)
    ]
    for key, label in models:
        cells = [_cell(stats.get(key, {}).get(m)) for _, m in PROTOCOL_COLUMNS]
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    lines += ['', 'top-1 (%), mean ± sample std (number of seeds).', '']
    lines += _gain_lines(stats, methods, setting)
    lines += _pretrain_lines(tables)
    lines += [
        '', '## Property analysis (first seed)', '',
        '![attention distance](representations/attention_distance.png)',
        '![singular values](representations/singular_values.png)', '',
        'Numbers: `representations/representations.json`; every run\'s tables: `tables/`.', ''
    ]
    return '\n'.join(lines)


def _gain_lines(stats, methods, setting) -> List[str]:
    lines = [
        '## Differences', '', '| comparison | protocol | difference | spread | larger? |',
        '|---|---|---|---|---|'
    ]
    pairs = [(k, 'random') for k in setting.methods]
    if 'dbot' in setting.methods and 'dbot-1stage' in setting.methods:
        pairs.append(('dbot', 'dbot-1stage'))
    if 'dbot' in setting.methods and 'mae' in setting.methods:
        pairs.append(('dbot', 'mae'))
    pairs += [(k, 'raw') for k in setting.methods if k.startswith('dbot')]
    label = {'random': 'random init', 'raw': 'raw pixels', **{k: v[1] for k, v in methods.items()}}
    for a, b in pairs:
        for _, proto in PROTOCOL_COLUMNS:
            g = gain(stats.get(a, {}).get(proto), stats.get(b, {}).get(proto))
            if g is None:
                continue
            diff, spread = g
            verdict = 'yes' if abs(diff) > spread else 'no'
            lines.append(f'| {label[a]} - {label[b]} | {proto} | {diff:+.1f} | {spread:.1f} | '
                         f'{verdict} |')
    lines += [
        '', 'spread = sqrt(std_a^2 + std_b^2) of the two rows; "larger?" = |difference| > '
        'spread.', ''
    ]
    return lines


def _knn_per_stage(r) -> str:
    """The student's last KNNWatchHook top-1 in each stage ('-' where none)."""
    points = r.knn_curves.get('student', [])
    last = [[v for x, v in points if lo < x <= hi] for lo, hi in zip(r.stages, r.stages[1:])]
    return ', '.join(f'{v[-1]:.1f}' if v else '-' for v in last)


def _pretrain_lines(tables: BenchmarkTables) -> List[str]:
    lines = [
        '## Pretraining runs', '',
        '| run | teacher | stages | last loss per stage | k-NN watch per stage | status |',
        '|---|---|---|---|---|---|'
    ]
    for r in sorted(tables.pretrain, key=lambda r: r.run):
        losses = ', '.join('-' if loss is None else f'{loss:.4f}' for _, loss, _ in r.stage_losses)
        lines.append(f'| {r.run} | {r.teacher} | {r.stages} | {losses} | {_knn_per_stage(r)} | '
                     f'{r.status} |')
    lines += [
        '', '*k-NN watch*: the student\'s last k-NN top-1 of each stage (`KNNWatchHook`, every '
        'epoch: up to 1000 val images, half classified against the other half); the curves, '
        'with each stage\'s teacher, are beside the loss in `tables/pretrain_loss_<run>.png`.'
    ]
    return lines


def curve_rows(settings, methods: Dict[str, Tuple[str, str]]) -> str:
    """Markdown table of several settings (budgets): per model, k-NN and linear probe (mean over
    the setting's seeds) and the difference to random init of the same setting."""
    lines = [
        '| images | epochs | stages (multi-stage dBOT) | model | k-NN | linear probe | '
        'k-NN - random | linear - random |', '|---|---|---|---|---|---|---|---|'
    ]
    for setting, tables in sorted(settings, key=lambda p: (p[0].num_train, p[0].epochs)):
        stats = summary_stats(tables, methods)
        ref = stats.get('random', {})
        for key in ('random', *[k for k in methods if k in setting.methods]):
            row = stats.get(key, {})
            knn, lin = row.get('k-NN'), row.get('linear probe')
            dk, dl = gain(knn, ref.get('k-NN')), gain(lin, ref.get('linear probe'))
            label = 'random init' if key == 'random' else methods[key][1]
            lines.append(
                f'| {setting.num_train} | {setting.epochs} | {setting.stages} | {label} | '
                f'{_cell(knn)} | {_cell(lin)} | {"-" if dk is None else f"{dk[0]:+.1f}"} | '
                f'{"-" if dl is None else f"{dl[0]:+.1f}"} |')
    return '\n'.join(lines) + '\n'
