"""DBOTCLIP: vanilla-ViT masked distillation from a CLIP teacher (official ``beit`` branch):
block-wise masks of up to num_mask_patches, BEiT's student init, mask tokens inside the encoder,
1 - cos loss on the masked tokens, run.sh's optimizer / weight-decay / normalisation values, the
warm-up from 0, a teacher input independent of the student's normalisation and its position
embedding resized as the official clip/model.py, a tiny config that trains and whose student loads
downstream."""
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample
from timm.data.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

import dbot_mm  # noqa: F401
from dbot_mm.models.backbones.vit import DBotViT
from tests.helpers.clip import make_tiny_clip

REPO = Path(__file__).resolve().parents[3]
CFG_B = REPO / 'configs' / 'pretrain' / 'dbot-clip_vit-b-p16_clip-b16.py'
CFG_L = REPO / 'configs' / 'pretrain' / 'dbot-clip_vit-l-p16_clip-l14.py'
CFG_H = REPO / 'configs' / 'pretrain' / 'dbot-clip_vit-h-p14_clip-l14.py'
CFG_TINY = REPO / 'configs' / 'pretrain' / 'dbot-clip_vit-tiny_demo.py'
DOWNSTREAM = ('configs/cls/vit-tiny-p8_1xb16-demo_in1k.py',
              'configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py',
              'configs/seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py')


@pytest.fixture(scope='module')
def clip_file(tmp_path_factory):
    path = tmp_path_factory.mktemp('clip') / 'tiny_clip_p8.pt'
    make_tiny_clip(path, width=64, layers=2, patch_size=8, image_size=64, embed_dim=48)
    return str(path)


@pytest.fixture(scope='module')
def tiny_model(clip_file):
    cfg = Config.fromfile(CFG_TINY)
    cfg.model.teacher.checkpoint = clip_file
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def components(mask):
    """Number of 4-connected groups of masked patches."""
    seen, count = np.zeros_like(mask, bool), 0
    for i, j in zip(*np.nonzero(mask)):
        if seen[i, j]:
            continue
        count += 1
        stack = [(i, j)]
        seen[i, j] = True
        while stack:
            a, b = stack.pop()
            for c, d in ((a + 1, b), (a - 1, b), (a, b + 1), (a, b - 1)):
                if 0 <= c < mask.shape[0] and 0 <= d < mask.shape[1] and mask[c, d] \
                        and not seen[c, d]:
                    seen[c, d] = True
                    stack.append((c, d))
    return count


def test_config_mask_generator_masks_up_to_78_patches_in_blocks():
    cfg = Config.fromfile(CFG_B)
    gen_cfg = [t for t in cfg.train_pipeline if t['type'] == 'BlockMaskGenerator'][0]
    gen = TRANSFORMS.build(gen_cfg)
    random.seed(0)
    groups = []
    for _ in range(20):
        mask = gen({})['mask']
        assert mask.shape == (14, 14)
        assert 60 < mask.sum() <= 78  # the official generator may stop short
        groups.append(components(mask))
    # blocks of >= 16 patches: a few groups; 78 random patches of 196 give dozens
    assert np.mean(groups) < 8, groups
    rng = np.random.default_rng(0)
    scattered = np.zeros(196, bool)
    scattered[rng.choice(196, 78, replace=False)] = True
    assert components(scattered.reshape(14, 14)) > 15


TRUNC_STD = 0.02 * 0.53956  # N(0, 0.02) cut at +-0.02: sqrt(1 - 2 phi(1) / (2 Phi(1) - 1))


