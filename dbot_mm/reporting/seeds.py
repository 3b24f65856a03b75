"""Seed summary: runs that differ only by their seed, as mean ± sample std (n).

Group key: (pretraining config name, or 'random init' / 'raw pixels' / an outside checkpoint's
file name; the downstream or frozen-eval config name; method; metric). Two work dirs of one
pretraining config are one group, so each seed may pretrain anew.
"""
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .rows import MetricRow


@dataclass
class SeedSummaryRow:
    pretrain: str
    config: str
    task: str
    method: str
    metric: str
    mean: Optional[float]
    std: Optional[float]  # sample std (n - 1); None for n < 2
    n: int
    seeds: List[Optional[int]] = field(default_factory=list)
    runs: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


def seed_summary(rows: Sequence[MetricRow]) -> List[SeedSummaryRow]:
    """One row per group, in the order groups are first seen; rows without a number (a run
    with no metric) are left out of the mean and named in the notes."""
    groups: Dict[Tuple[str, str, str, str], List[MetricRow]] = {}
    for r in rows:
        groups.setdefault((r.source, r.config, r.method, r.metric), []).append(r)
    out = []
    for (source, config, method, metric), members in groups.items():
        vals = [r for r in members if r.last is not None]
        values, seeds = [r.last for r in vals], [r.seed for r in vals]
        repeated = sorted(s for s, c in Counter(seeds).items() if c > 1 and s is not None)
        missing = [r.run for r in members if r.last is None]
        checks = [(f'no metric in {", ".join(missing)}', missing),
                  (f'seed repeated: {repeated}', repeated),
                  ('seed unknown for some runs', None in seeds)]
        notes = [note for note, show in checks if show]
        out.append(
            SeedSummaryRow(source, config, members[0].task, method, metric,
                           statistics.mean(values) if values else None,
                           statistics.stdev(values) if len(values) > 1 else None, len(values),
                           seeds, [r.run for r in vals], notes))
    return out
