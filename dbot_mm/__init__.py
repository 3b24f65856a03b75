"""dbot_mm: dBOT pretraining and downstream evaluation on OpenMMLab.

Importing the package registers every project module (configs use
``custom_imports=dict(imports=['dbot_mm'])``).
"""
__version__ = '0.1.0'

from . import engine, models  # noqa: F401,E402