def test_student_init_is_beits(clip_file):
    """modeling_pretrain.py _init_weights + fix_init_weight on the student and lm_head; the
    teacher keeps its CLIP weights and the student its sin-cos embedding, layer scale and zero
    relative position bias tables."""
    cfg = Config.fromfile(CFG_TINY)
    cfg.model.teacher.checkpoint = clip_file
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    vit = model.backbone
    rescaled = [m for b in vit.blocks for m in (b.attn.proj, b.mlp.fc2)]
    linears = [m for m in vit.modules() if isinstance(m, torch.nn.Linear)]
    plain = [m.weight for m in linears if all(m is not r for r in rescaled)]
    plain += [vit.patch_embed.proj.weight, model.lm_head.weight]
    for w in plain:
        assert w.abs().max() <= 0.02 and w.abs().max() > 0.0195
        assert abs(w.std().item() / TRUNC_STD - 1) < 0.1, w.shape
    for layer_id, blk in enumerate(vit.blocks, 1):  # divided by sqrt(2 * layer_id), from 1
        for w in (blk.attn.proj.weight, blk.mlp.fc2.weight):
            bound = 0.02 / math.sqrt(2 * layer_id)
            assert w.abs().max() <= bound * (1 + 1e-6) and w.abs().max() > 0.99 * bound
            assert abs(w.std().item() / (TRUNC_STD / math.sqrt(2 * layer_id)) - 1) < 0.1
        assert torch.all(blk.ls1.gamma == 0.1) and torch.all(blk.ls2.gamma == 0.1)
        assert not blk.rel_pos_bias.relative_position_bias_table.any()
    for token in (vit.cls_token, model.mask_token):
        assert 0 < token.abs().max() <= 0.02 and abs(token.std().item() / TRUNC_STD - 1) < 0.4
    biases = [
        m.bias for m in [*vit.modules(), model.lm_head]
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.LayerNorm))
    ]
    assert biases and not any(b.any() for b in biases)
    norms = [m.weight for m in vit.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and all(torch.all(w == 1) for w in norms)
    reference = DBotViT(**{k: v for k, v in cfg.model.backbone.items() if k != 'type'})
    torch.testing.assert_close(vit.pos_embed, reference.pos_embed, rtol=0, atol=0)
    clip = torch.load(clip_file, weights_only=True)
    torch.testing.assert_close(
        model.teacher.visual.transformer.resblocks[0].attn.out_proj.weight,
        clip['visual.transformer.resblocks.0.attn.out_proj.weight'],
        rtol=0,
        atol=0)


def official_interpolate_pos_encoding(pos, w, h, patch_size):
    """beit branch clip/model.py VisionTransformer.interpolate_pos_encoding for a w x h input."""
    npatch = (w // patch_size) * (h // patch_size)
    N = pos.shape[0] - 1
    if npatch == N and w == h:
        return pos
    class_pos_embed = pos[:1]
    patch_pos_embed = pos[1:]
    dim = pos.shape[-1]
    w0, h0 = w // patch_size + 0.1, h // patch_size + 0.1
    patch_pos_embed = F.interpolate(
        patch_pos_embed.reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
        scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)),
        mode='bicubic',
    )
    assert int(w0) == patch_pos_embed.shape[-2] and int(h0) == patch_pos_embed.shape[-1]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)[0]


def test_teacher_position_embedding_at_196px_is_the_officials(tmp_path):
    """CLIP-L/14 (16 x 16 tokens at 224 px) under a /16 student sees 196 px: its position
    embedding goes to 14 x 14 as the official code's, which differs from resizing by size."""
    path = tmp_path / 'clip_p14.pt'
    state = make_tiny_clip(path, width=64, layers=1, patch_size=14, image_size=224, embed_dim=48)
    teacher = MODELS.build(dict(type='CLIPTeacher', checkpoint=str(path), input_size=196))
    pos = state['visual.positional_embedding']
    expected = official_interpolate_pos_encoding(pos, 196, 196, 14)
    assert expected.shape == (1 + 14 * 14, 64)
    torch.testing.assert_close(teacher.visual.positional_embedding, expected, rtol=0, atol=0)
    by_size = F.interpolate(
        pos[1:].reshape(1, 16, 16, -1).permute(0, 3, 1, 2), size=(14, 14), mode='bicubic')
    assert not torch.allclose(expected[1:], by_size.permute(0, 2, 3, 1).reshape(196, -1))
    assert teacher(torch.randn(1, 3, 224, 224)).shape == (1, 1 + 196, 48)


