"""Benchmark tables (markdown, CSV, plots) from the run records and scalars of mmengine work dirs
and from frozen-feature evaluations."""
from .paper import load_paper_results
from .record import Issue, Run, find_work_dirs, read_run
from .rows import MetricRow, PretrainRow
from .seeds import SeedSummaryRow, seed_summary
from .table_writer import render_markdown, write_outputs
from .tables import BenchmarkTables, DownstreamGroup, build_tables

__all__ = [
    'BenchmarkTables', 'DownstreamGroup', 'MetricRow', 'PretrainRow', 'Issue', 'Run',
    'SeedSummaryRow', 'build_tables', 'load_paper_results', 'find_work_dirs', 'read_run',
    'render_markdown', 'seed_summary', 'write_outputs'
]
