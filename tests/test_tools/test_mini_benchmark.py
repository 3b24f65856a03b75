"""The mini benchmark's moving parts on a tiny subset of the real Fashion-MNIST files: the folder
converter, its schedules, every config it runs (one training step each), one end-to-end run of
the tool and the report's arithmetic."""
import gzip
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from PIL import Image

import dbot_mm  # noqa: F401
from tests.helpers.tools import import_tool

REPO = Path(__file__).resolve().parents[2]
SOURCE = Path('/usr/share/datasets/fashion-mnist')
CONVERTER = REPO / 'tools/dataset_converters/fashion_mnist_to_folder.py'
TOOL = REPO / 'tools/analysis_tools/mini_benchmark.py'
CFG = REPO / 'configs/mini_benchmark'


def _load_tool():
    return import_tool(TOOL)


def _idx_labels(name):
    with gzip.open(SOURCE / name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=8)


@pytest.fixture(scope='module')
def fashion_folder(tmp_path_factory):
    if not SOURCE.is_dir():
        pytest.fail(f'{SOURCE} missing: `make setup` installs the Debian package '
                    'dataset-fashion-mnist')
    out = tmp_path_factory.mktemp('fashion') / 'data'
    subprocess.run([sys.executable, CONVERTER, out, '--num-train', '60', '--num-val', '20'],
                   check=True)
    return out


def test_converter_writes_the_idx_images_and_labels(fashion_folder):
    for split, n, labels in (('train', 60, 'train-labels-idx1-ubyte.gz'),
                             ('val', 20, 't10k-labels-idx1-ubyte.gz')):
        files = sorted((fashion_folder / split).glob('*/*.png'))
        assert len(files) == n
        assert len(list((fashion_folder / split).iterdir())) == 10
        expected = _idx_labels(labels)[:n]
        for f in files:
            index, label = int(f.stem), int(f.parent.name.split('_')[0])
            assert label == expected[index]
        img = np.asarray(Image.open(files[0]))
        assert img.shape == (32, 32) and img.dtype == np.uint8
        assert not img[:2].any() and not img[:, -2:].any()  # the zero padding
        assert img[2:-2, 2:-2].any()
    again = subprocess.run(
        [sys.executable, CONVERTER, fashion_folder, '--num-train', '60', '--num-val', '20'],
        capture_output=True,
        text=True,
        check=True)
    assert 'already written' in again.stdout


def test_converter_names_a_missing_source(tmp_path):
    proc = subprocess.run([sys.executable, CONVERTER, tmp_path / 'out', '--source', tmp_path],
                          capture_output=True,
                          text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().count('\n') == 0
    assert 'train-images-idx3-ubyte.gz' in proc.stderr and 'dataset-fashion-mnist' in proc.stderr


def test_schedules_follow_the_setting():
    tool = _load_tool()
    s = tool.Setting(1000, 100, 15, 3, (0, ))
    assert tool.stage_epochs(s, 'dbot') == [0, 5, 10, 15]
    assert tool.stage_epochs(s, 'dbot-1stage') == [0, 15]
    assert tool.stage_epochs(s, 'mae') == [0, 15]
    opts = tool.pretrain_options(s, 'dbot', 2, '/data')
    assert opts['custom_hooks.0.stage_epochs'] == '[0,5,10,15]'
    assert opts['randomness.seed'] == 2 and opts['train_cfg.max_epochs'] == 15
    assert 'custom_hooks.0.stage_epochs' not in tool.pretrain_options(s, 'mae', 0, '/data')
    with pytest.raises(SystemExit):
        tool.parse_args(['--epochs', '10', '--stages', '3'])


@pytest.mark.parametrize('config', [
    'dbot_vit-mini-p4_1xb128-3x5e_fashion-mnist.py',
    'dbot_vit-mini-p4_1xb128-1x15e_fashion-mnist.py',
    'mae_vit-mini-p4_1xb128-15e_fashion-mnist.py',
    'vit-mini-p4_1xb128-ft-3e_fashion-mnist.py',
])
def test_config_trains_a_step_on_the_real_folder(config, fashion_folder):
    from mmpretrain.registry import DATASETS, MODELS
    cfg = Config.fromfile(CFG / config)
    init_default_scope('mmpretrain')
    ds_cfg = cfg.train_dataloader.dataset
    inner = ds_cfg.get('dataset', ds_cfg)  # the pretraining loaders wrap it in SeededDataset
    inner.data_root = str(fashion_folder)
    if cfg.model.backbone.get('init_cfg'):
        cfg.model.backbone.init_cfg = None
    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) == 60
    batch = default_collate([dataset[i] for i in range(16)])
    assert batch['inputs'][0].shape == (3, 32, 32)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    losses = model.train_step(batch, wrapper)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(loss)


def test_end_to_end_on_a_tiny_subset(tmp_path):
    """pretrain -> converted / exported checkpoints -> k-NN + linear probe -> report."""
    cmd = [
        sys.executable, TOOL, '--num-train', '260', '--num-val', '20', '--epochs', '4', '--stages',
        '2', '--seeds', '0', '--methods', 'dbot', 'mae', '--protocols', 'knn', 'linear',
        '--work-dir', tmp_path / 'wd', '--data-root', tmp_path / 'data'
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    out = tmp_path / 'wd' / 'n260_e4_s2'
    report = (out / 'report.md').read_text()
    for row in ('raw pixels', 'random init', 'dBOT, multi-stage', 'MAE (mmpretrain)'):
        line = next(ln for ln in report.splitlines() if ln.startswith(f'| {row}'))
        cells = line.split('|')[2:4]  # k-NN, linear probe
        assert all(c.strip().endswith('(1)') for c in cells), line
    assert (out / 'representations' / 'attention_distance.png').is_file()
    assert (out / 'tables' / 'seed_summary.csv').is_file()
    assert (out / 'mae_seed0' / 'backbone_dbot_mm.pth').is_file()
    curve = (tmp_path / 'wd' / 'curve.md').read_text()
    assert '| 260 | 4 | 2 | dBOT, multi-stage |' in curve
    assert '| 260 | 4 | 2 | random init |' in curve
    # a second run skips every finished job
    again = subprocess.run(cmd, check=True, capture_output=True, text=True)
    assert again.stdout.count('already finished, skipped') >= 6


def test_gain_and_spread():
    from dbot_mm.reporting.mini_report import gain
    diff, spread = gain((80.0, 3.0, 3), (70.0, 4.0, 3))
    assert diff == pytest.approx(10.0) and spread == pytest.approx(5.0)
    assert gain((80.0, None, 1), (70.0, None, 1)) == (10.0, 0.0)
    assert gain(None, (70.0, 1.0, 3)) is None
    assert math.isclose(gain((1.0, 0.0, 2), (1.0, 0.0, 2))[0], 0.0)
