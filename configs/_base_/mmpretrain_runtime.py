# Runtime of the mmpretrain-scope configs (ImageNet fine-tuning, linear probe, dBOT pretraining):
# mmpretrain's default runtime with dbot_mm registered, the 3 latest checkpoints kept, a log
# window of 10 iterations and a fixed seed that differs per rank. The hooks of every run
# (dbot_mm/engine/hooks; the det and seg runtimes name them too): checkpoints written atomically,
# SIGTERM saves and exits with code 75, a non-finite loss without a loss scaler stops the run,
# WORK_DIR/run_record.json records the run for the tables.
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['dbot_mm'], allow_failed_imports=False)
default_hooks = dict(
    checkpoint=dict(type='SafeCheckpointHook', max_keep_ckpts=3),
    nonfinite_loss=dict(type='NonFiniteLossHook'),
    preemption=dict(type='PreemptionHook'),
    run_record=dict(type='RunRecordHook'))
log_processor = dict(window_size=10)
randomness = dict(_delete_=True, seed=0, diff_rank_seed=True)
