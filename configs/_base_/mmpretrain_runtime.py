# Runtime of the mmpretrain-scope configs (ImageNet fine-tuning, linear probe, dBOT pretraining):
# mmpretrain's default runtime with dbot_mm registered, the 3 latest checkpoints kept, a log
# window of 10 iterations and a fixed seed that differs per rank.
_base_ = 'mmpretrain::_base_/default_runtime.py'
custom_imports = dict(imports=['dbot_mm'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))
log_processor = dict(window_size=10)
randomness = dict(_delete_=True, seed=0, diff_rank_seed=True)
