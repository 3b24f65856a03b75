"""tools/analysis_tools/benchmark_step_split.py: a pretraining step's time per part, for dBOT
(teacher apart) and mmpretrain's MAE (no teacher), from the configs' own loaders and optimizers."""
import json

import numpy as np
from PIL import Image

from tests.helpers.tools import import_tool

CFG = 'configs/mini_benchmark'


def test_parts_of_a_step_for_dbot_and_mae(tmp_path, capsys):
    tool = import_tool('analysis_tools/benchmark_step_split.py')
    rng = np.random.default_rng(0)
    for i in range(8):
        cls = tmp_path / 'data' / 'train' / f'c{i % 2}'
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), np.uint8)).save(cls / f'{i}.png')
    out = tmp_path / 'split.json'
    tool.main([
        f'{CFG}/dbot_vit-mini-p4_1xb128-1x15e_fashion-mnist.py',
        f'{CFG}/mae_vit-mini-p4_1xb128-15e_fashion-mnist.py', '--labels', 'dbot', 'mae', '--warmup',
        '1', '--steps', '2', '--rounds', '1', '--out',
        str(out), '--cfg-options', f'train_dataloader.dataset.dataset.data_root={tmp_path}/data',
        'train_dataloader.batch_size=4', 'custom_hooks=[]'
    ])
    result = json.loads(out.read_text())
    assert set(result['ms_per_step']) == {'dbot', 'mae'}
    dbot, mae = result['ms_per_step']['dbot'], result['ms_per_step']['mae']
    assert set(dbot) == set(tool.PARTS) | {'total'}
    assert dbot['total'] == sum(dbot[k] for k in tool.PARTS)
    assert all(v > 0 for v in dbot.values())
    assert mae['teacher'] == 0 and all(v > 0 for k, v in mae.items() if k != 'teacher')
    assert result['batch'] == {'dbot': 4, 'mae': 4}
    table = capsys.readouterr().out
    assert '| dbot | 4 |' in table and '| mae | 4 |' in table
