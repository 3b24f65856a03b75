"""KNNWatchHook on tiny two-stage dBOT runs (CPU): the values in ``vis_data/scalars.json`` (student
every epoch, teacher at each stage start), equal to ``eval_frozen_features.py`` on the same
weights and images, training unchanged by the hook, a resume, the tables' plot, bad input, and
the shared feature against the downstream forward."""
import argparse
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from dbot_mm.engine.hooks import KNNWatchHook
from dbot_mm.evaluation.frozen_protocols import extract_features
from dbot_mm.reporting import build_tables
from dbot_mm.reporting.mini_report import _pretrain_lines
from dbot_mm.reporting.table_writer import write_plots
from tests.helpers.tiny_pretrain import REPO, tiny_cfg
from tests.helpers.tools import import_tool

STAGES = [0, 1, 2]
WATCH = dict(type='KNNWatchHook', data='train', num_images=48, k=5)  # 24 memory / 24 queries


def _cfg(work_dir, data_root, watch=True, random_state=True):
    cfg = tiny_cfg(work_dir, data_root, stage_epochs=STAGES)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if random_state or h.type != 'RandomStateHook']
    if watch:
        cfg.custom_hooks.append(WATCH)
    return cfg


def _knn_lines(work_dir):
    """{key: {step: value}} of the k-NN lines of every launch, in order."""
    out = {}
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            for key in ('knn/student_top1', 'knn/teacher_top1'):
                if key in rec:
                    out.setdefault(key, []).append((rec['step'], rec[key]))
    return out


def _weights(path):
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


@pytest.fixture(scope='module')
def watched(tmp_path_factory, imagenet_root):
    """A two-stage run with the hook; the k-NN memory and query indices it drew."""
    work = tmp_path_factory.mktemp('watched')
    runner = Runner.from_cfg(_cfg(work, imagenet_root))
    runner.train()
    hook = next(h for h in runner.hooks if isinstance(h, KNNWatchHook))
    return work, [loader.dataset.indices for loader in hook.loaders], hook, runner.model


def test_values_at_the_right_epochs(watched):
    work, (memory, query), _, _ = watched
    assert (len(memory), len(query)) == (24, 24) and not set(memory) & set(query)
    lines = _knn_lines(work)
    student, teacher = dict(lines['knn/student_top1']), dict(lines['knn/teacher_top1'])
    # step: the epoch (from 1) the student finished, the one the teacher starts to teach
    assert sorted(student) == [1, 2] and sorted(teacher) == [1, 2]
    assert all(0 <= v <= 100 for v in [*student.values(), *teacher.values()])
    assert teacher[2] == student[1]  # the stage-2 teacher is the student that ended stage 1


def test_value_equals_eval_frozen_features(watched, imagenet_root, tmp_path):
    """The tool on the final student checkpoint, its train split = the hook's memory and its val
    split = the hook's queries (mmengine's ``indices``), finds the logged value; the hook's
    features of the student in train mode are the tool's backbone's, and train mode stays."""
    work, (memory, query), hook, model = watched
    cfg = Config.fromfile(REPO / 'configs/cls/vit-tiny-p8_1xb16-demo_in1k.py')
    folder = dict(type='CustomDataset', data_prefix=f'{imagenet_root}/train', with_label=True)
    cfg.train_dataloader.dataset = dict(folder, indices=memory)
    cfg.val_dataloader.dataset = dict(folder, indices=query, pipeline=cfg.test_pipeline)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.dump(tmp_path / 'knn_watch_cls.py')
    tool = import_tool('analysis_tools/eval_frozen_features.py')
    result = tool.main([
        str(tmp_path / 'knn_watch_cls.py'), '--checkpoint',
        str(work / 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'eval'), '--knn-k', '5', '--num-workers', '0'
    ])
    assert result['num_train'] == result['num_val'] == 24
    assert result['knn']['top1'] == dict(_knn_lines(work)['knn/student_top1'])[2]
    args = argparse.Namespace(checkpoint=str(work / 'epoch_2.pth'), prefix='backbone.', seed=0)
    backbone = tool.build_backbone(cfg, args).eval()
    expected = [extract_features(x, hook.preprocessor, backbone) for x in hook.loaders]
    assert model.backbone.training  # as the runner left it (drop path on)
    got = hook.features(model.backbone)
    assert model.backbone.training
    for (x, y), (ex, ey) in zip(got, expected):
        assert torch.equal(x, ex) and torch.equal(y, ey)


