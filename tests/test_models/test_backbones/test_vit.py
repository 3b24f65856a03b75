"""DBotViT computes timm's VisionTransformer where the architectures coincide (MAE's ViT: CLS
token, LayerNorm eps 1e-6, qkv bias, optional layer scale), on the same weights."""
from functools import partial

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
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
