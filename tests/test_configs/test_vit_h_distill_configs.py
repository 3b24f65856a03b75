"""The ViT-H/14 distilled row of the official dBOT model zoo: ViT-H/14 <- CLIP-L/14 (`beit` branch).

The teacher's token grid equals the student's, the config builds and takes a training step at a
small scale (tiny widths, the real 224 px / 14 px geometry, the shipped data pipeline), and the
model zoo lists it with the official numbers (its recipe values: test_official_recipes.py).
(The other ViT-H row, ViT-H <- ViT-H, is the bootstrapped configs/pretrain/dbot_vit-h.py.)
"""
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmpretrain.registry import DATASETS, MODELS

import dbot_mm  # noqa: F401
from tests.helpers.clip import make_tiny_clip

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

REPO = Path(__file__).resolve().parents[2]
CFG = REPO / 'configs/pretrain/dbot-clip_vit-h-p14_clip-l14.py'

CLIP_PATCH = 14  # beit: PRETRAIN.md ViT-H/14 --tokenizer_model large, clip.load("ViT-L/14")
# official README model zoo, row "ViT-H, CLIP-L/14" and "ViT-H_448, CLIP-L/14"
WEIGHTS = 'https://lf3-nlp-opensource.bytetos.com/obj/nlp-opensource/mmodal/dbot/88.5_clip_huge_pre.pth'
TOP1 = {224: 88.5, 448: 89.1}


def mask_generator(cfg):
    return [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'BlockMaskGenerator'][0]


def test_teacher_grid_is_student_grid():
    cfg = Config.fromfile(CFG)
    b, t = cfg.model.backbone, cfg.model.teacher
    student = b.img_size // b.patch_size
    teacher = (t.input_size or b.img_size) // CLIP_PATCH
    assert teacher == student == mask_generator(cfg).input_size == 16
    # the ViT-L/16 recipe's 196 px teacher input would give CLIP-L/14 a 14x14 grid here
    parent = Config.fromfile(REPO / 'configs/pretrain/dbot-clip_vit-l-p16_clip-l14.py')
    assert parent.model.teacher.input_size // CLIP_PATCH != student


@pytest.fixture(scope='module')
def clip_l14_file(tmp_path_factory):
    """A tiny CLIP with ViT-L/14's patch and input size (64 wide, 2 layers, 48-d output)."""
    path = tmp_path_factory.mktemp('clip') / 'tiny_clip_p14.pt'
    make_tiny_clip(path, width=64, layers=2, patch_size=14, image_size=224, embed_dim=48)
    return str(path)


def tiny_cfg(clip_file):
    cfg = Config.fromfile(CFG)
    cfg.model.backbone.update(embed_dims=64, depth=2, num_heads=4)
    cfg.model.teacher.checkpoint = clip_file
    return cfg


def test_small_scale_model_trains_a_step_on_the_shipped_pipeline(clip_l14_file, imagenet_root):
    cfg = tiny_cfg(clip_l14_file)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.backbone.grid_size == (16, 16) and model.teacher.patch_size == 14
    assert model.backbone.blocks[0].rel_pos_bias.window_size == (16, 16)
    assert (model.lm_head.in_features, model.lm_head.out_features) == (64, 48)

    data_cfg = cfg.train_dataloader.dataset
    data_cfg.data_root = imagenet_root
    dataset = DATASETS.build(data_cfg)
    assert cfg.train_dataloader.collate_fn.type == 'default_collate'
    batch = model.data_preprocessor(default_collate([dataset[0], dataset[1]]), training=True)
    inputs, samples = batch['inputs'], batch['data_samples']
    assert inputs.shape == (2, 3, 224, 224)
    masks = torch.stack([torch.as_tensor(s.mask) for s in samples])
    assert masks.shape == (2, 16, 16) and all(60 < n <= 78 for n in masks.flatten(1).sum(1))

    loss = model.loss(inputs, samples)['loss']
    assert torch.isfinite(loss) and 0 < loss.item() < 2
    loss.backward()
    assert model.lm_head.weight.grad.abs().sum() > 0
    assert model.backbone.patch_embed.proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())


def test_l16_teacher_size_under_the_h14_student_is_refused(clip_l14_file):
    cfg = tiny_cfg(clip_l14_file)
    cfg.model.teacher.input_size = 196  # the ViT-L/16 recipe's --second_input_size
    with pytest.raises(ValueError, match='input_size=224'):
        MODELS.build(cfg.model)


def test_model_zoo_lists_the_row():
    meta = yaml.safe_load((REPO / 'configs/pretrain/metafile.yml').read_text())
    models = {m['Name']: m for m in meta['Models']}
    pre = [m for m in meta['Models'] if m.get('Weights') == WEIGHTS]
    assert len(pre) == 1 and pre[0]['Config'] == str(CFG.relative_to(REPO))
    assert pre[0]['Metadata']['Teacher'] == 'CLIP-L/14'
    results = {}
    for name in pre[0]['Downstream']:
        down = models[name]
        assert (REPO / down['Config']).is_file()
        size = Config.fromfile(REPO / down['Config']).model.backbone.get('img_size', 224)
        results[size] = down['Results'][0]['Metrics']['Top 1 Accuracy']
    assert results == TOP1
    zoo = (REPO / 'docs/model_zoo.md').read_text()
    row = next(line for line in zoo.splitlines() if f'({WEIGHTS})' in line)
    assert f'| {TOP1[224]} | {TOP1[448]} |' in row and CFG.name in row