def test_schedule_warms_up_from_zero_then_cosine_to_1e_5():
    """utils.py multi_stage_cosine_scheduler: linspace(0, lr) over the warm-up, cosine to
    min_lr 1e-5 (ours reaches lr x (1 - 1 / warm-up iterations) at its end)."""
    cfg = Config.fromfile(CFG_B)
    n = 2  # iterations per epoch
    wrapper = build_optim_wrapper(
        torch.nn.Linear(1, 1), dict(type='OptimWrapper', optimizer=cfg.optim_wrapper.optimizer))
    schedulers = [
        PARAM_SCHEDULERS.build(s, default_args=dict(optimizer=wrapper, epoch_length=n))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs * n):
        lrs.append(wrapper.optimizer.param_groups[0]['lr'])
        for s in schedulers:
            s.step()
    peak, warmup = 3e-3, cfg.warmup_epochs * n
    assert lrs[0] == 0
    np.testing.assert_allclose(lrs[:warmup], peak * np.arange(warmup) / warmup, rtol=1e-9)
    assert lrs[warmup] == pytest.approx(lrs[warmup - 1], rel=1e-6)
    assert max(lrs) == pytest.approx(peak, rel=1 / warmup)
    assert lrs[-1] == pytest.approx(1e-5, rel=1e-3)


# Official `beit` branch (commit cb3af22): PRETRAIN.md ViT-B/16 command, and where it passes none,
# run.sh's `imagenet_pretrain` arguments, else run_pretrain.py's defaults.
OFFICIAL = dict(
    lr=3e-3,  # PRETRAIN.md --lr 3e-3
    batch=128 * 32,  # --batch_size 128 on 4 nodes x 8 GPUs
    epochs=1600,
    drop_path=0.1,
    layer_scale=0.1,  # run.sh --layer_scale_init_value 0.1
    input_scale=(0.4, 1.0),  # --input_scale 0.4 1
    betas=(0.9, 0.98),  # run.sh --opt_betas 0.9 0.98
    eps=1e-6,  # run.sh --opt_eps 1e-6
    clip_grad=3.0,  # run.sh --clip_grad 3.0
    weight_decay=0.05,  # run_pretrain.py default, weight_decay_end None = constant
    no_decay_names=('pos_embed', 'cls_token'),  # modeling_pretrain.py no_weight_decay()
)
# CLIP's own normalisation of the teacher input (tokenizer/clip_encoder.py pre_process)
OFFICIAL_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OFFICIAL_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def test_recipe_values():
    b, large = Config.fromfile(CFG_B), Config.fromfile(CFG_L)
    assert b.model.head.loss == dict(
        type='CosineSimilarityLoss', shift_factor=1.0, scale_factor=1.0)
    opt = b.optim_wrapper.optimizer
    assert opt.type == 'AdamW' and opt.lr == OFFICIAL['lr']
    assert b.auto_scale_lr.base_batch_size == OFFICIAL['batch']
    assert tuple(opt.betas) == OFFICIAL['betas'] and opt.eps == OFFICIAL['eps']
    assert opt.weight_decay == OFFICIAL['weight_decay']
    assert b.optim_wrapper.clip_grad == dict(max_norm=OFFICIAL['clip_grad'])
    assert b.train_cfg.max_epochs == OFFICIAL['epochs']
    assert b.model.backbone.drop_path_rate == OFFICIAL['drop_path']
    assert b.model.backbone.use_rel_pos_bias
    assert b.model.backbone.layer_scale_init_value == OFFICIAL['layer_scale']
    crop = [t for t in b.train_pipeline if t['type'] == 'RandomResizedCrop'][0]
    assert crop['crop_ratio_range'] == OFFICIAL['input_scale']
    # run.sh --imagenet_default_mean_and_std: timm's ImageNet constants (datasets.py), 0-255 here
    prep = b.model.data_preprocessor
    torch.testing.assert_close(
        torch.tensor(prep.mean) / 255, torch.tensor(IMAGENET_DEFAULT_MEAN), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        torch.tensor(prep.std) / 255, torch.tensor(IMAGENET_DEFAULT_STD), rtol=0, atol=1e-6)
    assert prep.to_rgb
    assert large.model.backbone.arch == 'large' and large.model.teacher.input_size == 196
    # L and H change none of these
    for cfg in (large, Config.fromfile(CFG_H)):
        assert cfg.optim_wrapper == b.optim_wrapper
        assert cfg.model.data_preprocessor == b.model.data_preprocessor


