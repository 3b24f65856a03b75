# Runtime of dBOT pretraining: the mmpretrain runtime with a checkpoint every 20 epochs (the
# end-of-stage snapshots are written by DBotBootstrapHook and never rotated).
_base_ = './mmpretrain_runtime.py'
default_hooks = dict(checkpoint=dict(interval=20))
