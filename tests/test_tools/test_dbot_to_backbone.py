"""tools/model_converters/dbot_to_backbone.py: dBOT checkpoint -> tensor-only backbone file that
``load_backbone_checkpoint(prefix='')`` (and so ``init_cfg`` with ``prefix=''``) loads."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.logging import HistoryBuffer

import dbot_mm  # noqa: F401
from dbot_mm.models.backbones.vit import DBotViT
from dbot_mm.models.utils.pretrained import load_backbone_checkpoint
from tests.helpers.tools import import_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'model_converters', 'dbot_to_backbone.py')


def load_tool():
    return import_tool(TOOL)


def tiny_vit(seed=None, **kwargs):
    vit = DBotViT(
        arch='tiny', embed_dims=32, depth=2, num_heads=2, img_size=32, patch_size=8, **kwargs)
    if seed is not None:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in vit.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
    return vit


@pytest.fixture(scope='module')
def dbot_ckpt(tmp_path_factory):
    student, teacher = tiny_vit(1), tiny_vit(2)
    state = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state['neck.mask_token'] = torch.randn(1, 1, 16)
    state.update({f'teacher.{k}': v for k, v in teacher.state_dict().items()})
    path = str(tmp_path_factory.mktemp('dbot') / 'epoch_4.pth')
    torch.save(
        dict(
            meta=dict(epoch=4, mmengine_version='0.10.7'),
            state_dict=state,
            optimizer=dict(state={}, param_groups=[dict(lr=1e-3, params=[0])]),
            message_hub=dict(log_scalars={'train/loss': HistoryBuffer([1.0], [1])})), path)
    return path, student.state_dict(), teacher.state_dict()


def test_cli_teacher_round_trip(tmp_path, dbot_ckpt):
    ckpt, _, teacher = dbot_ckpt
    out = str(tmp_path / 'sub' / 'teacher.pth')
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run([sys.executable, TOOL, ckpt, out, '--source', 'teacher'],
                          capture_output=True,
                          text=True,
                          env=env,
                          cwd=str(tmp_path),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    exported = torch.load(out, map_location='cpu', weights_only=True)
    assert set(exported) == {'state_dict', 'meta'}
    assert exported['meta']['source'] == 'teacher'
    assert exported['meta']['epoch'] == 4
    assert set(exported['state_dict']) == set(teacher)
    for k, v in teacher.items():
        assert torch.equal(exported['state_dict'][k], v), k

    vit = tiny_vit()
    report = load_backbone_checkpoint(vit, out, prefix='')
    assert report.missing == [] and report.unexpected == []
    for k, v in vit.state_dict().items():
        assert torch.equal(v, teacher[k]), k


def test_student_default_and_init_cfg(tmp_path, dbot_ckpt):
    ckpt, student, teacher = dbot_ckpt
    out = str(tmp_path / 'student.pth')
    load_tool().main([ckpt, out])
    exported = torch.load(out, map_location='cpu', weights_only=True)
    assert exported['meta']['source'] == 'student'
    assert not any(k.startswith(('backbone.', 'neck.', 'teacher.')) for k in exported['state_dict'])
    vit = tiny_vit(
        init_cfg=dict(type='Pretrained', checkpoint=out, prefix=''), freeze_pos_embed=False)
    vit.init_weights()
    for k, v in vit.state_dict().items():
        assert torch.equal(v, student[k]), k
    assert not torch.equal(vit.state_dict()['blocks.0.attn.qkv.weight'],
                           teacher['blocks.0.attn.qkv.weight'])


def test_source_absent_is_one_line_error(tmp_path):
    ckpt = str(tmp_path / 'classifier.pth')
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in tiny_vit().state_dict().items()
        }
             | {'head.fc.weight': torch.zeros(3, 32)}), ckpt)
    with pytest.raises(SystemExit) as err:
        load_tool().main([ckpt, str(tmp_path / 'out.pth'), '--source', 'teacher'])
    message = str(err.value.code)
    assert '\n' not in message
    assert ckpt in message and "'teacher.'" in message and "'head.'" in message
    assert not osp.exists(tmp_path / 'out.pth')


def test_missing_checkpoint(tmp_path):
    missing = str(tmp_path / 'epoch_9.pth')
    with pytest.raises(SystemExit) as err:
        load_tool().main([missing, str(tmp_path / 'out.pth')])
    assert missing in str(err.value.code) and '\n' not in str(err.value.code)


def test_amp_teacher_exported_in_fp32(tmp_path):
    """A teacher trained under AMP holds bf16 matmul weights: exported as fp32, same values."""
    teacher = tiny_vit(3)
    for m in teacher.modules():
        if isinstance(m, torch.nn.Linear):
            m.to(torch.bfloat16)
    ckpt = str(tmp_path / 'amp.pth')
    torch.save(dict(state_dict={f'teacher.{k}': v for k, v in teacher.state_dict().items()}), ckpt)
    exported = load_tool().export_backbone(ckpt, str(tmp_path / 't.pth'), 'teacher')
    qkv = teacher.state_dict()['blocks.0.attn.qkv.weight']
    assert qkv.dtype == torch.bfloat16
    assert all(v.dtype == torch.float32 for v in exported['state_dict'].values())
    assert torch.equal(exported['state_dict']['blocks.0.attn.qkv.weight'], qkv.float())


@pytest.mark.parametrize(
    'cut,needle', [
        (0, 'the file is empty (0 bytes)'),
        (None, 'HTML page'),
        (2, 'truncated or not a torch checkpoint'),
    ],
    ids=['empty', 'html', 'truncated'])
def test_unreadable_checkpoint_is_one_line(tmp_path, dbot_ckpt, cut, needle):
    ckpt = str(tmp_path / 'epoch_1600.pth')
    with open(dbot_ckpt[0], 'rb') as f:
        data = f.read()
    with open(ckpt, 'wb') as f:
        f.write(b'<html><body>Service unavailable</body></html>' if cut is
                None else data[:len(data) // cut] if cut else b'')
    with pytest.raises(SystemExit) as err:
        load_tool().main([ckpt, str(tmp_path / 'out.pth')])
    message = str(err.value.code)
    assert '\n' not in message and ckpt in message and needle in message, message
    assert not osp.exists(tmp_path / 'out.pth')
