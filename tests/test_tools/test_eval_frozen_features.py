"""tools/analysis_tools/eval_frozen_features.py on the demo cls config and a tiny synthetic
ImageNet (4 classes x 12 train / 6 val images): random init (as a subprocess, then in-process with
the same seed), raw pixels, a checkpoint, and bad input (in-process: the imports take most of a
subprocess's time)."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from dbot_mm.models.backbones.vit import DBotViT
from tests.helpers.tools import import_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'eval_frozen_features.py')
CONFIG = osp.join(REPO, 'configs', 'cls', 'vit-tiny-p8_1xb16-demo_in1k.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    from dbot_mm.testing import make_imagenet
    root = tmp_path_factory.mktemp('frozen') / 'imagenet'
    return make_imagenet(
        root, num_classes=4, train_per_class=12, val_per_class=6, img_size=32)['data_root']


def tool_args(work_dir, data_root, *args, config=CONFIG):
    options = [f'{s}_dataloader.dataset.data_root={data_root}' for s in ('train', 'val', 'test')]
    return [
        config, '--work-dir',
        str(work_dir), '--num-workers', '0', '--batch-size', '20', *args, '--cfg-options', *options
    ]


def load_tool():
    return import_tool(TOOL)


def run_tool(*args, **kwargs):
    """In this process; returns the result dict or raises SystemExit."""
    return load_tool().main(tool_args(*args, **kwargs))


def read_result(work_dir):
    with open(osp.join(work_dir, 'frozen_eval.json')) as f:
        result = json.load(f)
    assert result['type'] == 'FrozenFeatureEval'
    assert result['config'] == CONFIG
    assert (result['dataset'], result['num_train'], result['num_val'],
            result['num_classes']) == ('ImageNet', 48, 24, 4)
    assert result['knn']['k'] == 20 and result['knn']['temperature'] == 0.07
    assert result['linear']['solver'] == 'L-BFGS' and result['linear']['max_iter'] == 500
    assert result['linear']['weight_decay'] in (1e-5, 1e-4, 1e-3, 1e-2)
    for top1 in (result['knn']['top1'], result['linear']['top1']):
        assert 0 <= top1 <= 100
    assert result['time_s'] > 0 and result['seed'] == 0
    assert osp.isfile(osp.join(work_dir, 'frozen_eval.log'))
    return result


def test_random_init_is_reproducible(tmp_path, data_root):
    proc = subprocess.run([sys.executable, TOOL, *tool_args(tmp_path / 'a', data_root)],
                          cwd=REPO,
                          env=dict(os.environ, OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'k-NN top-1' in proc.stdout + proc.stderr
    first = read_result(tmp_path / 'a')
    assert first['checkpoint'] is None and first['features'] == 'backbone'
    assert first['prefix'] == ''
    assert first['feature_desc'] == "mean of the last block's patch tokens after the final norm"
    assert run_tool(tmp_path / 'b', data_root) == read_result(tmp_path / 'b')
    second = read_result(tmp_path / 'b')
    for key in ('knn', 'linear'):
        assert first[key] == second[key]


def test_raw_pixels(tmp_path, data_root):
    run_tool(tmp_path, data_root, '--raw-pixels')
    result = read_result(tmp_path)
    assert result['features'] == 'raw_pixels' and result['checkpoint'] is None
    assert 'flattened' in result['feature_desc']


def test_checkpoint(tmp_path, data_root):
    torch.manual_seed(1)
    vit = DBotViT(arch='tiny', embed_dims=64, depth=4, num_heads=4, patch_size=8, img_size=64)
    ckpt = tmp_path / 'epoch_1.pth'
    state = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    torch.save(dict(state_dict=state), ckpt)
    run_tool(tmp_path / 'out', data_root, '--checkpoint', str(ckpt))
    result = read_result(tmp_path / 'out')
    assert result['checkpoint'] == str(ckpt) and result['prefix'] == 'backbone.'
    assert result['features'] == 'backbone'
    with open(tmp_path / 'out' / 'frozen_eval.log') as f:
        assert f'loaded {len(state)} tensors of DBotViT' in f.read()


def test_bad_input(tmp_path, data_root):
    missing = tmp_path / 'missing.pth'
    with pytest.raises(SystemExit) as err:
        run_tool(tmp_path, data_root, '--checkpoint', str(missing))
    assert err.value.code == f"error: checkpoint '{missing}' does not exist"
    config = tmp_path / 'no_backbone.py'
    config.write_text(f"_base_ = '{CONFIG}'\nmodel = dict(_delete_=True, type='ImageClassifier')\n")
    with pytest.raises(SystemExit) as err:
        run_tool(tmp_path, data_root, config=str(config))
    assert err.value.code == f'error: {config} has no model.backbone'
    with pytest.raises(SystemExit) as err:
        run_tool(tmp_path, data_root, '--knn-k', '49')
    assert err.value.code == ('error: --knn-k 49: must be in [1, 48] (the number of '
                              'training images)')
    assert not osp.exists(tmp_path / 'frozen_eval.json')


def test_backbone_feature_is_normed_mean_of_patch_tokens():
    """The demo config fine-tunes with out_type='avg_featmap' (plus fc_norm) and no final norm;
    the tool's backbone keeps the final norm and returns the tokens to pool."""
    from mmengine.config import Config
    tool = load_tool()
    args = tool.parse_args([CONFIG, '--work-dir', 'unused', '--seed', '3'])
    backbone = tool.build_backbone(Config.fromfile(CONFIG), args).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = backbone.norm(backbone.forward_target(x))[:, 1:].mean(dim=1)
        tokens = backbone(x)[-1]
    assert tokens.shape == (2, 1 + 64, 64)
    torch.testing.assert_close(tokens[:, 1:].mean(dim=1), expected)
    assert isinstance(backbone.fc_norm, torch.nn.Identity)
