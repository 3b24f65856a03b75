"""Build a Runner for the tiny dBOT config on the generated ImageNet folder (shared by tests)."""
from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = REPO / 'configs/pretrain/dbot_vit-tiny_demo.py'


def tiny_cfg(work_dir, data_root, stage_epochs=None, **options) -> Config:
    cfg = Config.fromfile(TINY_CONFIG)
    cfg.work_dir = str(work_dir)
    cfg.train_dataloader.dataset.data_root = str(data_root)
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.log_level = 'WARNING'
    if stage_epochs is not None:
        cfg.train_cfg.max_epochs = stage_epochs[-1]
        cfg.param_scheduler[0].stage_epochs = stage_epochs
        shortest = min(b - a for a, b in zip(stage_epochs, stage_epochs[1:]))
        cfg.param_scheduler[0].warmup_epochs = min(1, shortest / 2)
        cfg.custom_hooks[0].stage_epochs = stage_epochs
    cfg.merge_from_dict(options)
    return cfg


def tiny_runner(work_dir, data_root, **kwargs) -> Runner:
    return Runner.from_cfg(tiny_cfg(work_dir, data_root, **kwargs))
