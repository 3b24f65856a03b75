"""dbot_mm: dBOT pretraining and downstream evaluation on OpenMMLab.

Importing the package registers the library's datasets, transforms, models and engine (configs
use ``custom_imports=dict(imports=['dbot_mm'])``), and allow-lists the plain data classes of
mmengine checkpoints for torch's ``weights_only`` loading (see dbot_mm/utils/checkpoint.py).
``dbot_mm.reporting`` (tables from logs) and ``dbot_mm.testing`` (synthetic data) are imported
only where they are used.
"""
__version__ = '0.1.0'

from .utils import register_checkpoint_safe_globals  # noqa: E402

register_checkpoint_safe_globals()

from . import datasets, engine, models  # noqa: F401,E402
