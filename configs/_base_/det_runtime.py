# Runtime of the COCO configs: mmdet's default runtime with dbot_mm registered (and mmseg.models
# for the multi-scale adapter mmseg.Feature2Pyramid), the 3 latest checkpoints kept.
_base_ = 'mmdet::_base_/default_runtime.py'
custom_imports = dict(imports=['dbot_mm', 'mmseg.models'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
