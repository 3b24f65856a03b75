"""Benchmark tables (markdown, CSV, plots) from the logs mmengine runs leave in their work dirs."""
from .frozen import FrozenEval, read_frozen_eval
from .log_reader import Issue, find_work_dirs, read_work_dir
from .rows import MetricRow, PretrainRow
from .seeds import SeedSummaryRow, seed_summary
from .table_writer import render_markdown, write_outputs
from .tables import BenchmarkTables, DownstreamGroup, build_tables, load_paper_results

__all__ = [
    'BenchmarkTables', 'DownstreamGroup', 'FrozenEval', 'MetricRow', 'PretrainRow', 'Issue',
    'SeedSummaryRow', 'build_tables', 'load_paper_results', 'find_work_dirs', 'read_frozen_eval',
    'read_work_dir', 'render_markdown', 'seed_summary', 'write_outputs'
]
