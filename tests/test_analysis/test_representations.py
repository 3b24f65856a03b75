"""dbot_mm.analysis.representations: the property analysis' numbers on hand-built inputs with
known answers, the attention recomputed from qkv against the block's own attention, and the
hooks on a tiny DBotViT against a manual block-by-block pass."""
import math

import numpy as np
import pytest
import torch
from PIL import Image

from dbot_mm.analysis.representations import (
    RepresentationProbe,
    analyze_model,
    attention_probs,
    find_images,
    infer_vit_config,
    load_vit,
    mean_attention_distance,
    patch_distance_matrix,
    select_prefix,
    singular_value_percentage,
)
from dbot_mm.models.backbones.vit import DBotViT
from dbot_mm.utils.checkpoint import CheckpointLoadError


def tiny_vit(seed=0, **kwargs):
    torch.manual_seed(seed)
    return DBotViT(arch='tiny', depth=2, img_size=32, patch_size=8, **kwargs).eval()


def with_cls(patch_attn, cls_weight=0.):
    """(n, n) attention among patches -> (1, 1, 1 + n, 1 + n) with a CLS row/column."""
    n = patch_attn.shape[0]
    attn = torch.zeros(1 + n, 1 + n, dtype=torch.float64)
    attn[1:, 1:] = patch_attn
    attn[1:, 0] = cls_weight
    attn[0, 0] = 1.
    return attn[None, None]


# ------------------------------------------------------------------------- attention distance
def test_distance_matrix_is_row_major_in_pixels():
    d = patch_distance_matrix((2, 3), patch_size=16)  # patches 0 1 2 / 3 4 5
    assert d.shape == (6, 6)
    assert torch.equal(d.diagonal(), torch.zeros(6, dtype=torch.float64))
    assert d[0, 1] == 16 and d[0, 3] == 16 and d[1, 2] == 16
    assert d[0, 4] == pytest.approx(16 * math.sqrt(2))
    assert d[0, 5] == pytest.approx(16 * math.sqrt(5))
    assert torch.equal(d, d.T)


def test_attention_on_itself_has_distance_zero():
    attn = torch.eye(5, dtype=torch.float64).expand(2, 3, 5, 5)  # 2 images, 3 heads, 2x2 grid
    dist = mean_attention_distance(attn, (2, 2), patch_size=16)
    assert dist.shape == (2, 3)
    assert torch.equal(dist, torch.zeros(2, 3, dtype=torch.float64))


def test_uniform_attention_over_2x2_grid():
    # Every patch sees itself (0), two neighbours (16 px) and the diagonal one (16*sqrt2 px).
    dist = mean_attention_distance(with_cls(torch.full((4, 4), 0.25)), (2, 2), patch_size=16)
    assert dist.item() == pytest.approx(16 * (2 + math.sqrt(2)) / 4)
    # Uniform over all 5 tokens: the 1/5 on CLS is dropped, the rows are not renormalised
    # (official compute_mean_attention_dist).
    dist = mean_attention_distance(with_cls(torch.full((4, 4), 0.2), cls_weight=0.2), (2, 2), 16)
    assert dist.item() == pytest.approx(16 * (2 + math.sqrt(2)) / 5)


def test_per_query_distances_on_a_rectangular_grid():
    patches = torch.tensor(
        [
            [0., 0., 1.],  # patch 0 -> patch 2: 2 patches = 32 px
            [0., 1., 0.],  # patch 1 -> itself: 0 px
            [.5, .5, 0.]
        ],  # patch 2 -> half at 32 px, half at 16 px: 24 px
        dtype=torch.float64)
    dist = mean_attention_distance(with_cls(patches), (1, 3), patch_size=16)
    assert dist.item() == pytest.approx((32 + 0 + 24) / 3)
    with pytest.raises(ValueError, match=r'grid \(2, 2\)'):
        mean_attention_distance(with_cls(patches), (2, 2), patch_size=16)


# ----------------------------------------------------------------------------- singular values
def test_singular_value_percentage_matches_numpy():
    x = np.random.default_rng(0).standard_normal((2, 1 + 7, 4))
    pct = singular_value_percentage(torch.from_numpy(x[:, 1:]))
    for b in range(2):
        tokens = x[b, 1:] / np.linalg.norm(x[b, 1:], axis=-1, keepdims=True)
        s = np.linalg.svd(tokens, compute_uv=False)
        expected = [s[:k].sum() / s.sum() for k in range(1, 6)]  # s[:5] of 4 values: all
        np.testing.assert_allclose(pct[b].numpy(), expected, rtol=1e-5)
    assert pct.shape == (2, 5)
    assert torch.all(pct[:, 1:] > pct[:, :1]) and torch.allclose(pct[:, 3:], torch.ones(2, 2))


def test_tokens_along_one_direction_have_one_singular_value():
    direction = torch.randn(6)
    tokens = torch.tensor([1., 2., 0.5, 3.])[:, None] * direction  # rank 1, any lengths
    pct = singular_value_percentage(tokens[None])
    torch.testing.assert_close(pct, torch.ones(1, 5))


# ------------------------------------------------------------------- attention of a DBotViT
def test_attention_probs_reproduce_the_fused_attention_with_rel_pos_bias():
    vit = tiny_vit(use_rel_pos_bias=True)
    blk = vit.blocks[0]
    with torch.no_grad():
        blk.rel_pos_bias.relative_position_bias_table.normal_(std=2.)
        x = blk.norm1(torch.randn(2, 17, 192))
        bias = blk.rel_pos_bias(17)
        probs = attention_probs(blk.attn, x, bias)
        v = blk.attn.qkv(x).reshape(2, 17, 3, 3, 64).permute(2, 0, 3, 1, 4)[2]
        rebuilt = blk.attn.proj((probs @ v).transpose(1, 2).reshape(2, 17, 192))
        expected = blk.attn(x, attn_mask=bias)
    assert probs.shape == (2, 3, 17, 17)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 3, 17))
    torch.testing.assert_close(rebuilt, expected, atol=1e-5, rtol=1e-4)


