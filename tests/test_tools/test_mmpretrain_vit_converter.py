"""tools/model_converters/mmpretrain_vit_to_dbot_mm.py: an mmpretrain MAE (MAEViT + MAE decoder
and head, as in mmpretrain's mae config) or ViT classifier checkpoint, converted, loads strictly
into DBotViT and gives mmpretrain's own features."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmpretrain.models import MAE, ImageClassifier

import dbot_mm  # noqa: F401
from dbot_mm.models.backbones.vit import DBotViT
from dbot_mm.models.utils.pretrained import load_backbone_checkpoint
from tests.helpers.tools import import_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'mmpretrain_vit_to_dbot_mm.py')
ARCH = dict(embed_dims=64, num_layers=2, num_heads=4, feedforward_channels=256)
TINY = dict(arch='tiny', embed_dims=64, depth=2, num_heads=4, patch_size=4, img_size=32)


def tiny_mae() -> MAE:
    """mmpretrain's MAE (configs/_base_/models/mae_vit-base-p16.py) shrunk to 32 px, patch 4."""
    return MAE(
        backbone=dict(type='MAEViT', arch=ARCH, img_size=32, patch_size=4, mask_ratio=0.75),
        neck=dict(
            type='MAEPretrainDecoder',
            num_patches=64,
            patch_size=4,
            in_chans=3,
            embed_dim=64,
            decoder_embed_dim=32,
            decoder_depth=1,
            decoder_num_heads=4,
            mlp_ratio=4.),
        head=dict(
            type='MAEPretrainHead',
            norm_pix=True,
            patch_size=4,
            loss=dict(type='PixelReconstructionLoss', criterion='L2')))


def randomize(model: torch.nn.Module, seed: int, keep=('pos_embed', )) -> torch.nn.Module:
    """Every tensor random (a mixed-up key cannot go unnoticed), except ``keep``: MAEViT's fixed
    sin-cos table, which differs from the one DBotViT initialises with, so it must be carried."""
    model.init_weights()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith(keep):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model.eval()


def save_mmengine(model: torch.nn.Module, path: str, extra=None) -> str:
    state = dict(model.state_dict(), **(extra or {}))
    torch.save(dict(meta=dict(epoch=1, mmpretrain_version='1.2.0'), state_dict=state), path)
    return path


def load_tool():
    return import_tool(TOOL)


def run_tool(*args, cwd):
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.run([sys.executable, TOOL, *map(str, args)],
                          capture_output=True,
                          text=True,
                          env=env,
                          cwd=str(cwd),
                          timeout=300)


