"""The table tool on logs of real tiny runs made here: a 2-stage dBOT pretraining and an ImageNet
fine-tune started from its checkpoint."""
import json
from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

from dbot_mm.reporting import build_tables, write_outputs
from tests.helpers.tiny_pretrain import tiny_runner

REPO = Path(__file__).resolve().parents[2]


def _scalars(work_dir):
    lines = []
    for f in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        lines += [json.loads(ln) for ln in f.read_text().splitlines() if ln.strip()]
    return lines


def test_tables_from_real_runs(tmp_path, imagenet_root):
    pre = tmp_path / 'pretrain'
    tiny_runner(pre, imagenet_root, stage_epochs=[0, 1, 2]).train()

    cfg = Config.fromfile(REPO / 'configs/cls/vit-tiny-p8_1xb16-demo_in1k.py')
    cfg.work_dir = str(tmp_path / 'cls')
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg[loader].dataset.data_root = str(imagenet_root)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.model.backbone.init_cfg.checkpoint = str(pre / 'epoch_2.pth')
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
    Runner.from_cfg(cfg).train()

    tables = build_tables([str(tmp_path)], stream=None)
    (row, ) = tables.pretrain
    assert row.epochs_done == 2 and row.epochs_planned == 2 and row.stages == [0, 1, 2]
    # last training loss of each stage, read independently from scalars.json
    train = [s for s in _scalars(pre) if 'loss' in s]
    per_epoch = len(train) // 2
    expected = [train[per_epoch - 1]['loss'], train[-1]['loss']]
    got = [loss for _, loss, _ in row.stage_losses]
    assert got == expected

    (group, ) = [g for g in tables.groups if g.key.startswith('pretrain:')]
    assert group.key == 'pretrain:pretrain'
    assert group.checkpoints == [str(pre / 'epoch_2.pth')]
    (metric, ) = group.rows  # one run, one metric: ImageNet top-1
    assert metric.run == 'cls' and metric.init == 'epoch_2.pth (student)'
    val = [s['accuracy/top1'] for s in _scalars(tmp_path / 'cls') if 'accuracy/top1' in s]
    assert len(val) == 2 and metric.last == val[-1]

    written = write_outputs(tables, str(tmp_path / 'out'))
    md = (tmp_path / 'out' / 'tables.md').read_text()
    assert row.run in md and f'{val[-1]:.2f}' in md
    assert any(str(p).endswith('.png') for p in written.values())
