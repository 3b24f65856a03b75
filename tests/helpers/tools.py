"""The scripts of ``tools/`` (not a package) imported as modules."""
import importlib.util
import os.path as osp
from pathlib import Path
from types import ModuleType
from typing import Union

TOOLS = Path(__file__).resolve().parents[2] / 'tools'


def import_tool(path: Union[str, Path]) -> ModuleType:
    """A fresh module of ``path`` (absolute, or relative to ``tools/``: e.g.
    ``'analysis_tools/benchmark_pipeline.py'``), without running its ``__main__`` block."""
    path = Path(path) if osp.isabs(path) else TOOLS / path
    spec = importlib.util.spec_from_file_location(f'dbot_tools_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
