"""Datasets and transforms registered in mmpretrain's registries; configs load them with
``custom_imports=dict(imports=['dbot_mm'])`` (``import dbot_mm`` imports this package)."""
from .image_folder import *  # noqa: F401,F403
from .inaturalist import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403
