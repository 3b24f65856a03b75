"""Every downstream recipe fine-tunes a tiny dBOT checkpoint through ``tools/train.py``.

A tiny dBOT (configs/pretrain/dbot_vit-tiny_demo.py, teacher as deep as the student, as after a
bootstrapping stage) is saved with every tensor perturbed, so that no initialisation of the
downstream model (sin-cos position embedding, unit norms, ...) can equal it by chance. Each tiny
demo config then trains a few iterations on the synthetic data sets and evaluates with the real
metric (mmpretrain Accuracy, mmdet CocoMetric bbox + segm, mmseg IoUMetric); the backbone must
have loaded the checkpoint (exactly at init; within a few optimizer steps of it after training).
"""
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / 'tools' / 'train.py'
PRETRAIN_TINY = REPO / 'configs' / 'pretrain' / 'dbot_vit-tiny_demo.py'
# name: (config, data set, checkpoint prefix, metrics, options shortening the run)
RUNS = {
    'cls': ('configs/cls/vit-tiny-p8_1xb16-demo_in1k.py', 'imagenet', 'teacher.',
            ('accuracy/top1', ), dict(max_epochs=1, val_interval=1)),
    'mask-rcnn': ('configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py', 'coco', 'backbone.',
                  ('coco/bbox_mAP', 'coco/segm_mAP'), dict(max_epochs=1, val_interval=1)),
    'cascade-mask-rcnn':
    ('configs/det/cascade-mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py', 'coco', 'backbone.',
     ('coco/bbox_mAP', 'coco/segm_mAP'), dict(max_epochs=1, val_interval=1)),
    'upernet': ('configs/seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py', 'ade', 'backbone.',
                ('mIoU', 'aAcc'), dict(max_iters=4, val_interval=4)),
}
# Adam moves a weight by about lr per step: a few steps at lr <= 3e-4 stay far below this, while a
# backbone that did not load the checkpoint differs from it by ~0.05 (the perturbation alone).
AFTER_TRAINING_ATOL = 5e-3


@pytest.fixture(scope='module')
def dbot_checkpoint(tmp_path_factory):
    """``{'state_dict': {'backbone.*', 'neck.*', 'teacher.*'}}`` of a tiny dBOT, as tools/train.py
    saves it; student and teacher are 64-wide, 4-block ViTs with 8 px patches."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import dbot_mm  # noqa: F401
    torch.manual_seed(0)
    if PRETRAIN_TINY.is_file():
        cfg = Config.fromfile(PRETRAIN_TINY)
        cfg.model.teacher.depth = cfg.model.backbone.depth  # a stage-2 teacher
        state = MODELS.build(cfg.model).state_dict()
    else:  # two tiny ViTs in the same layout
        from dbot_mm.models import DBotViT
        arch = dict(arch='tiny', embed_dims=64, depth=4, num_heads=4, img_size=64, patch_size=8)
        state = {
            f'{prefix}.{k}': v
            for prefix in ('backbone', 'teacher')
            for k, v in DBotViT(**arch).state_dict().items()
        }
    gen = torch.Generator().manual_seed(1)
    state = {
        k: v + 0.02 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
        for k, v in state.items()
    }
    path = tmp_path_factory.mktemp('dbot_ckpt') / 'dbot_vit-tiny.pth'
    torch.save({'state_dict': state, 'meta': {}}, path)
    return path, state


def data_options(kind, request):
    if kind == 'imagenet':
        root = request.getfixturevalue('imagenet_root')
        opts = {}
    elif kind == 'coco':
        root = request.getfixturevalue('coco_root').rstrip('/') + '/'
        ann = root + 'annotations/instances_val2017.json'
        opts = {
            'val_evaluator.ann_file': ann,
            'test_evaluator.ann_file': ann,
            # keep every box of a barely trained model, so that the metric has input
            'model.test_cfg.rcnn.score_thr': 0.0
        }
    else:
        root = request.getfixturevalue('ade_root')
        opts = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts[f'{loader}.dataset.data_root'] = root
    return opts


def backbone_tensors(state, prefix):
    """Checkpoint tensors under ``prefix`` that a final-norm-free downstream backbone uses."""
    return {
        k[len(prefix):]: v
        for k, v in state.items()
        if k.startswith(prefix) and not k[len(prefix):].startswith('norm.')
    }


def val_metrics(work_dir: Path) -> dict:
    """The last validation record of the run's scalars.json."""
    files = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert files, f'no scalars.json under {work_dir}'
    records = [json.loads(line) for line in files[-1].read_text().splitlines() if line.strip()]
    val = [r for r in records if not any(k in r for k in ('loss', 'lr'))]
    assert val, f'no validation record in {files[-1]}'
    return val[-1]


