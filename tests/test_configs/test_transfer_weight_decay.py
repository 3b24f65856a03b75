"""Transfer classification decays every parameter, as the official evaluation/eval_cls.py:
``create_optimizer(args, model)`` of evaluation/optim_factory.py (BEiT's) with its defaults
``filter_bias_and_bn=False`` and no skip list is ``AdamW(model.parameters(), weight_decay=0.05)``.
"""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS

import dbot_mm  # noqa: F401

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / 'configs/cls').glob('vit-base-p16_8xb96-coslr-*_transfer-*.py'))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_weight_decay_on_every_parameter(path):
    cfg = Config.fromfile(str(path))
    cfg.model.backbone.update(
        embed_dims=32, depth=2, num_heads=2, img_size=32, patch_size=8, init_cfg=None)
    cfg.model.head.in_channels = 32
    model = MODELS.build(cfg.model)
    wrapper = build_optim_wrapper(model, dict(cfg.optim_wrapper, type='OptimWrapper'))
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups for p in g['params']}
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert {'backbone.pos_embed', 'backbone.cls_token', 'head.fc.bias'} <= set(names)
    assert any('norm' in n and n.endswith('.bias') for n in names)
    for name in names:
        assert decay[id(model.get_parameter(name))] == 0.05, name