def test_weight_decay_groups_follow_official_optim_factory(tiny_model):
    """optim_factory.py get_parameter_groups: no decay iff 1-D, `.bias` or in no_weight_decay()."""
    b = Config.fromfile(CFG_B)
    cfg = dict(b.optim_wrapper, type='OptimWrapper')  # AmpOptimWrapper needs a GPU
    wrapper = build_optim_wrapper(tiny_model, cfg)
    assert wrapper.clip_grad_kwargs == dict(max_norm=OFFICIAL['clip_grad'])
    names = {id(p): n for n, p in tiny_model.named_parameters()}
    decay = {
        names[id(p)]: g['weight_decay']
        for g in wrapper.optimizer.param_groups
        for p in g['params']
    }
    trainable = {n for n, p in tiny_model.named_parameters() if p.requires_grad}
    assert set(decay) == trainable and not any(n.startswith('teacher.') for n in decay)
    for name, wd in decay.items():
        param = tiny_model.get_parameter(name)
        exempt = (
            param.ndim == 1 or name.endswith('.bias')
            or name.split('.')[-1] in OFFICIAL['no_decay_names'])
        assert wd == (0. if exempt else OFFICIAL['weight_decay']), name
    # the two the official code decays and a BEiT-style exemption list would not
    assert decay['mask_token'] == OFFICIAL['weight_decay']
    tables = [n for n in decay if n.endswith('relative_position_bias_table')]
    assert tables and all(decay[n] == OFFICIAL['weight_decay'] for n in tables)
    assert decay['backbone.cls_token'] == 0.


def test_teacher_input_does_not_depend_on_the_student_normalisation(clip_file):
    """The official teacher gets the un-normalised crop and applies CLIP's mean/std itself; ours
    undoes whatever mean/std the data preprocessor used, so the teacher's tokens are the same for
    the 0.5 and the ImageNet student normalisation and equal CLIP on the CLIP-normalised image."""
    torch.manual_seed(0)
    raw = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)  # BGR, as LoadImageFromFile
    rgb01 = raw.flip(1).float() / 255
    official = (rgb01 - torch.tensor(OFFICIAL_CLIP_MEAN).view(1, 3, 1, 1)) / \
        torch.tensor(OFFICIAL_CLIP_STD).view(1, 3, 1, 1)
    student_inputs, tokens = [], []
    for mean, std in (([127.5] * 3, [127.5] * 3), (None, None)):
        cfg = Config.fromfile(CFG_TINY)
        cfg.model.teacher.checkpoint = clip_file
        if mean is not None:
            cfg.model.data_preprocessor.update(mean=mean, std=std)
        model = MODELS.build(cfg.model).eval()
        batch = model.data_preprocessor(
            dict(inputs=raw, data_samples=[DataSample(), DataSample()]), training=True)
        student_inputs.append(batch['inputs'])
        tokens.append(model.teacher(batch['inputs']))
        expected, _ = model.teacher.visual(official)
        torch.testing.assert_close(tokens[-1], expected, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(student_inputs[0], student_inputs[1], atol=1e-2)
    torch.testing.assert_close(tokens[0], tokens[1], atol=1e-4, rtol=1e-4)


def test_loss_is_one_minus_mean_cosine_on_masked_tokens(tiny_model):
    model = tiny_model.eval()  # no drop path: both computations see the same network
    torch.manual_seed(1)
    inputs = torch.randn(2, 3, 64, 64)
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[0, 1:4, 2:6] = True
    masks[1, 5:8, 0:3] = True
    samples = [DataSample().set_mask(m) for m in masks]
    loss = model.loss(inputs, samples)['loss']
    # by hand
    m = masks.flatten(1)
    target = model.teacher(inputs)[:, 1:][m]
    pred = model.lm_head(model.forward_masked(inputs, m)[:, 1:][m])
    cos = (pred * target).sum(-1) / (pred.norm(dim=-1) * target.norm(dim=-1))
    assert target.shape == (int(m.sum()), 48)
    torch.testing.assert_close(loss, 1 - cos.mean(), atol=1e-6, rtol=0)
    # CLS and visible tokens do not enter the loss
    assert not torch.allclose(
        1 - F.cosine_similarity(
            model.lm_head(model.forward_masked(inputs, m)), model.teacher(inputs), dim=-1).mean(),
        loss)
    model.train()


def test_masked_patches_are_mask_tokens(tiny_model):
    """The student never sees the pixels of a masked patch."""
    model = tiny_model.eval()
    mask = torch.zeros(1, 64, dtype=torch.bool)
    mask[0, :20] = True  # the first 2.5 rows of 8x8 patches
    x = torch.randn(1, 3, 64, 64)
    y = x.clone()
    y[:, :, :16] = torch.randn(1, 3, 16, 64)  # only masked patches (rows 0-1) change
    torch.testing.assert_close(model.forward_masked(x, mask), model.forward_masked(y, mask))
    z = x.clone()
    z[:, :, 40:] += 1  # visible patches change the output
    assert not torch.allclose(model.forward_masked(x, mask), model.forward_masked(z, mask))
    model.train()


def test_grid_mismatch_is_one_line_error(clip_file):
    cfg = Config.fromfile(CFG_TINY)
    cfg.model.teacher.checkpoint = clip_file
    cfg.model.teacher.input_size = 48
    with pytest.raises(ValueError, match='input_size=64'):
        MODELS.build(cfg.model)


def test_tiny_config_trains_and_student_loads_downstream(tmp_path, clip_file, imagenet_root):
    from mmengine.runner import Runner
    cfg = Config.fromfile(CFG_TINY)
    cfg.model.teacher.checkpoint = clip_file
    cfg.work_dir = str(tmp_path)
    cfg.train_dataloader.dataset.data_root = imagenet_root
    cfg.train_cfg.max_epochs = 3  # 64 images / 16 = 4 iterations an epoch
    cfg.param_scheduler[1].end = 3
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=3)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    losses = []
    runner.register_hook(_LossRecorder(losses), priority='LOWEST')
    runner.train()
    assert len(losses) == 12 and all(np.isfinite(losses))
    assert np.mean(losses[-4:]) < np.mean(losses[:4]) - 0.02, losses
    ckpt = tmp_path / 'epoch_3.pth'
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    for path in DOWNSTREAM:
        backbone = dict(Config.fromfile(REPO / path, import_custom_modules=False).model.backbone)
        backbone.pop('type')
        # the demo configs are main-branch backbones: the student's layer scale and bias tables
        # are dropped by name
        backbone['init_cfg'] = dict(
            type='Pretrained', checkpoint=str(ckpt), prefix='backbone.', drop_trained=True)
        vit = DBotViT(**backbone)
        vit.init_weights()
        for k in ('patch_embed.proj.weight', 'blocks.3.mlp.fc2.weight', 'cls_token'):
            torch.testing.assert_close(vit.state_dict()[k], state[f'backbone.{k}'])