def load_dbot(path: str, **kwargs) -> DBotViT:
    vit = DBotViT(
        **TINY, init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'), **kwargs)
    vit.init_weights()
    return vit.eval()


def test_mae_checkpoint_gives_mmpretrain_features(tmp_path):
    mae = randomize(tiny_mae(), seed=0)
    src = save_mmengine(mae, str(tmp_path / 'mae_epoch_1.pth'))
    dst = tmp_path / 'out' / 'mae_dbot_mm.pth'
    proc = run_tool(src, dst, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    source = mae.state_dict()
    n_backbone = sum(k.startswith('backbone.') for k in source)
    n_neck = sum(k.startswith('neck.') for k in source)
    assert n_neck > 0
    assert f'converted {n_backbone} backbone tensors' in proc.stdout
    assert f'{n_neck} neck.*' in proc.stdout
    assert not [f for f in os.listdir(dst.parent) if f != dst.name]  # no temporary left

    converted = torch.load(dst, map_location='cpu', weights_only=True)
    assert converted['meta'] == dict(converted_from=src, source_format='mmpretrain ViT')
    # exactly DBotViT's encoder, nothing missing, nothing extra
    assert set(converted['state_dict']) == {f'backbone.{k}' for k in DBotViT(**TINY).state_dict()}
    report = load_backbone_checkpoint(DBotViT(**TINY), str(dst), prefix='backbone.')
    assert report.missing == [] and report.unexpected == [] and report.resized == []

    vit = load_dbot(str(dst), out_type='raw')
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = mae.extract_feat(x)  # MAEViT.forward(x, mask=None): unmasked, all tokens
        got = vit(x)
    assert len(expected) == len(got) == 1
    assert got[0].shape == expected[0].shape == (3, 65, 64)
    assert (got[0] - expected[0]).abs().max() < 1e-5


def test_vit_classifier_with_layer_scale_and_avg_pool(tmp_path, capsys):
    """mmpretrain's MAE fine-tuning layout (final_norm=False, out_type='avg_featmap': ``ln2`` ->
    ``fc_norm``) with layer scale (``gamma1/2`` -> ``ls1/2``); the head is left out."""
    backbone = dict(
        type='VisionTransformer',
        arch=ARCH,
        img_size=32,
        patch_size=4,
        final_norm=False,
        out_type='avg_featmap',
        layer_scale_init_value=0.1)
    model = randomize(
        ImageClassifier(
            backbone=backbone, head=dict(type='LinearClsHead', num_classes=10, in_channels=64)),
        seed=2,
        keep=())
    src = save_mmengine(model, str(tmp_path / 'cls.pth'))
    dst = tmp_path / 'cls_dbot_mm.pth'
    load_tool().main([src, str(dst)])
    assert '2 head.*' in capsys.readouterr().out  # LinearClsHead's fc weight and bias

    kwargs = dict(out_type='avg_featmap', final_norm=False, layer_scale_init_value=0.5)
    report = load_backbone_checkpoint(DBotViT(**TINY, **kwargs), str(dst), prefix='backbone.')
    assert report.missing == [] and report.unexpected == []
    vit = load_dbot(str(dst), **kwargs)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = model.extract_feat(x)
        got = vit(x)
    assert got[0].shape == expected[0].shape == (2, 64)
    assert (got[0] - expected[0]).abs().max() < 1e-5


def odd_checkpoint(folder, key) -> str:
    """The tiny MAE's checkpoint plus ``key``."""
    state = tiny_mae().state_dict()
    state[key] = torch.zeros(64)
    src = str(folder / 'odd.pth')
    torch.save(dict(state_dict=state, meta={}), src)
    return src


def test_unknown_backbone_key_is_one_line_error(tmp_path):
    key = 'backbone.pre_norm.weight'  # a CLIP-style ViT's pre-norm: no DBotViT counterpart
    src, dst = odd_checkpoint(tmp_path, key), tmp_path / 'never.pth'
    proc = run_tool(src, dst, cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert key in lines[0] and src in lines[0]
    assert not dst.exists()


@pytest.mark.parametrize('key, hint', [
    ('backbone.layers.1.ffn.layers.2.weight', None),
    ('backbone.patch_embed.norm.weight', None),
    ('backbone.blocks.0.norm1.weight', 'timm names already'),
])
def test_other_unknown_keys(tmp_path, key, hint):
    src, dst = odd_checkpoint(tmp_path, key), tmp_path / 'never.pth'
    with pytest.raises(SystemExit) as err:
        load_tool().main([src, str(dst)])
    message = str(err.value.code)
    assert '\n' not in message and key in message and src in message
    assert hint is None or hint in message
    assert not dst.exists()


def test_mapping_without_prefix_and_without_cls_token():
    """A bare backbone state dict maps as it is; a ViT without a class token cannot be a
    DBotViT (one-line ValueError instead of a shape error at load time)."""
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(arch=ARCH, img_size=32, patch_size=4)
    converted = load_tool().mmpretrain_vit_to_timm(vit.state_dict())
    assert set(converted) == set(DBotViT(**TINY).state_dict())
    assert torch.equal(converted['blocks.1.mlp.fc2.weight'], vit.layers[1].ffn.layers[1].weight)

    no_cls = VisionTransformer(
        arch=ARCH, img_size=32, patch_size=4, with_cls_token=False, out_type='featmap')
    with pytest.raises(ValueError, match=r"^vit\.pth: the backbone has no cls_token") as err:
        load_tool().mmpretrain_vit_to_timm(no_cls.state_dict(), source='vit.pth')
    assert '\n' not in str(err.value)
