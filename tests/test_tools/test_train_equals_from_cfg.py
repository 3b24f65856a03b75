"""The config is the whole run: ``Runner.from_cfg(cfg)`` builds what ``tools/train.py`` runs.

Both are built on the demo configs of each scope with generated data; a probe hook (named the same
way in both) keeps the Runner that ``tools/train.py``'s ``main()`` built and stops it before it
trains. The snapshots (tests/data/config_snapshots) show that every shipped config names the same
hooks in its ``default_hooks``.
"""
import json
import sys
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner, get_priority

from tests.helpers.tools import import_tool
from tests.test_configs.test_config_snapshot import shipped_configs, snapshot_path

ROOT = Path(__file__).resolve().parents[2]
DEMOS = {
    'configs/pretrain/dbot_vit-tiny_demo.py': 'imagenet_root',
    'configs/cls/vit-tiny-p8_1xb16-demo_in1k.py': 'imagenet_root',
    'configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py': 'coco_root',
    'configs/seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py': 'ade_root',
}
RESILIENCE = dict(
    checkpoint='SafeCheckpointHook',
    nonfinite_loss='NonFiniteLossHook',
    preemption='PreemptionHook',
    run_record='RunRecordHook')


class _Built(Exception):
    pass


@HOOKS.register_module(force=True)
class KeepRunnerHook(Hook):
    """Keeps the runner of the run that calls it and ends that run at ``before_run``."""
    runners = []

    def before_run(self, runner) -> None:
        self.runners.append(runner)
        raise _Built


def _options(config, root, work_dir):
    cfg = Config.fromfile(ROOT / config)
    options = {'default_hooks.keep.type': 'KeepRunnerHook'}
    for split in ('train', 'val', 'test'):
        dataset = f'{split}_dataloader.dataset'
        if cfg.get(f'{split}_dataloader'):
            nested = cfg[f'{split}_dataloader'].dataset.get('dataset') is not None
            options[f'{dataset}.dataset.data_root' if nested else f'{dataset}.data_root'] = root
        ann_file = (cfg.get(f'{split}_evaluator') or {}).get('ann_file')
        if ann_file:  # mmdet's CocoMetric reads the annotations itself
            options[f'{split}_evaluator.ann_file'] = f'{root}/annotations/{Path(ann_file).name}'
    return ['--work-dir', str(work_dir), '--cfg-options'] + [f'{k}={v}' for k, v in options.items()]


def _summary(runner):
    hooks = [(type(hook).__name__, get_priority(hook.priority)) for hook in runner.hooks]
    cfg = {k: v for k, v in runner.cfg.to_dict().items() if k != 'launcher'}
    return dict(hooks=hooks, model=type(runner.model).__name__, cfg=cfg)


@pytest.mark.parametrize('config', sorted(DEMOS))
def test_runner_from_cfg_equals_tools_train(config, request, tmp_path, monkeypatch):
    root = request.getfixturevalue(DEMOS[config])
    argv = _options(config, root, tmp_path)
    monkeypatch.setattr(sys, 'argv', ['train.py', str(ROOT / config), *argv])
    with pytest.raises(_Built):
        import_tool(ROOT / 'tools' / 'train.py').main()
    tool = _summary(KeepRunnerHook.runners.pop())

    cfg = Config.fromfile(ROOT / config)
    cfg.work_dir = str(tmp_path)
    cfg.merge_from_dict(dict(kv.split('=', 1) for kv in argv[3:]))
    plain = _summary(Runner.from_cfg(cfg))
    assert plain == tool

    names = [name for name, _ in tool['hooks']]
    assert set(RESILIENCE.values()) <= set(names), names
    # a non-finite loss stops the run before a checkpoint of that iteration is written; a
    # preemption saves after the iteration's checkpoint hook
    assert names.index('NonFiniteLossHook') < names.index('SafeCheckpointHook') < names.index(
        'PreemptionHook')


def test_every_shipped_config_names_the_resilience_hooks():
    for config in shipped_configs():
        hooks = json.loads(snapshot_path(config).read_text())['default_hooks']
        assert {k: hooks.get(k, {}).get('type') for k in RESILIENCE} == RESILIENCE, config
