"""Evaluation helpers of ``tools/test.py``, as ``mmdet.evaluation``. Not imported by
``import dbot_mm``: importing it imports mmdet and mmseg."""
from .dump_results import DumpSegResults, build_dump_metric

__all__ = ['DumpSegResults', 'build_dump_metric']
