"""The ViT-H/14 distilled row of the official dBOT model zoo: ViT-H/14 <- CLIP-L/14 (`beit` branch).

The shipped config holds the official command's values, the teacher's token grid equals the
student's, it builds and takes a training step at a small scale (tiny widths, the real 224 px /
14 px geometry, the shipped data pipeline), and the model zoo lists it with the official numbers.
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
from dbot_mm.models.backbones.vit import ARCH_SETTINGS
from dbot_mm.testing.clip import make_tiny_clip

REPO = Path(__file__).resolve().parents[2]
CFG = REPO / 'configs/pretrain/dbot-clip_vit-h-p14_clip-l14.py'

# Official `beit` branch (commit cb3af22): PRETRAIN.md "ViT-H/14" command, run.sh's arguments where
# the command passes none, modeling_pretrain.py beit_huge_patch14_224_8k_vocab.
OFFICIAL = dict(
    embed=1280,
    depth=32,
    heads=16,
    patch=14,
    input_size=224,  # run_pretrain.py --input_size default
    second_input_size=224,  # run.sh --second_input_size 224; the command passes none
    clip_patch=14,  # --tokenizer_model large: clip.load("ViT-L/14")
    num_mask_patches=78,
    min_mask_patches=16,  # run_pretrain.py default; max: None
    input_scale=(0.4, 1.0),
    drop_path=0.1,
    layer_scale=0.1,  # run.sh --layer_scale_init_value 0.1
    lr=3e-3,
    batch=128 * 32,  # --batch_size 128 on 4 nodes x 8 GPUs
    epochs=1600,
    warmup_epochs=10,  # run.sh
    min_lr=1e-5,  # run_pretrain.py default
    betas=(0.9, 0.98),  # run.sh --opt_betas 0.9 0.98
    eps=1e-6,  # run.sh --opt_eps 1e-6
    clip_grad=3.0,  # run.sh --clip_grad 3.0
    weight_decay=0.05,  # run_pretrain.py default
    # run.sh --imagenet_default_mean_and_std: timm IMAGENET_DEFAULT_MEAN / STD (datasets.py)
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
)
# official README model zoo, row "ViT-H, CLIP-L/14" and "ViT-H_448, CLIP-L/14"
WEIGHTS = 'https://lf3-nlp-opensource.bytetos.com/obj/nlp-opensource/mmodal/dbot/88.5_clip_huge_pre.pth'
TOP1 = {224: 88.5, 448: 89.1}


def mask_generator(cfg):
    return [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'BEiTMaskGenerator'][0]


def test_recipe_is_the_official_command():
    cfg = Config.fromfile(CFG)
    m = cfg.model
    assert m.type == 'DBOTCLIP'
    assert m.backbone.type == 'DBotViT' and m.backbone.arch == 'huge'
    assert ARCH_SETTINGS['huge'] == (OFFICIAL['embed'], OFFICIAL['depth'], OFFICIAL['heads'])
    assert m.backbone.get('embed_dims') is None and m.backbone.get('depth') is None
    assert (m.backbone.img_size, m.backbone.patch_size) == (OFFICIAL['input_size'],
                                                            OFFICIAL['patch'])
    assert m.backbone.drop_path_rate == OFFICIAL['drop_path']
    assert m.backbone.layer_scale_init_value == OFFICIAL['layer_scale']
    assert m.backbone.use_rel_pos_bias
    assert m.teacher.type == 'CLIPTeacher' and m.teacher.checkpoint.endswith('ViT-L-14.pt')
    assert m.teacher.input_size == OFFICIAL['second_input_size']
    assert m.head.loss == dict(type='CosineSimilarityLoss', shift_factor=1.0, scale_factor=1.0)
    # the dataloader runs the /14 pipeline (overriding train_pipeline alone would not reach it)
    gen = mask_generator(cfg)
    assert gen.input_size == OFFICIAL['input_size'] // OFFICIAL['patch'] == 16
    assert gen.num_masking_patches == OFFICIAL['num_mask_patches']
    assert gen.min_num_patches == OFFICIAL['min_mask_patches'] and gen.max_num_patches is None
    crop = [t for t in cfg.train_dataloader.dataset.pipeline if t.type == 'RandomResizedCrop'][0]
    assert crop.scale == OFFICIAL['input_size']
    assert crop.crop_ratio_range == OFFICIAL['input_scale']
    opt = cfg.optim_wrapper.optimizer
    assert opt.lr == OFFICIAL['lr'] and opt.weight_decay == OFFICIAL['weight_decay']
    assert tuple(opt.betas) == OFFICIAL['betas'] and opt.eps == OFFICIAL['eps']
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=OFFICIAL['clip_grad'])
    prep = cfg.model.data_preprocessor
    assert [round(v / 255, 3) for v in prep.mean] == list(OFFICIAL['mean'])
    assert [round(v / 255, 3) for v in prep.std] == list(OFFICIAL['std'])
    assert cfg.auto_scale_lr.base_batch_size == OFFICIAL['batch'] == \
        cfg.train_dataloader.batch_size * 32
    assert cfg.train_cfg.max_epochs == OFFICIAL['epochs']
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == cosine.begin == OFFICIAL['warmup_epochs']
    assert cosine.end == OFFICIAL['epochs'] and cosine.eta_min == OFFICIAL['min_lr']
    assert [h.type for h in cfg.custom_hooks] == ['RandomStateHook']  # one stage


def test_teacher_grid_is_student_grid():
    cfg = Config.fromfile(CFG)
    b, t = cfg.model.backbone, cfg.model.teacher
    student = b.img_size // b.patch_size
    teacher = (t.input_size or b.img_size) // OFFICIAL['clip_patch']
    assert teacher == student == mask_generator(cfg).input_size == 16
    # the ViT-L/16 recipe's 196 px teacher input would give CLIP-L/14 a 14x14 grid here
    parent = Config.fromfile(REPO / 'configs/pretrain/dbot-clip_vit-l-p16_clip-l14.py')
    assert parent.model.teacher.input_size // OFFICIAL['clip_patch'] != student


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
    assert masks.shape == (2, 16, 16) and masks.flatten(1).sum(1).tolist() == [78, 78]

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
