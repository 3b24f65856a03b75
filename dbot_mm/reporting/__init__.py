"""Benchmark tables (markdown, CSV, plots) from the logs mmengine runs leave in their work dirs."""
from .log_reader import Issue, find_work_dirs, read_work_dir
from .rows import MetricRow, PretrainRow
from .table_writer import render_markdown, write_outputs
from .tables import BenchmarkTables, DownstreamGroup, build_tables, load_paper_results

__all__ = [
    'BenchmarkTables', 'DownstreamGroup', 'MetricRow', 'PretrainRow', 'Issue', 'build_tables',
    'load_paper_results', 'find_work_dirs', 'read_work_dir', 'render_markdown', 'write_outputs'
]