def test_probe_matches_a_manual_pass_and_weighs_every_image_alike():
    vit = tiny_vit(seed=1, use_rel_pos_bias=True)
    with torch.no_grad():
        for blk in vit.blocks:
            blk.rel_pos_bias.relative_position_bias_table.normal_()
    images = torch.randn(3, 3, 32, 32)
    dists, pcts = [], []
    with torch.no_grad():
        x = vit.add_cls_token(vit.embed_patches(images))
        for blk in vit.blocks:
            probs = attention_probs(blk.attn, blk.norm1(x), blk.rel_pos_bias(x.shape[1]))
            dists.append(mean_attention_distance(probs, (4, 4), 8).mean(0))
            x = blk(x)
            pcts.append(singular_value_percentage(x[:, 1:]).mean(0))
    loader = torch.utils.data.DataLoader(list(images), batch_size=2)  # batches of 2 and 1
    out = analyze_model(vit, loader)
    assert out['num_images'] == 3 and out['grid'] == (4, 4)
    assert out['attention_distance'].shape == (2, 3)
    assert out['singular_value_percentage'].shape == (2, 5)
    np.testing.assert_allclose(out['attention_distance'], torch.stack(dists).numpy(), rtol=1e-5)
    np.testing.assert_allclose(
        out['singular_value_percentage'], torch.stack(pcts).numpy(), rtol=1e-5)
    assert not vit.blocks[0].attn._forward_hooks and not vit.patch_embed._forward_hooks


def test_probe_refuses_a_model_without_blocks():
    with pytest.raises(ValueError, match='no transformer blocks'):
        RepresentationProbe(DBotViT(arch='tiny', depth=0, img_size=32, patch_size=8))


# ------------------------------------------------------------------------- checkpoints, images
def test_infer_vit_config_from_shapes():
    state = tiny_vit().state_dict()
    cfg = infer_vit_config(state)
    assert cfg == dict(
        embed_dims=192,
        depth=2,
        patch_size=8,
        in_channels=3,
        mlp_ratio=4.,
        qkv_bias=True,
        layer_scale_init_value=0.,
        use_rel_pos_bias=False,
        num_heads=3)
    assert infer_vit_config(state, num_heads=6)['num_heads'] == 6
    with pytest.raises(CheckpointLoadError, match=r'--arch base .*\(192 wide, 2 blocks\)'):
        infer_vit_config(state, arch='base', filename='t.pth')
    torch.manual_seed(0)
    narrow = DBotViT(
        embed_dims=32, depth=1, num_heads=4, img_size=32, patch_size=8,
        use_rel_pos_bias=True).state_dict()
    assert infer_vit_config(narrow)['num_heads'] == 4  # from the relative position bias table
    del narrow['blocks.0.rel_pos_bias.relative_position_bias_table']
    with pytest.raises(CheckpointLoadError, match='32-wide .* pass --num-heads'):
        infer_vit_config(narrow, filename='n.pth')
    with pytest.raises(CheckpointLoadError, match='no transformer blocks'):
        infer_vit_config({k: v for k, v in state.items() if not k.startswith('blocks.')})


def test_select_prefix():
    bare = {'patch_embed.proj.weight': torch.zeros(1), 'cls_token': torch.zeros(1)}
    dbot = {f'{p}{k}': v for p in ('backbone.', 'teacher.') for k, v in bare.items()}
    assert select_prefix(dbot, 'student') == 'backbone.'
    assert select_prefix(dbot, 'teacher') == 'teacher.'
    assert select_prefix(bare, 'student') == ''
    with pytest.raises(CheckpointLoadError, match=r"no teacher ViT .* prefixes in the file"):
        select_prefix(bare, 'teacher', 'b.pth')


def test_load_vit_takes_the_requested_encoder_and_input_size(tmp_path):
    student, teacher = tiny_vit(1), tiny_vit(2)
    state = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teacher.{k}': v for k, v in teacher.state_dict().items()})
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=state), path)
    model, info = load_vit(path, 'teacher', img_size=(32, 32))
    assert info['prefix'] == 'teacher.' and info['num_heads'] == 3
    torch.testing.assert_close(model.blocks[1].attn.qkv.weight, teacher.blocks[1].attn.qkv.weight)
    model, _ = load_vit(path, 'student', img_size=(48, 64))
    assert model.grid_size == (6, 8) and model.pos_embed.shape == (1, 49, 192)
    torch.testing.assert_close(model.cls_token, student.cls_token)
    out = analyze_model(model, [torch.randn(1, 3, 48, 64)])
    assert out['grid'] == (6, 8) and out['attention_distance'].shape == (2, 3)
    with pytest.raises(ValueError, match='not a multiple of the patch size 8'):
        load_vit(path, 'student', img_size=(30, 32))


def test_find_images_walks_any_depth_and_spreads_a_subset(tmp_path):
    names = ['train/a/0.png', 'train/b/1.JPG', 'val/a/deep/2.jpeg', 'val/b/3.png', 'z.png']
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new('RGB', (8, 8)).save(tmp_path / name, format='PNG')
    (tmp_path / 'train' / 'a' / 'notes.txt').write_text('not an image')
    files = find_images(str(tmp_path))
    assert [f[len(str(tmp_path)) + 1:] for f in files] == names
    assert find_images(str(tmp_path), 3) == [files[0], files[2], files[4]]
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no images'):
        find_images(str(tmp_path / 'empty'))
