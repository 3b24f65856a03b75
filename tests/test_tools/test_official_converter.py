"""Official dBOT/MAE checkpoints (timm key names) convert and give timm's features."""
import subprocess
import sys
from pathlib import Path

import torch
from timm.models.vision_transformer import VisionTransformer

from dbot_mm.models import DBotViT

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools/model_converters/official_dbot_to_dbot_mm.py'


def test_converted_features_equal_timm(tmp_path):
    torch.manual_seed(0)
    timm_vit = VisionTransformer(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4,
                                 qkv_bias=True, num_classes=0, global_pool='').eval()
    with torch.no_grad():
        for p in timm_vit.parameters():
            p.normal_(0, 0.2)
    state = dict(timm_vit.state_dict())
    decoder = {'decoder_embed.weight': torch.randn(32, 64), 'mask_token': torch.randn(1, 1, 32)}
    torch.save({'model': {**state, **decoder}, 'epoch': 799}, tmp_path / 'official.pth')
    out = subprocess.run([sys.executable, str(TOOL), str(tmp_path / 'official.pth'),
                          str(tmp_path / 'converted.pth')], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    converted = torch.load(tmp_path / 'converted.pth', weights_only=True)['state_dict']
    assert torch.equal(converted['neck.mask_token'], decoder['mask_token'])

    ours = DBotViT(arch='tiny', embed_dims=64, depth=2, num_heads=4, img_size=32, patch_size=8,
                   out_type='raw', freeze_pos_embed=False).eval()
    backbone = {k[len('backbone.'):]: v for k, v in converted.items()
                if k.startswith('backbone.')}
    ours.load_state_dict(backbone, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = timm_vit.forward_features(x)
        got = ours(x)[0]
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_unknown_keys_named(tmp_path):
    torch.save({'model': {'patch_embed.proj.weight': torch.zeros(1), 'backbone.layers.0.w':
                          torch.zeros(1)}}, tmp_path / 'odd.pth')
    out = subprocess.run([sys.executable, str(TOOL), str(tmp_path / 'odd.pth'),
                          str(tmp_path / 'o.pth')], capture_output=True, text=True)
    assert out.returncode != 0
    assert 'backbone.layers.0.w' in out.stderr and 'odd.pth' in out.stderr
