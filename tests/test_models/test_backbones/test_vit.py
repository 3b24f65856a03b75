"""DBotViT computes timm's VisionTransformer where the architectures coincide (MAE's ViT: CLS
token, LayerNorm eps 1e-6, qkv bias, optional layer scale), and timm's Beit with the BEiT options
(no absolute position embedding, a relative position bias per block, layer scale, q/v bias), on
the same weights."""
from functools import partial

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.beit import Beit
from timm.models.vision_transformer import VisionTransformer

from dbot_mm.models.backbones.vit import DBotViT

ARCH = dict(img_size=32, patch_size=8, depth=4, num_heads=4)


def pair(out_type='raw', final_norm=True, global_pool='token', init_values=None, **kwargs):
    """A DBotViT and a timm ViT with the same random weights (every tensor, strict load).
    timm's ``final_norm`` with ``global_pool='avg'`` is its ``fc_norm`` after the pooling."""
    ours = DBotViT(
        arch='tiny',
        embed_dims=64,
        out_type=out_type,
        final_norm=final_norm,
        layer_scale_init_value=init_values or 0.,
        **ARCH,
        **kwargs).eval()
    timm_vit = VisionTransformer(
        embed_dim=64,
        num_classes=0,
        global_pool=global_pool,
        final_norm=final_norm or global_pool == 'avg',
        init_values=init_values,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        **ARCH).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    timm_vit.load_state_dict(ours.state_dict(), strict=True)
    return ours, timm_vit


@torch.no_grad()
@pytest.mark.parametrize('init_values', [None, 0.5])
def test_tokens_and_cls_token_equal_timm(init_values):
    x = torch.randn(2, 3, 32, 32)
    ours, timm_vit = pair(init_values=init_values)
    torch.testing.assert_close(ours(x)[0], timm_vit.forward_features(x), rtol=0, atol=0)
    ours, timm_vit = pair('cls_token', init_values=init_values)
    expected = timm_vit.forward_head(timm_vit.forward_features(x), pre_logits=True)
    torch.testing.assert_close(ours(x)[0], expected, rtol=0, atol=0)


@torch.no_grad()
def test_avg_featmap_equals_timm_avg_pool_with_fc_norm():
    x = torch.randn(2, 3, 32, 32)
    ours, timm_vit = pair('avg_featmap', final_norm=False, global_pool='avg')
    expected = timm_vit.forward_head(timm_vit.forward_features(x), pre_logits=True)
    torch.testing.assert_close(ours(x)[0], expected, rtol=0, atol=0)


@torch.no_grad()
def test_feature_maps_and_teacher_tokens_equal_timm():
    x = torch.randn(2, 3, 32, 32)
    ours, timm_vit = pair('featmap', final_norm=False, out_indices=(0, 2, 3))
    expected = timm_vit.forward_intermediates(x, indices=[0, 2, 3], intermediates_only=True)
    for got, want in zip(ours(x), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    # the teacher: every token of the last block, no final norm
    torch.testing.assert_close(ours.forward_target(x), timm_vit.forward_features(x))


@torch.no_grad()
def test_other_input_size_resamples_pos_embed_as_mae():
    """Another input size: the position embedding is resized as MAE's interpolate_pos_embed
    (bicubic, no antialias, CLS kept), i.e. as a model built for that size loaded from it."""
    ours, _ = pair()
    grid = ours.pos_embed[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    resized = F.interpolate(grid, size=(6, 8), mode='bicubic', align_corners=False)
    big = DBotViT(arch='tiny', embed_dims=64, out_type='raw', **dict(ARCH, img_size=(48, 64)))
    state = dict(ours.state_dict())
    state['pos_embed'] = torch.cat([ours.pos_embed[:, :1], resized.flatten(2).transpose(1, 2)], 1)
    big.load_state_dict(state)
    big.eval()
    x = torch.randn(1, 3, 48, 64)
    torch.testing.assert_close(ours(x)[0], big(x)[0], rtol=1e-5, atol=1e-5)


def test_relative_position_bias_draws_no_random_numbers():
    """The bias starts at zero; building it leaves the seeded MAE init of the rest unchanged."""
    torch.manual_seed(0)
    plain = DBotViT(arch='tiny', embed_dims=64, **ARCH).state_dict()
    torch.manual_seed(0)
    with_bias = DBotViT(arch='tiny', embed_dims=64, use_rel_pos_bias=True, **ARCH).state_dict()
    tables = [k for k in with_bias if k.endswith('relative_position_bias_table')]
    assert len(tables) == ARCH['depth'] and not any(with_bias[k].any() for k in tables)
    for k, v in plain.items():
        assert torch.equal(v, with_bias[k]), k


def beit_pair(out_type, final_norm, global_pool, **kwargs):
    """timm's Beit (relative position bias per block, layer scale, q and v biases) with random
    weights, and a DBotViT with the BEiT options holding them: q/v biases -> ``qkv.bias`` with a
    zero key part, ``gamma_1/2`` -> ``ls1/2.gamma``, the table under ``rel_pos_bias``."""
    beit = Beit(
        embed_dim=64,
        num_classes=0,
        global_pool=global_pool,
        use_abs_pos_emb=False,
        use_rel_pos_bias=True,
        init_values=0.1,
        **ARCH).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in beit.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    src, state = beit.state_dict(), {}
    for k, v in src.items():
        if k.endswith('q_bias'):
            state[k[:-6] + 'qkv.bias'] = torch.cat([v, torch.zeros_like(v), src[k[:-6] + 'v_bias']])
        elif not k.endswith('v_bias'):
            for old, new in (('gamma_1', 'ls1.gamma'), ('gamma_2', 'ls2.gamma'),
                             ('attn.relative_position_bias_table',
                              'rel_pos_bias.relative_position_bias_table')):
                k = k.replace(old, new)
            state[k] = v
    ours = DBotViT(
        arch='tiny',
        embed_dims=64,
        out_type=out_type,
        final_norm=final_norm,
        use_abs_pos_emb=False,
        use_rel_pos_bias=True,
        layer_scale_init_value=0.1,
        **ARCH,
        **kwargs).eval()
    ours.load_state_dict(state, strict=True)
    return ours, beit


@torch.no_grad()
def test_beit_options_equal_timm_beit():
    x = torch.randn(2, 3, 32, 32)
    ours, beit = beit_pair('raw', True, '')
    assert ours.pos_embed is None and 'pos_embed' not in ours.state_dict()
    torch.testing.assert_close(ours(x)[0], beit.forward_features(x), rtol=1e-5, atol=1e-5)
    ours, beit = beit_pair('avg_featmap', False, 'avg')  # BEiT's mean pooling + fc_norm
    expected = beit.forward_head(beit.forward_features(x), pre_logits=True)
    torch.testing.assert_close(ours(x)[0], expected, rtol=1e-5, atol=1e-5)
    ours, beit = beit_pair('featmap', True, '', out_indices=(0, 2))  # no norm before the last
    expected = beit.forward_intermediates(x, indices=[0, 2], intermediates_only=True)
    for got, want in zip(ours(x), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