class _LossRecorder(Hook):

    def __init__(self, losses):
        self.losses = losses

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append(float(outputs['loss']))


def test_key_bias_changes_nothing_so_qkv_bias_equals_beit_q_v_bias():
    """BEiT's attention has q and v biases and no k bias; ``DBotViT`` keeps timm's full qkv bias.
    A key bias adds q . b_k to every logit of a query alike, so the softmax, the outputs and the
    loss do not depend on it and its gradient is zero: the student is BEiT's up to that constant."""
    torch.manual_seed(0)
    vit = DBotViT(
        embed_dims=32,
        depth=2,
        num_heads=4,
        img_size=32,
        patch_size=8,
        layer_scale_init_value=0.1,
        use_rel_pos_bias=True,
        out_type='raw')
    for blk in vit.blocks:  # biases and bias table away from their zero init
        torch.nn.init.normal_(blk.attn.qkv.bias, std=0.5)
        torch.nn.init.normal_(blk.rel_pos_bias.relative_position_bias_table, std=0.5)
    x = torch.randn(2, 3, 32, 32)
    out = vit(x)[0]
    out.square().sum().backward()
    dims = vit.embed_dims
    for blk in vit.blocks:
        grad = blk.attn.qkv.bias.grad
        assert grad[dims:2 * dims].abs().max() < 1e-5 * grad.abs().max()
        assert grad[:dims].abs().max() > 0 and grad[2 * dims:].abs().max() > 0
        with torch.no_grad():
            blk.attn.qkv.bias[dims:2 * dims].add_(torch.randn(dims))
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], out, rtol=1e-5, atol=1e-5)
