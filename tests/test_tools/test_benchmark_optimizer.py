"""tools/analysis_tools/benchmark_optimizer.py on the tiny pretraining config: both optimizers
hold the same trainable tensors, one group per parameter against one per weight decay."""
from pathlib import Path

import pytest

from tests.helpers.tools import import_tool

REPO = Path(__file__).resolve().parents[2]


def _tool():
    path = REPO / 'tools/analysis_tools/benchmark_optimizer.py'
    return import_tool(path)


def test_per_parameter_against_merged_groups(capsys):
    out = _tool().main([
        str(REPO / 'configs/pretrain/dbot_vit-tiny_demo.py'), '--overhead-only', '--steps', '1',
        '--repeats', '2'
    ])
    per_param, merged = out['results']
    assert merged['groups'] == 2  # weight decay 0.05 and 0
    assert per_param['groups'] > 20  # one per trainable tensor of the tiny student and decoder
    assert per_param['ms_per_step'] > 0 and merged['ms_per_step'] > 0 and out['ratio'] > 0
    assert 'per-parameter / merged step time' in capsys.readouterr().out


def test_config_without_paramwise_cfg_is_refused(tmp_path):
    config = tmp_path / 'plain.py'
    config.write_text(f"_base_ = '{REPO / 'configs/pretrain/dbot_vit-tiny_demo.py'}'\n"
                      "optim_wrapper = dict(paramwise_cfg=dict(_delete_=True))\n")
    with pytest.raises(SystemExit):
        _tool().main([str(config)])
