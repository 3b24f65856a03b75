"""Benchmark tables from work dirs: dBOT pretraining runs and the downstream runs and frozen-feature
evaluations that start from their checkpoints, next to the paper's numbers.

``build_tables(paths)`` reads each work dir once (its ``run_record.json`` and scalars, or its
``frozen_eval.json``) and returns a :class:`BenchmarkTables`; ``table_writer.write_outputs``
writes markdown, CSV and plots. Downstream metrics are the **last** validation result (and the
best, for reference).
"""
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, TextIO, Tuple, Union

from .frozen import frozen_rows
from .labels import run_kind
from .lineage import find_owner, launch_folder, saved_folders
from .paper import load_paper_results
from .record import FROZEN_EVAL, RUN_RECORD, Issue, find_work_dirs, read_json, read_run
from .rows import MetricRow, PretrainRow, downstream_rows, pretrain_row
from .seeds import SeedSummaryRow, seed_summary

_PREFIX_NAMES = {'backbone.': 'student', 'teacher.': 'teacher'}
NO_RECORD = (f'no {RUN_RECORD} (run before dbot_mm recorded its runs): record it with '
             '`tools/train.py CONFIG --work-dir {wd} --resume` (a finished run stops at once) or '
             '`tools/test.py CONFIG CHECKPOINT --work-dir {wd}`')


@dataclass
class DownstreamGroup:
    """The downstream runs (and frozen-feature evaluations) of one pretraining run, of outside
    checkpoints, of random init, or of raw pixels."""
    key: str  # 'pretrain:<run>' | 'external' | 'random_init' | 'raw_pixels'
    title: str
    checkpoints: List[str] = field(default_factory=list)
    rows: List[MetricRow] = field(default_factory=list)


@dataclass
class BenchmarkTables:
    pretrain: List[PretrainRow]
    groups: List[DownstreamGroup]
    skipped: List[Tuple[str, str]]  # (work dir, why)
    issues: List[Issue]
    work_dirs: List[str]
    seed_summary: List[SeedSummaryRow] = field(default_factory=list)


class _IssueList(list):
    """Printed as found, so a crash later still leaves them on stderr."""

    def __init__(self, stream: Optional[TextIO]):
        super().__init__()
        self.stream = stream

    def append(self, issue: Issue) -> None:
        super().append(issue)
        if self.stream is not None:
            print(issue, file=self.stream)


def build_tables(paths: Union[str, Sequence[str]],
                 paper: Optional[dict] = None,
                 stream: Optional[TextIO] = sys.stderr) -> BenchmarkTables:
    """Read work dirs (or folders of work dirs) and build every table.

    Problems (truncated lines, unfinished runs, missing metrics) are in ``tables.issues``, work
    dirs left out in ``tables.skipped``; unless ``stream`` is None, both are printed there once,
    while reading.
    """
    paths = [paths] if isinstance(paths, (str, os.PathLike)) else paths
    paper = paper if paper is not None else load_paper_results()
    issues = _IssueList(stream)
    work_dirs = sorted({osp.realpath(w): w for p in paths for w in find_work_dirs(str(p))}.values())
    names = _run_names(work_dirs)
    kinds, data, skipped = {}, {}, []
    for wd in work_dirs:  # each read once
        if osp.isfile(osp.join(wd, FROZEN_EVAL)):
            data[wd] = read_json(osp.join(wd, FROZEN_EVAL), 'FrozenFeatureEval', issues)
            kind = 'frozen' if data[wd] else f'unreadable {FROZEN_EVAL}'
        elif osp.isfile(osp.join(wd, RUN_RECORD)):
            data[wd] = read_run(wd, issues)
            kind = run_kind(data[wd].cfg) if data[wd] else f'unreadable {RUN_RECORD}'
        else:
            kind = NO_RECORD.format(wd=wd)
        if kind in ('pretrain', 'downstream', 'frozen'):
            kinds[wd] = kind
        else:
            skipped.append((wd, kind))
            if stream is not None:
                print(f'{wd}: skipped: {kind}', file=stream)
    pre = {wd: data[wd] for wd, kind in kinds.items() if kind == 'pretrain'}
    pre_rows = {wd: pretrain_row(names[wd], run, issues) for wd, run in pre.items()}
    pre_folders = {wd: saved_folders(run) for wd, run in pre.items()}
    pre_files = {wd: {n for n in os.listdir(wd) if n.endswith('.pth')} for wd in pre}
    groups = {
        wd: DownstreamGroup(f'pretrain:{names[wd]}', f'From pretraining run `{names[wd]}`')
        for wd in pre
    }
    external = DownstreamGroup('external', 'From checkpoints outside the scanned pretraining runs')
    scratch = DownstreamGroup('random_init', 'From random init (no pretraining checkpoint)')
    raw = DownstreamGroup('raw_pixels', 'Raw pixels (no network)')
    for wd, kind in kinds.items():
        if kind == 'pretrain':
            continue
        ev, run = (data[wd], None) if kind == 'frozen' else (None, data[wd])
        if ev is not None:
            ckpt, prefix, meta, launch = ev.get('checkpoint'), ev.get('prefix'), None, None
        else:
            init = run.record.get('init') or {}
            ckpt, prefix, meta = init.get('checkpoint'), init.get('prefix'), init.get('meta')
            launch = launch_folder(run)
        teacher = 'bootstrap'
        if ev is not None and ev.get('features') == 'raw_pixels':
            group, init, source = raw, 'raw pixels', 'raw pixels'
        elif not ckpt:
            group, init, source = scratch, 'random init', 'random init'
        else:
            src, why_not = find_owner(ckpt, meta, launch, pre_folders, pre_files)
            if why_not:
                issues.append(Issue(wd, None, why_not))
            if src is None:
                group, init, source = external, ckpt, osp.basename(ckpt)
            else:
                group, init = groups[src], osp.basename(ckpt)
                source = pre_rows[src].config or pre_rows[src].run
                teacher = pre_rows[src].teacher_key or 'bootstrap'
            if ckpt not in group.checkpoints:
                group.checkpoints.append(ckpt)
        if prefix:
            init += f' ({_PREFIX_NAMES.get(prefix, prefix)})'
        rows = (
            frozen_rows(names[wd], wd, ev, init, issues) if ev is not None else downstream_rows(
                names[wd], run, init, teacher, paper, issues))
        for row in rows:
            row.source = source
        group.rows.extend(rows)
    ordered = sorted(groups.values(), key=lambda g: g.key) + [external, scratch, raw]
    return BenchmarkTables(
        pretrain=list(pre_rows.values()),
        groups=ordered,
        skipped=skipped,
        issues=list(issues),
        work_dirs=work_dirs,
        seed_summary=seed_summary([r for g in ordered for r in g.rows]))


def _run_names(work_dirs: List[str]) -> Dict[str, str]:
    """Work dir paths relative to their common folder: short, and distinct for two runs of
    the same config (``work_dirs/a`` and ``work_dirs/a_2``, or ``x/a`` and ``y/a``)."""
    if len(work_dirs) == 1:
        return {work_dirs[0]: osp.basename(osp.normpath(work_dirs[0]))}
    root = osp.commonpath([osp.abspath(w) for w in work_dirs])
    return {w: osp.relpath(osp.abspath(w), root) for w in work_dirs}
