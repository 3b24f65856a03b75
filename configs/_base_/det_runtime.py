# Runtime of the COCO configs: mmdet's default runtime with dbot_mm registered (and mmseg.models
# for the multi-scale adapter mmseg.Feature2Pyramid), the 3 latest checkpoints kept, and the hooks
# of every run (see mmpretrain_runtime.py).
_base_ = 'mmdet::_base_/default_runtime.py'
custom_imports = dict(imports=['dbot_mm', 'mmseg.models'], allow_failed_imports=False)
default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook', max_keep_ckpts=3),
    nonfinite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'),
    run_record=dict(type='RunRecordHook'))
