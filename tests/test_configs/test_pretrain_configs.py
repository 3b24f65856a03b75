"""The paper-scale dBOT configs build the official architectures and keep their stages consistent.

The recipe values themselves are checked against the official sources by test_official_recipes.py.
"""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmpretrain.registry import MODELS

import dbot_mm  # noqa: F401

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

REPO = Path(__file__).resolve().parents[2]

# official main branch models_mae.py mae_vit_{base,large}_patch16 / mae_vit_huge_patch14:
# (embed, depth, heads)
ARCHS = {
    'dbot_vit-b.py': (768, 12, 12),
    'dbot_vit-l.py': (1024, 24, 16),
    'dbot_vit-h.py': (1280, 32, 16),
}


@pytest.mark.parametrize('name', sorted(ARCHS))
def test_builds_the_official_architecture(name):
    cfg = Config.fromfile(REPO / 'configs/pretrain' / name)
    model = MODELS.build(cfg.model)
    embed, depth, heads = ARCHS[name]
    assert (model.backbone.embed_dims, model.backbone.depth, model.backbone.num_heads) == \
        (embed, depth, heads)
    # stage 1's teacher has the configured depth; the decoder predicts the teacher's width
    assert len(model.teacher.blocks) == cfg.model.teacher.depth
    assert model.teacher.embed_dims == embed == model.neck.decoder_pred.out_features
    assert model.neck.decoder_embed.in_features == embed


@pytest.mark.parametrize('name', sorted(ARCHS))
def test_hook_and_scheduler_share_the_stage_boundaries(name):
    cfg = Config.fromfile(REPO / 'configs/pretrain' / name)
    hook, = [h for h in cfg.custom_hooks if h.type == 'DBotBootstrapHook']
    sched, = cfg.param_scheduler
    assert sched.stage_epochs == hook.stage_epochs
    assert hook.stage_epochs[-1] == cfg.train_cfg.max_epochs


def test_fast_pipeline_config_differs_only_in_the_pipeline():
    """dbot_vit-b_fast-pipeline.py is dbot_vit-b.py with the fast transform in place of
    LoadImageFromFile + RandomResizedCrop + RandomFlip, with the same crop and flip settings."""
    ref = Config.fromfile(REPO / 'configs/pretrain/dbot_vit-b.py').to_dict()
    fast = Config.fromfile(REPO / 'configs/pretrain/dbot_vit-b_fast-pipeline.py').to_dict()
    pipelines = []
    for cfg in (ref, fast):
        pipelines.append(cfg.pop('train_pipeline'))
        assert cfg['train_dataloader']['dataset']['dataset'].pop('pipeline') == pipelines[-1]
    assert ref == fast
    (crop, flip), (fast_crop, ) = ([t for t in p if t['type'] != 'LoadImageFromFile'][:-1]
                                   for p in pipelines)
    assert fast_crop['type'] == 'LoadImageAndRandomResizedCrop'
    for key in ('scale', 'crop_ratio_range', 'interpolation'):
        assert fast_crop[key] == crop[key]
    assert fast_crop['flip_prob'] == flip['prob']
    assert pipelines[1][-1] == pipelines[0][-1] == dict(type='PackInputs')
