"""tools/model_converters/dbot_to_timm.py: a dbot_mm ViT as a safetensors file that
``timm.create_model(NAME, pretrained=True, **json kwargs)`` loads strictly, giving DBotViT's
features (MAE-style -> VisionTransformer, BEiT-style -> Beit) and a fine-tuned model's logits."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import safetensors.torch
import timm
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS

import dbot_mm  # noqa: F401
from dbot_mm.models.backbones.vit import DBotViT
from dbot_mm.utils.checkpoint import CheckpointLoadError
from tests.helpers.tools import import_tool

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'dbot_to_timm.py')
# 32 wide, 2 heads: not a standard width, so the head count must come from the saved config
TINY = dict(arch='tiny', embed_dims=32, depth=2, num_heads=2, img_size=32, patch_size=8)
BEIT = dict(layer_scale_init_value=0.1, use_rel_pos_bias=True)  # the CLIP-distilled student


def randomise(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module.eval()


def save(path, model_cfg, state, **meta):
    meta['cfg'] = Config(dict(model=model_cfg)).pretty_text
    torch.save(dict(meta=meta, state_dict=state), path)
    return str(path)


def pretrain_ckpt(tmp_path, student_kwargs, teacher_kwargs=TINY):
    """A dBOT checkpoint: student, decoder key, a teacher 48 wide with 3 heads."""
    student = randomise(DBotViT(**student_kwargs), 1)
    teacher = randomise(DBotViT(**teacher_kwargs), 2)
    state = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teacher.{k}': v for k, v in teacher.state_dict().items()})
    state['neck.mask_token'] = torch.zeros(1, 1, 16)
    cfg = dict(
        type='DBOT',
        backbone=dict(student_kwargs, type='DBotViT'),
        teacher=dict(teacher_kwargs, type='DBotViT'))
    return save(tmp_path / 'epoch_3.pth', cfg, state, epoch=3, dbot_stage=2), student, teacher


def timm_from_json(out):
    with open(osp.splitext(out)[0] + '.json') as f:
        info = json.load(f)
    model = timm.create_model(info['timm_model'], pretrained=True, **info['create_model_kwargs'])
    return model.eval(), info


def images(n=2):
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize('family', ['mae', 'beit', 'beit_no_abs_pos'])
def test_features_equal(tmp_path, family):
    kwargs = dict(TINY, **(BEIT if family != 'mae' else {}))
    if family == 'beit_no_abs_pos':  # the beit branch's fine-tuning default
        kwargs['use_abs_pos_emb'] = False
    ckpt, student, _ = pretrain_ckpt(tmp_path, kwargs)
    out = str(tmp_path / 'student.safetensors')
    import_tool(TOOL).export_timm(ckpt, out)
    model, info = timm_from_json(out)
    assert type(model).__name__ == ('VisionTransformer' if family == 'mae' else 'Beit')
    assert set(safetensors.torch.load_file(out)) == set(model.state_dict())
    x = images()
    with torch.no_grad():
        tokens = model.forward_features(x)
        ref = DBotViT(**kwargs, out_type='raw').eval()
        ref.load_state_dict(student.state_dict())
        assert torch.allclose(tokens, ref(x)[0], atol=1e-5)
        assert torch.allclose(model(x), student(x)[0], atol=1e-5)  # CLS after the final norm
    assert info['mean'] == pytest.approx([0.485, 0.456, 0.406])
    assert info['input_size'] == [3, 32, 32] and info['stage'] == 2 and info['epoch'] == 3
    assert info['source_checkpoint'] == ckpt and info['prefix'] == 'backbone.'


def test_teacher_cli_prints_round_trip(tmp_path):
    teacher_kwargs = dict(TINY, embed_dims=48, depth=1, num_heads=3)
    ckpt, _, teacher = pretrain_ckpt(tmp_path, TINY, teacher_kwargs)
    with open(tmp_path / 'run_record.json', 'w') as f:
        json.dump(dict(config_name='dbot_x', teacher=None, model=dict(teacher=dict(depth=1))), f)
    out = str(tmp_path / 'teacher.safetensors')
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, TOOL, ckpt, out, '--source', 'teacher'],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "timm.create_model('vit_base_patch8_224', pretrained=True" in proc.stdout
    diff = float(proc.stdout.rsplit(': ', 1)[1])
    assert diff < 1e-5
    model, info = timm_from_json(out)
    assert info['teacher'] == dict(config='dbot_x', checkpoint=None, model=dict(depth=1))
    assert model.blocks[0].attn.num_heads == 3 and model.embed_dim == 48
    with torch.no_grad():
        assert torch.allclose(model(images()), teacher(images())[0], atol=1e-5)


@pytest.mark.parametrize('out_type,final_norm', [('avg_featmap', False), ('cls_token', True)])
def test_finetuned_logits_equal(tmp_path, out_type, final_norm):
    """An mmpretrain ImageClassifier as the fine-tuning configs build it (avg-pool + fc_norm, or
    the transfer configs' CLS token) exports with its head; timm's logits are its logits."""
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(TINY, type='DBotViT', out_type=out_type, final_norm=final_norm, **BEIT),
        neck=None,
        head=dict(type='LinearClsHead', num_classes=5, in_channels=32))
    classifier = randomise(MODELS.build(cfg), 3)
    ckpt = save(tmp_path / 'epoch_1.pth', cfg, classifier.state_dict())
    out = str(tmp_path / 'ft.safetensors')
    import_tool(TOOL).export_timm(ckpt, out)
    model, info = timm_from_json(out)
    assert info['create_model_kwargs']['num_classes'] == 5
    x = images(3)
    with torch.no_grad():
        logits = classifier.head(classifier.extract_feat(x))
        assert torch.allclose(model(x), logits, atol=1e-5)


def test_json_kwargs_make_timm_strict(tmp_path):
    """timm checks keys only while the overlay's num_classes equals the model's: a file lacking
    a key must not load through the JSON's kwargs."""
    ckpt, _, _ = pretrain_ckpt(tmp_path, TINY)
    out = str(tmp_path / 's.safetensors')
    import_tool(TOOL).export_timm(ckpt, out)
    state = safetensors.torch.load_file(out)
    del state['blocks.1.mlp.fc2.bias']
    safetensors.torch.save_file(state, out)
    with pytest.raises(RuntimeError, match='Missing key'):
        timm_from_json(out)


@pytest.mark.parametrize('damage', ['missing', 'norm_and_fc_norm'])
def test_incomplete_file_is_one_line_error(tmp_path, damage):
    kwargs = dict(TINY, out_type='avg_featmap') if damage == 'norm_and_fc_norm' else TINY
    ckpt, _, _ = pretrain_ckpt(tmp_path, kwargs)
    if damage == 'missing':
        ckpt_data = torch.load(ckpt, weights_only=False)
        del ckpt_data['state_dict']['backbone.blocks.1.attn.proj.weight']
        torch.save(ckpt_data, ckpt)
    out = tmp_path / 'bad.safetensors'
    with pytest.raises(CheckpointLoadError) as err:
        import_tool(TOOL).export_timm(ckpt, str(out))
    message = str(err.value)
    assert '\n' not in message and 'nothing written' in message
    assert ('blocks.1.attn.proj.weight' if damage == 'missing' else "'norm.weight'") in message
    assert not out.exists() and not out.with_suffix('.json').exists()
