"""Benchmark tables from training logs: dBOT pretraining runs and the downstream runs that start
from their checkpoints, next to the paper's numbers.

``build_tables(paths)`` reads work dirs (or folders holding work dirs) and returns a
:class:`BenchmarkTables`; ``table_writer.write_outputs(tables, out_dir)`` writes markdown, CSV
and plots. Downstream metrics are the **last** validation result (and the best, for reference).
"""
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, TextIO, Tuple, Union

from .frozen import frozen_rows, read_frozen_eval
from .lineage import converted_from, init_checkpoint, link_checkpoint, link_converted, saved_folders
from .log_reader import Issue, find_work_dirs, is_frozen_eval_dir, read_work_dir
from .rows import MetricRow, PretrainRow, downstream_rows, pretrain_row, run_kind
from .seeds import SeedSummaryRow, seed_summary

PAPER_RESULTS = osp.join(osp.dirname(__file__), 'paper_results.json')
_PREFIX_NAMES = {'backbone.': 'student', 'teacher.': 'teacher'}


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


def load_paper_results(path: str = PAPER_RESULTS) -> dict:
    """The reference numbers (one JSON file, each number with its source)."""
    with open(path, encoding='utf-8') as f:
        return json.load(f)


class _IssueList(list):
    """Issues are printed as they are found, so a crash later still leaves them on stderr."""

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

    Problems (truncated lines, unfinished runs, missing metrics) are in ``tables.issues`` and,
    unless ``stream`` is None, printed there as ``file:line: message`` while reading.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paper = paper if paper is not None else load_paper_results()
    issues = _IssueList(stream)
    work_dirs = _unique([wd for p in paths for wd in find_work_dirs(str(p))])
    names = _run_names(work_dirs)
    logs = {wd: read_work_dir(wd, issues) for wd in work_dirs}

    frozen = {}
    for wd in work_dirs:
        if is_frozen_eval_dir(wd):
            ev = read_frozen_eval(wd, issues)
            if ev is not None:
                frozen[wd] = ev
    logs = {wd: read_work_dir(wd, issues) for wd in work_dirs if not is_frozen_eval_dir(wd)}

    pretrain, downstream, skipped = [], [], []
    for wd in work_dirs:
        if wd in frozen:
            downstream.append(wd)
            continue
        if wd not in logs:
            skipped.append((wd, f'unreadable {osp.basename(wd)}/frozen_eval.json'))
            continue
        kind = run_kind(logs[wd].cfg)
        if kind == 'pretrain':
            pretrain.append(wd)
        elif kind == 'downstream':
            downstream.append(wd)
        else:
            skipped.append((wd, kind))
            issues.append(Issue(wd, None, f'skipped: {kind}'))

    pre_rows = {wd: pretrain_row(names[wd], logs[wd], issues) for wd in pretrain}
    pre_folders = {wd: saved_folders(logs[wd]) for wd in pretrain}
    pre_files = {wd: set(logs[wd].checkpoints) for wd in pretrain}
    groups = {
        wd: DownstreamGroup(f'pretrain:{names[wd]}', f'From pretraining run `{names[wd]}`')
        for wd in pretrain
    }
    external = DownstreamGroup('external', 'From checkpoints outside the scanned pretraining '
                               'runs')
    scratch = DownstreamGroup('random_init', 'From random init (no pretraining checkpoint)')
    raw = DownstreamGroup('raw_pixels', 'Raw pixels (no network)')
    for wd in downstream:
        ev = frozen.get(wd)
        log = ev.as_log() if ev else logs[wd]
        ckpt, prefix = (ev.checkpoint, ev.prefix) if ev else init_checkpoint(log)
        teacher = 'bootstrap'
        if ev is not None and ev.raw_pixels:
            group, init, source = raw, 'raw pixels', 'raw pixels'
        elif ckpt is None:
            group, init, source = scratch, 'random init', 'random init'
        else:
            src, why_not = link_checkpoint(ckpt, log, pre_folders)
            if src is None and why_not is None:
                src, why_not = _link_converted(ckpt, log, pre_folders, pre_files)
            if why_not:
                issues.append(Issue(wd, None, why_not))
            if src is None:
                group, init, source = external, ckpt, osp.basename(ckpt)
            else:
                group, init = groups[src], osp.basename(ckpt)
                source = pre_rows[src].config or pre_rows[src].run
                teacher = pre_rows[src].external_teacher_arch or 'bootstrap'
            if ckpt not in group.checkpoints:
                group.checkpoints.append(ckpt)
        if prefix:
            init += f' ({_PREFIX_NAMES.get(prefix, prefix)})'
        rows = (
            frozen_rows(names[wd], ev, init, issues) if ev else downstream_rows(
                names[wd], log, init, teacher, paper, issues))
        for row in rows:
            row.source = source
        group.rows.extend(rows)
    ordered = sorted(groups.values(), key=lambda g: g.key) + [external, scratch, raw]
    return BenchmarkTables(
        pretrain=[pre_rows[wd] for wd in pretrain],
        groups=ordered,
        skipped=skipped,
        issues=list(issues),
        work_dirs=work_dirs,
        seed_summary=seed_summary([r for g in ordered for r in g.rows]))


def _link_converted(ckpt, log, pre_folders, pre_files) -> Tuple[Optional[str], Optional[str]]:
    """A checkpoint outside every scanned run that a converter wrote (e.g. an mmpretrain MAE
    checkpoint converted for our backbone) belongs to the run that wrote its source."""
    src = converted_from(ckpt, log)
    if src is None:
        return None, None
    owner, why_not = link_converted(src, pre_folders, pre_files)
    return owner, why_not


def _unique(paths: Iterable[str]) -> List[str]:
    seen, out = set(), []
    for p in paths:
        key = osp.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return sorted(out)


def _run_names(work_dirs: List[str]) -> Dict[str, str]:
    """Work dir paths relative to their common folder: short, and distinct for two runs of
    the same config (``work_dirs/a`` and ``work_dirs/a_2``, or ``x/a`` and ``y/a``)."""
    if len(work_dirs) == 1:
        return {work_dirs[0]: osp.basename(osp.normpath(work_dirs[0]))}
    root = osp.commonpath([osp.abspath(w) for w in work_dirs])
    return {w: osp.relpath(osp.abspath(w), root) for w in work_dirs}
