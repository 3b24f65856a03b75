"""CLIP teacher: tools/model_converters/clip_to_dbot_mm.py and ``CLIPTeacher`` read OpenAI CLIP
files (state dict or JIT archive) strictly, and the teacher's tokens equal a reference forward
written from OpenAI's clip/model.py."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from dbot_mm.models.targets import CLIPTeacher, build_clip_visual, load_clip_visual_state_dict
from tests.helpers.clip import make_tiny_clip
from tests.helpers.tools import import_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'clip_to_dbot_mm.py')
MEAN, STD = (127.5, 120.0, 110.0), (60.0, 58.0, 57.0)
CLIP_MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
CLIP_STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)


def load_tool():
    return import_tool(TOOL)


@pytest.fixture(scope='module')
def clip_files(tmp_path_factory):
    root = tmp_path_factory.mktemp('clip')
    state = make_tiny_clip(root / 'tiny.pt', width=128, layers=2, patch_size=8, image_size=32)
    make_tiny_clip(root / 'tiny_jit.pt', width=128, layers=2, patch_size=8, image_size=32, jit=True)
    return root, state


def reference_clip_tokens(sd, image):
    """OpenAI clip/model.py VisionTransformer on RGB in [0, 1], every token after ln_post @ proj
    (the official dBOT post_patch_norm), written out with plain tensor ops."""
    x = (image - CLIP_MEAN) / CLIP_STD
    w = sd['conv1.weight']
    width, heads = w.shape[0], w.shape[0] // 64
    x = F.conv2d(x, w, stride=w.shape[-1]).flatten(2).transpose(1, 2)
    x = torch.cat([sd['class_embedding'].expand(x.shape[0], 1, -1), x], 1)
    x = x + sd['positional_embedding']

    def ln(t, name):
        return F.layer_norm(t, (width, ), sd[f'{name}.weight'], sd[f'{name}.bias'], 1e-5)

    x = ln(x, 'ln_pre')
    i = 0
    while f'transformer.resblocks.{i}.ln_1.weight' in sd:
        p = f'transformer.resblocks.{i}.'
        q, k, v = (ln(x, p + 'ln_1') @ sd[p + 'attn.in_proj_weight'].T +
                   sd[p + 'attn.in_proj_bias']).chunk(
                       3, dim=-1)
        B, N, _ = q.shape
        q, k, v = (t.reshape(B, N, heads, -1).transpose(1, 2) for t in (q, k, v))
        a = ((q @ k.transpose(-2, -1)) / (q.shape[-1]**0.5)).softmax(-1) @ v
        a = a.transpose(1, 2).reshape(B, N, width)
        x = x + a @ sd[p + 'attn.out_proj.weight'].T + sd[p + 'attn.out_proj.bias']
        h = ln(x, p + 'ln_2') @ sd[p + 'mlp.c_fc.weight'].T + sd[p + 'mlp.c_fc.bias']
        h = h * torch.sigmoid(1.702 * h)
        x = x + h @ sd[p + 'mlp.c_proj.weight'].T + sd[p + 'mlp.c_proj.bias']
        i += 1
    assert i == 2
    return ln(x, 'ln_post') @ sd['proj']


@pytest.mark.parametrize('name', ['tiny.pt', 'tiny_jit.pt'])
def test_teacher_tokens_equal_reference_clip(clip_files, name):
    root, state = clip_files
    teacher = CLIPTeacher(str(root / name), input_mean=MEAN, input_std=STD)
    image = torch.rand(2, 3, 32, 32)
    inputs = (image * 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(
        1, 3, 1, 1)
    visual = {k[len('visual.'):]: v for k, v in state.items() if k.startswith('visual.')}
    expected = reference_clip_tokens(visual, image)
    tokens = teacher(inputs)
    assert tokens.shape == (2, 1 + 16, 48)
    torch.testing.assert_close(tokens, expected, atol=1e-5, rtol=0)
    assert not any(p.requires_grad for p in teacher.parameters())
    teacher.train()
    assert not teacher.training


def test_converter_output_loads_strictly_and_matches(clip_files, tmp_path):
    root, state = clip_files
    out = tmp_path / 'sub' / 'visual.pth'
    assert load_tool().main([str(root / 'tiny_jit.pt'), str(out)]) == 0
    written = torch.load(out, map_location='cpu', weights_only=True)
    visual = {k[len('visual.'):]: v for k, v in state.items() if k.startswith('visual.')}
    assert written['state_dict'].keys() == visual.keys()  # no text tower, no prefix
    for k, v in visual.items():
        torch.testing.assert_close(written['state_dict'][k], v, atol=0, rtol=0)
    a = CLIPTeacher(str(out))
    b = CLIPTeacher(str(root / 'tiny.pt'))
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(a(x), b(x), atol=0, rtol=0)


def test_teacher_input_size_resizes_position_embedding(clip_files):
    root, _ = clip_files
    teacher = CLIPTeacher(str(root / 'tiny.pt'), input_size=24)  # 32 px / 8 -> 24 px / 8
    assert teacher.visual.positional_embedding.shape == (1 + 9, 128)
    assert teacher(torch.randn(1, 3, 32, 32)).shape == (1, 1 + 9, 48)


def test_missing_file_is_one_line_error(tmp_path):
    path = str(tmp_path / 'ViT-B-16.pt')
    with pytest.raises(FileNotFoundError, match='ViT-B-16.pt') as info:
        CLIPTeacher(path)
    assert '\n' not in str(info.value) and 'openai/CLIP' in str(info.value)
    assert load_tool().main([path, str(tmp_path / 'out.pth')]) == 1


def test_not_a_clip_file_is_one_line_error(tmp_path):
    path = tmp_path / 'vit.pth'
    torch.save({'blocks.0.norm1.weight': torch.ones(2)}, path)
    with pytest.raises(ValueError, match='no CLIP ViT image encoder'):
        load_clip_visual_state_dict(str(path))


@pytest.mark.parametrize(
    'arch,shapes',
    [
        (dict(width=768, layers=12, patch_size=16, grid=14, output_dim=512), {
            'conv1.weight': (768, 3, 16, 16),
            'positional_embedding': (197, 768),
            'proj': (768, 512),
            'transformer.resblocks.11.attn.in_proj_weight': (2304, 768),
            'transformer.resblocks.11.mlp.c_fc.weight': (3072, 768)
        }),
        (
            dict(width=1024, layers=24, patch_size=14, grid=14, output_dim=768),  # L/14 at 196 px
            {
                'conv1.weight': (1024, 3, 14, 14),
                'positional_embedding': (197, 1024),
                'proj': (1024, 768),
                'transformer.resblocks.23.mlp.c_proj.weight': (1024, 4096)
            }),
    ])
def test_clip_b16_and_l14_shapes_build(arch, shapes):
    """The OpenAI ViT-B/16 and ViT-L/14 image encoders' shapes (built on the meta device)."""
    with torch.device('meta'):
        visual = build_clip_visual(**arch)
    state = visual.state_dict()
    assert len(visual.transformer.resblocks) == arch['layers']
    assert visual.transformer.resblocks[0].attn.num_heads == arch['width'] // 64
    for k, shape in shapes.items():
        assert tuple(state[k].shape) == shape, k
