"""The paper-scale dBOT configs load, build, and hold the official pretraining recipe."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmpretrain.registry import MODELS

import dbot_mm  # noqa: F401

REPO = Path(__file__).resolve().parents[2]

# Official PRETRAIN.md commands (branch `main`; --depth, --init_teacher_encoder_depth, --sdpr,
# --clip_grad) and models_mae.py's mae_vit_{base,large}_patch16 / huge_patch14 architectures:
# (embed, depth, heads, patch, teacher depth, drop path, clip)
RECIPES = {
    'dbot_vit-b.py': (768, 12, 12, 16, 12, 0.2, 3.0),
    'dbot_vit-l.py': (1024, 24, 16, 16, 0, 0.2, None),
    'dbot_vit-h.py': (1280, 32, 16, 14, 0, 0.3, None),
}


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe(name):
    embed, depth, heads, patch, t_depth, dpr, clip = RECIPES[name]
    cfg = Config.fromfile(REPO / 'configs/pretrain' / name)
    m = cfg.model
    assert m.type == 'DBOT' and m.mask_ratio == 0.75 and m.get('num_masks', 1) == 1
    assert m.backbone.patch_size == patch and m.backbone.img_size == 224
    assert m.backbone.drop_path_rate == dpr and m.neck.drop_path_rate == dpr
    assert (m.neck.decoder_embed_dims, m.neck.decoder_depth, m.neck.decoder_num_heads) == \
        (512, 8, 16)
    assert m.teacher.depth == t_depth and m.teacher.patch_size == patch
    assert m.head.beta == 2.0 and m.head.eps == 1e-6
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper'
    assert opt.optimizer.type == 'AdamW' and opt.optimizer.betas == (0.9, 0.95)
    assert opt.optimizer.weight_decay == 0.05
    # lr = 1.5e-4 x batch / 256, batch 128 x 32 GPUs
    assert cfg.auto_scale_lr.base_batch_size == 4096 == cfg.train_dataloader.batch_size * 32
    assert opt.optimizer.lr == pytest.approx(1.5e-4 * 4096 / 256)
    assert (opt.get('clip_grad') or {}).get('max_norm') == clip
    assert cfg.train_cfg.max_epochs == 1600
    hook = [h for h in cfg.custom_hooks if h.type == 'DBotBootstrapHook'][0]
    assert hook.stage_epochs == [0, 800, 1600]
    sched = cfg.param_scheduler[0]
    assert sched.type == 'StageCosineLR' and sched.stage_epochs == [0, 800, 1600]
    assert sched.warmup_epochs == 40 and sched.eta_min == 0
    assert sched.by_epoch and sched.convert_to_iter_based
    loader = cfg.train_dataloader
    assert loader.drop_last  # official main_pretrain.py DataLoader(drop_last=True)
    # augmentation seeded per sample (exact resume with workers), around mmpretrain's ImageNet
    assert loader.sampler.type == 'SeededSampler' and loader.dataset.type == 'SeededDataset'
    pipeline = loader.dataset.dataset.pipeline
    crop = [t for t in pipeline if t.type == 'RandomResizedCrop'][0]
    assert crop.scale == 224 and crop.crop_ratio_range == (0.2, 1.0)
    assert crop.interpolation == 'bicubic'
    assert any(t.type == 'RandomFlip' for t in pipeline)

    model = MODELS.build(cfg.model)
    assert (model.backbone.embed_dims, model.backbone.depth, model.backbone.num_heads) == \
        (embed, depth, heads)
    assert len(model.teacher.blocks) == t_depth
    assert model.teacher.embed_dims == embed == model.neck.decoder_pred.out_features
    assert model.neck.decoder_embed.in_features == embed


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
