# Runtime of the ADE20K configs: mmseg's default runtime with dbot_mm registered and the hooks of
# mmseg's iteration-based schedules (their _base_/schedules files, which also hold the SGD
# optimizer); metrics logged by iteration, a checkpoint every 16k iterations, the 3 latest kept,
# and the hooks of every run (see mmpretrain_runtime.py).
_base_ = 'mmseg::_base_/default_runtime.py'
custom_imports = dict(imports=['dbot_mm'], allow_failed_imports=False)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='SafeCheckpointHook', by_epoch=False, interval=16000, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
    nonfinite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'),
    run_record=dict(type='RunRecordHook'))
