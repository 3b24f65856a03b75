"""tools/test.py --out keeps per image only what offline evaluation needs (cls / det / seg).

mmengine's generic ``DumpResults`` kept every sample whole until rank 0 pickled them: dense
instance masks (mmdet) and 150-class logits (mmseg) of every image. Each tiny demo config is run
through the tool on the synthetic data (random weights: many detections) and the pickle's bytes per
image are bounded by what the task needs.
"""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope

ROOT = Path(__file__).resolve().parents[2]
TASKS = {
    'cls': ('configs/cls/vit-tiny-p8_1xb16-demo_in1k.py', 'imagenet_root'),
    'det': ('configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py', 'coco_root'),
    'seg': ('configs/seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py', 'ade_root'),
}


def _random_checkpoint(config: Path, path: Path) -> None:
    """The config's model with its own initialisation (no pretrained backbone)."""
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save(dict(state_dict=model.state_dict()), path)


def _data_options(task: str, root) -> list:
    options = [f'test_dataloader.dataset.data_root={root}']
    if task == 'det':
        options.append(f'test_evaluator.ann_file={root}/annotations/instances_val2017.json')
    return options


@pytest.fixture(scope='module', params=sorted(TASKS))
def dumped(request, tmp_path_factory):
    """(task, dumped results, bytes per image) of one tools/test.py --out run."""
    task = request.param
    config, root_fixture = TASKS[task]
    root = request.getfixturevalue(root_fixture)
    tmp = tmp_path_factory.mktemp(f'out_{task}')
    _random_checkpoint(ROOT / config, tmp / 'random.pth')
    out = tmp / 'preds.pkl'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(ROOT), env.get('PYTHONPATH')) if p)
    proc = subprocess.run([
        sys.executable, 'tools/test.py', config, tmp / 'random.pth', '--work-dir', tmp, '--out',
        out, '--cfg-options', *_data_options(task, root)
    ],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    with open(out, 'rb') as f:
        results = pickle.load(f)
    per_image = out.stat().st_size / len(results)
    print(f'--out {task}: {len(results)} images, {per_image:.0f} bytes per image')
    return task, results, per_image


def test_every_image_is_dumped_with_its_prediction(dumped, request):
    task, results, _ = dumped
    data = request.getfixturevalue({
        'cls': 'imagenet_data',
        'det': 'coco_data',
        'seg': 'ade_data'
    }[task])
    assert len(results) == data['num_val']
    for sample in results:
        assert 'img_path' in sample
        if task == 'cls':
            assert sample['pred_score'].shape == (4, )
        elif task == 'det':
            pred = sample['pred_instances']
            assert len(pred['masks']) == len(pred['bboxes'])
            assert all(isinstance(m, dict) and 'counts' in m for m in pred['masks'])  # RLE
            assert 'gt_instances' not in sample
        else:
            labels = sample['pred_sem_seg']
            assert labels.dtype == np.uint8 and labels.shape == tuple(sample['ori_shape'])
            assert 'seg_logits' not in sample and 'gt_sem_seg' not in sample


def test_bytes_kept_per_image_stay_small(dumped):
    task, results, per_image = dumped
    h, w = results[0]['ori_shape']  # the synthetic images of a set share one size
    if task == 'det':
        masks = sum(len(s['pred_instances']['masks']) for s in results) / len(results)
        assert masks >= 10  # random weights: the bound must hold with many masks, not with none
        bound = masks * h * w / 10  # RLE: under a tenth of the dense masks' bytes
    elif task == 'seg':
        # the uint8 label map and a little metainfo; mmengine pickles with protocol 2, which
        # writes the label bytes >= 128 as two bytes
        bound = 2 * h * w + 2_000
    else:
        bound = 4_000  # scores and labels of 4 classes
    assert per_image < bound
