"""Benchmark tables from training logs (standard library + matplotlib; no torch import)."""
from .benchmark_tables import (BenchmarkTables, DownstreamGroup, MetricRow, PretrainRow,
                               build_tables, load_paper_results)
from .log_reader import Issue, find_work_dirs, read_work_dir
from .table_writer import render_markdown, write_outputs

__all__ = [
    'BenchmarkTables', 'DownstreamGroup', 'MetricRow', 'PretrainRow', 'Issue', 'build_tables',
    'load_paper_results', 'find_work_dirs', 'read_work_dir', 'render_markdown', 'write_outputs'
]
