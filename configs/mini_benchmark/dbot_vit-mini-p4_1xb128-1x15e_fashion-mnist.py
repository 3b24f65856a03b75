# Mini benchmark: the same dBOT run in ONE stage of 15 epochs, i.e. distillation from the frozen
# random teacher only, no bootstrapping (the paper's stage-count ablation).
_base_ = './dbot_vit-mini-p4_1xb128-3x5e_fashion-mnist.py'
stage_epochs = [0, 15]
param_scheduler = [dict(_base_.param_scheduler[0], stage_epochs=stage_epochs)]
custom_hooks = [
    dict(type='DBotBootstrapHook', stage_epochs=stage_epochs, reset_optimizer=False),
    dict(type='RandomStateHook'),
    _base_.custom_hooks[2],  # KNNWatchHook
]
