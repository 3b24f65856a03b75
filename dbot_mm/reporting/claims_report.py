"""The report of ``tools/analysis_tools/mini_benchmark_claims.py``: claim (b) (stage length at an
equal budget) and claim (a) (teachers of different kinds), mean ± sample std over seeds, read
from the runs' ``frozen_eval.json``, ``scalars.json`` (watched k-NN) and
``representations.json``."""
import json
import os.path as osp
import statistics
from typing import Callable, Dict, List, Optional

from .mini_report import gain
from .record import read_run


def _stat(values: List[float]) -> Optional[tuple]:
    values = [v for v in values if v is not None]
    if not values:
        return None
    return (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None,
            len(values))


def _cell(stat: Optional[tuple]) -> str:
    if stat is None:
        return '-'
    mean, std, n = stat
    return f'{mean:.1f} ± {std:.1f}' if std is not None else f'{mean:.1f} (n={n})'


def _diff(a: Optional[tuple], b: Optional[tuple]) -> str:
    g = gain(a, b)
    return '-' if g is None else f'{g[0]:+.1f} ({g[1]:.1f})'


def frozen(out: str, run: str) -> Dict[str, Optional[float]]:
    """k-NN and linear-probe top-1 of ``frozen_<run>/frozen_eval.json`` (None if missing)."""
    path = osp.join(out, f'frozen_{run}', 'frozen_eval.json')
    if not osp.isfile(path):
        return dict(knn=None, linear=None)
    with open(path) as f:
        data = json.load(f)
    return dict(knn=data['knn']['top1'], linear=data['linear']['top1'])


def watched(out: str, run: str) -> Dict[str, Dict[int, float]]:
    """'teacher' / 'student' -> epoch -> watched k-NN top-1 (KNNWatchHook) of a run."""
    result = {'teacher': {}, 'student': {}}
    r = read_run(osp.join(out, run), [])
    if r is None:
        return result
    for rec in r.val:
        for who in result:
            value = rec.get(f'knn/{who}_top1')
            if isinstance(value, (int, float)):
                result[who][int(rec['step'])] = float(value)
    return result


def properties(out: str, seed: int) -> Dict[str, Dict[str, float]]:
    """run label -> mean attention distance (px, all heads and blocks) and top-1 singular value
    share (mean over blocks) from ``representations_seed<seed>/representations.json``."""
    path = osp.join(out, f'representations_seed{seed}', 'representations.json')
    if not osp.isfile(path):
        return {}
    with open(path) as f:
        models = json.load(f)['models']
    return {
        m['label']:
        dict(
            attn=statistics.fmean(statistics.fmean(h) for h in m['attention_distance']),
            attn_last=statistics.fmean(m['attention_distance'][-1]),
            sv_top1=statistics.fmean(ks[0] for ks in m['singular_value_percentage']))
        for m in models
    }