def test_training_unchanged_by_the_hook(tmp_path, imagenet_root):
    """Without RandomStateHook the masks come from the global torch stream, which the hook's
    loader would advance if the hook did not restore it."""
    for name, watch in (('with', True), ('without', False), ('off', True)):
        cfg = _cfg(tmp_path / name, imagenet_root, watch, random_state=False)
        if name == 'off':  # named with data=None, as a config whose user gave no folder
            cfg.custom_hooks[-1] = dict(WATCH, data=None)
        Runner.from_cfg(cfg).train()
    assert _knn_lines(tmp_path / 'with') and not _knn_lines(tmp_path / 'without')
    assert not _knn_lines(tmp_path / 'off')
    a = _weights(tmp_path / 'with/epoch_2.pth')
    for other in ('without', 'off'):
        b = _weights(tmp_path / other / 'epoch_2.pth')
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (other, k)


def test_resume_is_exact_and_the_tables_plot_it(watched, imagenet_root, tmp_path):
    """Resumed at the stage boundary in a copy of the run: the same final weights; the new launch
    evaluates the stage-2 teacher again and the tables merge the launches into one value per
    epoch, plotted beside the loss."""
    work = tmp_path / 'resumed'
    shutil.copytree(watched[0], work)
    (work / 'epoch_2.pth').unlink()
    cfg = _cfg(work, imagenet_root)
    cfg.merge_from_dict(dict(resume=True, load_from=str(work / 'epoch_1.pth')))
    Runner.from_cfg(cfg).train()
    a, b = _weights(watched[0] / 'epoch_2.pth'), _weights(work / 'epoch_2.pth')
    assert all(torch.equal(a[k], b[k]) for k in a)
    lines, first = _knn_lines(work), _knn_lines(watched[0])
    assert lines['knn/teacher_top1'] == first['knn/teacher_top1'] + first['knn/teacher_top1'][1:]
    tables = build_tables([str(work)], stream=None)
    (row, ) = tables.pretrain
    # x = epochs done: the teachers at the stage boundaries 0 and 1
    assert row.knn_curves == dict(
        student=first['knn/student_top1'],
        teacher=[(s - 1, v) for s, v in first['knn/teacher_top1']])
    student = dict(first['knn/student_top1'])
    assert f'| {student[1]:.1f}, {student[2]:.1f} |' in '\n'.join(_pretrain_lines(tables))
    (tmp_path / 'plots').mkdir()
    written = write_plots(tables, str(tmp_path / 'plots'))
    assert Path(written['pretrain_loss_resumed.png']).stat().st_size > 0


def test_bad_input_one_line(tmp_path, imagenet_root):
    with pytest.raises(ValueError, match='num_images=1 must be >= 2, interval=1 and k=20 >= 1'):
        KNNWatchHook(data='val', num_images=1)
    cfg = _cfg(tmp_path / 'missing', imagenet_root)
    cfg.custom_hooks[-1] = dict(WATCH, data='nowhere')
    with pytest.raises(FileNotFoundError, match=r'KNNWatchHook: data folder .*nowhere does not'):
        Runner.from_cfg(cfg).train()


def test_k_above_the_memory_is_lowered(tmp_path, imagenet_root):
    cfg = _cfg(tmp_path, imagenet_root)
    cfg.custom_hooks[-1] = dict(WATCH, k=30)
    runner = Runner.from_cfg(cfg)
    seen = logging.Handler()  # the runner's logger, whatever its console stream and log file
    seen.emit = lambda record: messages.append(record.getMessage())
    messages = []
    runner.logger.addHandler(seen)
    try:
        runner.train()
    finally:
        runner.logger.removeHandler(seen)
    assert next(h for h in runner.hooks if isinstance(h, KNNWatchHook)).k == 24
    assert any('k=30 > the 24 memory images of 48: k=24' in m for m in messages), messages
    assert sorted(s for s, _ in _knn_lines(tmp_path)['knn/student_top1']) == [1, 2]


@pytest.mark.parametrize('depth', [2, 0])  # a student, and the embeddings-only stage-1 teacher
def test_feature_is_the_downstream_forwards_patch_mean(depth):
    """``vit_features`` (the hook's and the tool's) = the mean of the patch tokens of the
    downstream forward with the final norm; a teacher stored in bf16 runs under autocast."""
    from dbot_mm.evaluation.frozen_protocols import vit_features
    from dbot_mm.models import DBotViT
    torch.manual_seed(0)
    vit = DBotViT(
        arch='tiny',
        embed_dims=32,
        depth=depth,
        num_heads=2,
        img_size=32,
        patch_size=8,
        out_type='raw').eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = vit(x)[-1][:, 1:].mean(dim=1)
        assert torch.equal(vit_features(vit, x), expected)
        for m in vit.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.to(torch.bfloat16)  # as DBOT(amp_teacher_weights) stores its teacher
        got = vit_features(vit, x)
    assert got.dtype == torch.float32 and torch.allclose(got, expected, atol=0.1)
