"""Evaluation helpers of ``tools/test.py``, as ``mmdet.evaluation``. Not imported by
``import dbot_mm``: importing it imports mmdet and mmseg."""
from .dump_results import DumpSegResults, build_dump_metric
from .frozen_protocols import knn_accuracy, linear_probe_accuracy

__all__ = ['DumpSegResults', 'build_dump_metric', 'knn_accuracy', 'linear_probe_accuracy']