@pytest.mark.parametrize('name', sorted(RUNS))
def test_init_weights_load_the_checkpoint_exactly(name, dbot_checkpoint):
    """What the Runner's init_weights does to the backbone, in-process: every encoder tensor of
    the checkpoint, bit for bit (the grids match, so no pos_embed resize)."""
    import importlib

    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    config, _, prefix, _, _ = RUNS[name]
    path, state = dbot_checkpoint
    cfg = Config.fromfile(REPO / config)
    cfg.merge_from_dict({
        'model.backbone.init_cfg.checkpoint': str(path),
        'model.backbone.init_cfg.prefix': prefix
    })
    registry = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = registry.build(cfg.model)
        model.init_weights()
    got = model.backbone.state_dict()
    expected = backbone_tensors(state, prefix)
    assert len(expected) == 52  # patch embed (2) + cls + pos_embed + 4 blocks x 12
    for key, value in expected.items():
        assert torch.equal(got[key], value), key


def run_options(name, checkpoint, request):
    _, data, prefix, _, loop = RUNS[name]
    return {
        'model.backbone.init_cfg.checkpoint': str(checkpoint),
        'model.backbone.init_cfg.prefix': prefix,
        **{
            f'train_cfg.{k}': v
            for k, v in loop.items()
        },
        **data_options(data, request)
    }


def train(config, work_dir, opts):
    cmd = [
        sys.executable,
        str(TRAIN),
        str(REPO / config), '--work-dir',
        str(work_dir), '--cfg-options', *[f'{k}={v}' for k, v in opts.items()]
    ]
    # single-threaded runs, two at a time: on 2 shared cores torch's default thread pool mostly
    # waits on itself
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope='module')
def tiny_runs(dbot_checkpoint, request, tmp_path_factory):
    """Start the selected runs, two processes at a time; ``tiny_runs[name]`` is a future of
    (work_dir, CompletedProcess)."""
    wanted = [
        item.callspec.params['name'] for item in request.session.items
        if getattr(item, 'originalname', '') == 'test_tiny_finetune_through_tools_train'
    ]
    root = tmp_path_factory.mktemp('tiny_runs')
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {}
    for name in sorted(set(wanted), key=list(RUNS).index):
        opts = run_options(name, dbot_checkpoint[0], request)  # data made here, in this thread
        work_dir = root / name
        futures[name] = pool.submit(lambda c=RUNS[name][0], w=work_dir, o=opts: (w, train(c, w, o)))
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.parametrize('name', list(RUNS))
def test_tiny_finetune_through_tools_train(name, dbot_checkpoint, tiny_runs):
    _, _, prefix, metrics, _ = RUNS[name]
    path, state = dbot_checkpoint
    work_dir, proc = tiny_runs[name].result()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]

    # the checkpoint was loaded by the run (strict loader's summary line)
    assert re.search(
        rf"loaded 52 tensors of DBotViT from '{re.escape(str(path))}' "
        rf"\(prefix '{re.escape(prefix)}'\)", log), log[-4000:]

    # the real metric ran on the validation set
    record = val_metrics(work_dir)
    for key in metrics:
        assert key in record, (key, record)
        value = record[key]
        assert value == value  # not NaN
        assert (0 <= value <= 100) if not key.startswith('coco/') else (-1 <= value <= 1), record
    print(f'{name}: ' + ', '.join(f'{k}={record[k]}' for k in metrics))

    # the trained backbone is a few small steps away from the checkpoint
    last = (work_dir / 'last_checkpoint').read_text().strip()
    trained = torch.load(last, map_location='cpu', weights_only=False)['state_dict']
    moved = 0.
    for key, value in backbone_tensors(state, prefix).items():
        diff = (trained['backbone.' + key] - value).abs().max().item()
        assert diff < AFTER_TRAINING_ATOL, (key, diff)
        moved = max(moved, diff)
    assert moved > 0, 'the backbone did not train'