def plot_curves(args, out: str, path: str) -> Optional[str]:
    """``path``: the watched k-NN of the student (lines) and of each stage's teacher (dots) over
    the epochs, mean over seeds, one panel per budget, one colour per stage count."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(args.budgets), figsize=(5 * len(args.budgets), 3.6), squeeze=False)
    drawn = False
    for ax, epochs in zip(axes[0], args.budgets):
        for k, colour in zip(args.stage_counts, ('C0', 'C1', 'C2', 'C3', 'C4')):
            curves = [watched(out, f'dbot-{k}x{epochs // k}e_seed{s}') for s in args.seeds]
            for who, style in (('student', '-o'), ('teacher', 's')):
                steps = sorted(set.intersection(*[set(c[who]) for c in curves]))
                if not steps:
                    continue
                means = [statistics.fmean(c[who][e] for c in curves) for e in steps]
                xs = [e - 1 if who == 'teacher' else e for e in steps]  # a teacher at its start
                label = f'{k} x {epochs // k}: student' if who == 'student' else 'teacher'
                ax.plot(
                    xs,
                    means,
                    style,
                    color=colour,
                    ms=3 if who == 'student' else 6,
                    label=label if who == 'student' or k == args.stage_counts[0] else None,
                    mfc='white' if who == 'teacher' else colour)
                drawn = True
        ax.set(title=f'{epochs} epochs in all', xlabel='epoch', ylabel='watched k-NN top-1 (%)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if not drawn:
        plt.close(fig)
        return None
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def claims_report(args, out: str, models: Dict[str, str], teachers: Dict[str, str],
                  students: Callable) -> tuple:
    """(markdown, results dict) for both claims."""
    seeds = args.seeds
    results = dict(seeds=seeds, num_train=args.num_train, budgets=args.budgets, b={}, a={})
    lines = [
        f'# Mini benchmark: the paper\'s claims ({args.num_train} train / {args.num_val} '
        f'test images, seeds {seeds})', ''
    ]
    timing = osp.join(out, 'timing.json')
    if osp.isfile(timing):
        with open(timing) as f:
            t = json.load(f)
        lines += [f"Wall time {t['minutes']} min, load average {t['load']}.", '']

    def stats(run_of_seed):
        per = [frozen(out, run_of_seed(s)) for s in seeds]
        return {p: _stat([x[p] for x in per]) for p in ('knn', 'linear')}

    random = stats(lambda s: f'random-init_seed{s}')
    raw = frozen(out, 'raw-pixels')
    # ------------------------------------------------------------------ claim (b)
    lines += ['## (b) Stage length at an equal budget', '']
    lines += [
        '| budget | model | k-NN | linear probe | k-NN - 1 stage | linear - 1 stage |',
        '|---|---|---|---|---|---|'
    ]
    for epochs in args.budgets:
        one = stats(lambda s: f'dbot-1x{epochs}e_seed{s}')
        rows = [(f'dBOT, {k} x {epochs // k} epochs',
                 stats(lambda s, k=k: f'dbot-{k}x{epochs // k}e_seed{s}'))
                for k in args.stage_counts]
        rows.append((f'MAE, {epochs} epochs', stats(lambda s: f'mae-{epochs}e_seed{s}')))
        for label, st in rows:
            lines.append(f"| {epochs} | {label} | {_cell(st['knn'])} | {_cell(st['linear'])} | "
                         f"{_diff(st['knn'], one['knn'])} | {_diff(st['linear'], one['linear'])} |")
            results['b'][f'{epochs}/{label}'] = st
    lines.append(f"| - | random init | {_cell(random['knn'])} | {_cell(random['linear'])} | | |")
    lines.append(f"| - | raw pixels | {_fmt(raw['knn'])} | {_fmt(raw['linear'])} | | |")
    results['b']['random init'], results['b']['raw pixels'] = random, raw
    lines += ['', '(difference (spread): spread = sqrt(std_a^2 + std_b^2).)', '']
    lines += [
        'Watched k-NN (1000 test images: 500 memory, 500 queries) of each stage\'s teacher '
        'at its start and of the student at its end:', ''
    ]
    lines += [
        '| budget | stages | stage | teacher at start | student at end |', '|---|---|---|---|---|'
    ]
    for epochs in args.budgets:
        for k in args.stage_counts:
            curves = [watched(out, f'dbot-{k}x{epochs // k}e_seed{s}') for s in seeds]
            step = epochs // k
            for stage in range(k):
                teacher = _stat([c['teacher'].get(stage * step + 1)
                                 for c in curves])  # logged at 1 + start
                student = _stat([c['student'].get((stage + 1) * step) for c in curves])
                lines.append(
                    f'| {epochs} | {k} | {stage + 1} | {_cell(teacher)} | {_cell(student)} |')
                results['b'][f'curve/{epochs}/{k}/{stage + 1}'] = dict(
                    teacher=teacher, student=student)
    # ------------------------------------------------------------------ claim (a)
    lines += ['', f'## (a) Teachers of different kinds ({args.distill_epochs} epochs a stage)', '']
    lines += [
        '| teacher | teacher k-NN (watched) | stage 1: k-NN | linear probe | stage 2: k-NN | '
        'linear probe |', '|---|---|---|---|---|---|'
    ]
    props = {s: properties(out, s) for s in seeds}
    per_stage = {1: {}, 2: {}}
    for kind, label in teachers.items():
        runs = {st: {s: students(args, s, st)[kind] for s in seeds} for st in (1, 2)}
        t_knn = _stat([watched(out, runs[1][s])['teacher'].get(1) for s in seeds])
        cells = [f'| {label} | {_cell(t_knn)}']
        for st in (1, 2):
            x = stats(lambda s, st=st: runs[st][s])
            x['attn'] = _stat([props[s].get(runs[st][s], {}).get('attn') for s in seeds])
            x['attn_last'] = _stat([props[s].get(runs[st][s], {}).get('attn_last') for s in seeds])
            x['sv_top1'] = _stat([props[s].get(runs[st][s], {}).get('sv_top1') for s in seeds])
            per_stage[st][kind] = x
            cells.append(f"{_cell(x['knn'])} | {_cell(x['linear'])}")
        lines.append(' | '.join(cells) + ' |')
        results['a'][kind] = dict(
            teacher_knn=t_knn, stage1=per_stage[1][kind], stage2=per_stage[2][kind])
    lines += [
        '', 'Property analysis of the students (500 test images): mean attention distance '
        '(px of 32, all heads and blocks / last block) and top-1 singular value share of the '
        'normalised tokens (mean over blocks):', ''
    ]
    lines += [
        '| teacher | stage | attention distance | last block | top-1 SV share |',
        '|---|---|---|---|---|'
    ]
    for st in (1, 2):
        for kind, label in teachers.items():
            x = per_stage[st][kind]
            sv = x['sv_top1']
            sv_cell = f'{sv[0]:.3f} ± {sv[1]:.3f}' if sv and sv[1] is not None else '-'
            lines.append(
                f"| {label} | {st} | {_cell(x['attn'])} | {_cell(x['attn_last'])} | {sv_cell} |")
    lines += [
        '', 'How close the students are: range of the means over teacher kinds against the mean '
        'seed std:', ''
    ]
    lines += ['| stage | metric | range of means | mean seed std |', '|---|---|---|---|']
    for st in (1, 2):
        for metric in ('knn', 'linear', 'attn', 'sv_top1'):
            vals = [per_stage[st][k][metric] for k in teachers if per_stage[st][k][metric]]
            if not vals:
                continue
            rng = max(v[0] for v in vals) - min(v[0] for v in vals)
            std = statistics.fmean(v[1] or 0. for v in vals)
            fmt = '.3f' if metric == 'sv_top1' else '.1f'
            lines.append(f'| {st} | {metric} | {rng:{fmt}} | {std:{fmt}} |')
            results['a'][f'spread/{st}/{metric}'] = dict(range=rng, seed_std=std)
    return '\n'.join(lines) + '\n', results


def _fmt(v: Optional[float]) -> str:
    return '-' if v is None else f'{v:.1f}'
