"""tools/analysis_tools/visualize_features.py: PCA maps against numpy, the CLS attention against
timm's fused attention, and the PNG grid of two stage checkpoints (the ViT-L recipe's depth-0
stage-1 teacher, rebuilt as the student after the bootstrap)."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS
from PIL import Image

import dbot_mm  # noqa: F401
from dbot_mm.models.backbones.vit import DBotViT
from tests.helpers.tools import import_tool

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

TOOL = 'analysis_tools/visualize_features.py'


def numpy_pca_rgb(feats):
    """Reference: centred SVD, first 3 right singular vectors with their largest-magnitude
    loading positive, projections min-max scaled per channel."""
    centred = feats - feats.mean(0)
    comps = np.linalg.svd(centred, full_matrices=False)[2][:3]
    comps *= np.sign(comps[np.arange(3), np.abs(comps).argmax(1)])[:, None]
    proj = centred @ comps.T
    return (proj - proj.min(0)) / (proj.max(0) - proj.min(0))


def tiny_vit(**kwargs):
    torch.manual_seed(0)
    return DBotViT(
        arch='tiny', embed_dims=32, depth=2, num_heads=4, img_size=32, patch_size=4,
        **kwargs).eval()


def test_pca_matches_numpy():
    tool = import_tool(TOOL)
    vit = tiny_vit()
    with torch.no_grad():
        feats = vit.norm(vit.forward_target(torch.randn(1, 3, 32, 32)))[0, 1:]  # 64 patches
    rgb = tool.pca_rgb(feats)
    assert rgb.shape == (64, 3)
    np.testing.assert_allclose(rgb.numpy(), numpy_pca_rgb(feats.double().numpy()), atol=1e-6)
    assert torch.allclose(tool.pca_rgb(-feats), 1 - rgb, atol=1e-6)  # components follow the data
    # fitted on all tokens, applied to some: those rows of the full map
    assert torch.allclose(tool.pca_rgb(feats[:7], fit=feats), rgb[:7], atol=1e-6)


def test_attention_weights_are_the_blocks():
    """Weights @ v through the projection = the last block's fused attention (rel. pos. bias)."""
    vit = tiny_vit(use_rel_pos_bias=True, layer_scale_init_value=0.1)
    with torch.no_grad():
        for p in [b.rel_pos_bias.relative_position_bias_table for b in vit.blocks]:
            p.normal_()
        x = torch.randn(2, 3, 32, 32)
        weights = import_tool(TOOL).attention_weights(vit, x)
        tokens = vit.blocks[0](vit.add_cls_token(vit.embed_patches(x)))
        blk = vit.blocks[1]
        y = blk.norm1(tokens)
        v = blk.attn.qkv(y).reshape(2, 65, 3, 4, 8)[:, :, 2].transpose(1, 2)
        out = blk.attn.proj((weights @ v).transpose(1, 2).reshape(2, 65, 32))
        assert torch.allclose(out, blk.attn(y, attn_mask=blk.rel_pos_bias(65)), atol=1e-5)
    assert weights.shape == (2, 4, 65, 65)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 65))


@pytest.fixture(scope='module')
def stage_checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp('vis')
    cfg = Config.fromfile('configs/pretrain/dbot_vit-tiny_demo.py')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    paths = []
    for stage in (1, 2):
        if stage == 2:
            model.bootstrap()
        meta = dict(cfg=cfg.pretty_text, dbot_stage=stage, epoch=2 * stage)
        paths.append(str(root / f'dbot_stage{stage}_epoch_{2 * stage}.pth'))
        torch.save(dict(meta=meta, state_dict=model.state_dict()), paths[-1])
    rng = np.random.default_rng(0)
    images = []
    for i, shape in enumerate([(80, 64, 3), (64, 100, 3)]):
        images.append(str(root / f'img{i}.png'))
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(images[-1])
    return paths, images


def test_grid_of_stage_checkpoints(tmp_path, stage_checkpoints, capsys):
    paths, images = stage_checkpoints
    tool = import_tool(TOOL)
    written = tool.main([*paths, '--images', *images, '--out', str(tmp_path)])
    assert [p.rsplit('/', 1)[1] for p in written] == ['0_img0.png', '1_img1.png']
    assert Image.open(written[0]).size == (800, 352)  # 5 columns x 2 rows of 2 in at 80 dpi
    assert 'wrote 2 figure(s)' in capsys.readouterr().out

    models = [tool.build_model(p) for p in paths]
    assert [label for _, label in models] == ['stage 1, epoch 2', 'stage 2, epoch 4']
    assert len(models[0][0].teacher.blocks) == 0 and len(models[1][0].teacher.blocks) == 4
    rgb = tool.load_image(images[1], 64)
    assert rgb.shape == (64, 64, 3)
    maps = [tool.feature_maps(m, rgb) for m, _ in models]
    target, prediction, encoder, attention = maps[1]
    assert target.shape == prediction.shape == encoder.shape == (8, 8, 3)
    assert attention.shape == (8, 8) and attention.max() == 1
    visible = (prediction == 0.5).all(-1)
    assert visible.sum() == 16  # 25 % of 64 patches, grey
    assert ((maps[0][1] == 0.5).all(-1) == visible).all()  # the same mask in every row


def test_checkpoint_without_config(tmp_path, stage_checkpoints):
    ckpt = torch.load(stage_checkpoints[0][0], weights_only=False)
    del ckpt['meta']['cfg']
    torch.save(ckpt, tmp_path / 'bare.pth')
    with pytest.raises(SystemExit, match='^error: .*bare.pth.*pass --config$'):
        import_tool(TOOL).main([str(tmp_path / 'bare.pth'), '--images', 'x.png', '--out', 'o'])


def test_dbot_clip_checkpoint(tmp_path):
    """DBOTCLIP: CLIP's tokens as the target, the lm_head's at the masked patches (40 %)."""
    from tests.helpers.clip import make_tiny_clip
    clip = tmp_path / 'clip.pt'
    make_tiny_clip(clip, width=64, layers=1, patch_size=8, image_size=64, embed_dim=48)
    cfg = Config.fromfile('configs/pretrain/dbot-clip_vit-tiny_demo.py')
    cfg.model.teacher.checkpoint = str(clip)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.save(
        dict(meta=dict(cfg=cfg.pretty_text), state_dict=model.state_dict()),
        tmp_path / 'epoch_1.pth')
    tool = import_tool(TOOL)
    built, label = tool.build_model(str(tmp_path / 'epoch_1.pth'))
    assert type(built).__name__ == 'DBOTCLIP' and label == 'epoch_1.pth'
    size = built.backbone.patch_embed.img_size[0]
    rgb = np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8)
    target, prediction, encoder, attention = tool.feature_maps(built, rgb)
    grid = size // 8
    assert target.shape == prediction.shape == encoder.shape == (grid, grid, 3)
    assert (prediction == 0.5).all(-1).sum() == int(grid * grid * 0.6)
