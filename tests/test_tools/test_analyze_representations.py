"""tools/analysis_tools/analyze_representations.py on a tiny dBOT checkpoint (student and teacher
overlaid) and a small nested folder of generated images."""
import csv
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from dbot_mm.models.backbones.vit import DBotViT
from tests.helpers.tools import import_tool

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'analyze_representations.py')


def load_tool():
    return import_tool(TOOL)


@pytest.fixture(scope='module')
def dbot_ckpt(tmp_path_factory):
    """A dBOT-style checkpoint: two different tiny ViTs (192 wide, 2 blocks, patch 8)."""
    state = {}
    for seed, prefix in ((1, 'backbone.'), (2, 'teacher.')):
        torch.manual_seed(seed)
        vit = DBotViT(arch='tiny', depth=2, img_size=32, patch_size=8)
        state.update({prefix + k: v for k, v in vit.state_dict().items()})
    state['neck.mask_token'] = torch.zeros(1, 1, 16)
    path = str(tmp_path_factory.mktemp('dbot') / 'epoch_2.pth')
    torch.save(dict(meta=dict(epoch=2), state_dict=state), path)
    return path


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
    """5 images of assorted sizes under class folders of train/ and val/, and one at the top."""
    root = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    names = ['train/a/0.png', 'train/b/1.png', 'val/a/2.png', 'val/b/3.jpg', '4.png']
    for i, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (40 + 8 * i, 56 - 4 * i, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / name)
    return str(root)


def test_student_and_teacher_overlaid(tmp_path, dbot_ckpt, image_dir):
    out = tmp_path / 'out'
    results = load_tool().main([
        dbot_ckpt, dbot_ckpt, '--source', 'student', 'teacher', '--data', image_dir, '--img-size',
        '32', '--batch-size', '2', '--num-workers', '0', '--device', 'cpu', '--out-dir',
        str(out)
    ])

    for name in ('attention_distance.png', 'singular_values.png'):
        data = (out / name).read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10_000, name
    saved = json.loads((out / 'representations.json').read_text())
    assert saved == json.loads(json.dumps(results))
    assert saved['num_images'] == 5 and saved['img_size'] == [32, 32]
    student, teacher = saved['models']
    assert [student['label'], teacher['label']] == ['epoch_2', 'epoch_2 (teacher)']
    assert [student['prefix'], teacher['prefix']] == ['backbone.', 'teacher.']
    assert student['arch'] == dict(embed_dims=192, depth=2, num_heads=3, patch_size=8)
    assert student['grid'] == [4, 4]
    max_distance = 8 * math.hypot(3, 3)  # opposite corners of the 4x4 grid of 8-px patches
    for model in (student, teacher):
        dist = np.array(model['attention_distance'])
        pct = np.array(model['singular_value_percentage'])
        assert dist.shape == (2, 3) and pct.shape == (2, 5)
        assert np.all(dist > 0) and np.all(dist < max_distance)
        assert np.all(np.diff(pct, axis=1) > 0) and np.all(pct > 0) and np.all(pct < 1)
    assert not np.allclose(student['attention_distance'], teacher['attention_distance'])

    with open(out / 'representations.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * (2 * 3 + 2 * 5)
    row = next(r for r in rows if r['source'] == 'teacher' and r['layer'] == '1'
               and r['metric'] == 'attention_distance' and r['index'] == '2')
    assert float(row['value']) == pytest.approx(teacher['attention_distance'][1][2])


def test_one_line_errors(tmp_path, dbot_ckpt, image_dir):
    tool = load_tool()
    common = ['--data', image_dir, '--num-workers', '0', '--out-dir', str(tmp_path)]
    with pytest.raises(SystemExit, match='not a multiple of the patch size 8'):
        tool.main([dbot_ckpt, '--img-size', '30'] + common)
    with pytest.raises(SystemExit, match="no images .* under '.*empty'"):
        (tmp_path / 'empty').mkdir()
        tool.main([dbot_ckpt, '--data', str(tmp_path / 'empty'), '--out-dir', str(tmp_path)])
    with pytest.raises(SystemExit) as exc:  # argparse: 2 labels for 1 checkpoint
        tool.main([dbot_ckpt, '--labels', 'a', 'b'] + common)
    assert exc.value.code == 2
