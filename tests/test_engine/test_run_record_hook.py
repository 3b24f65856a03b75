"""RunRecordHook on real tiny runs: what ``run_record.json`` holds after a two-stage pretraining,
a resume, a run from before run records, a test run, a preemption, a kill and a stop."""
import json
import os
from pathlib import Path

from mmengine.config import Config
from mmengine.runner import Runner

from dbot_mm.engine.hooks import PREEMPTED_EXIT_CODE
from dbot_mm.engine.hooks.run_record_hook import vit_facts
from dbot_mm.reporting import build_tables
from tests.helpers.forked_runs import run_plan
from tests.helpers.tiny_pretrain import tiny_cfg, tiny_runner

ROOT = Path(__file__).resolve().parents[2]
STAGES = [0, 1, 2]


def _record(work_dir):
    return json.loads((Path(work_dir) / 'run_record.json').read_text())


def test_record_of_a_two_stage_pretraining_and_its_resume(tmp_path, imagenet_root):
    work = tmp_path / 'pre'
    runner = tiny_runner(work, imagenet_root, stage_epochs=STAGES)
    runner.train()
    rec = _record(work)
    ipe = len(runner.train_dataloader)
    assert (rec['type'], rec['status'], rec['epoch'], rec['iter']) == ('RunRecord', 'finished', 2,
                                                                       2 * ipe)
    assert rec['config_name'] == 'dbot_vit-tiny_demo'
    assert rec['config']['model']['type'] == 'DBOT' and rec['config']['work_dir'] == str(work)
    assert rec['work_dir'] == rec['checkpoint_dir'] == str(work)
    assert (rec['stage_epochs'], rec['stage']) == (STAGES, 2)
    assert rec['snapshots'] == {'1': 'dbot_stage1_epoch_1.pth', '2': 'dbot_stage2_epoch_2.pth'}
    assert all((work / p).is_file() for p in rec['snapshots'].values())
    # the built ViTs: the demo's 64 x 4 student and its stage-1 teacher of depth 0
    assert rec['model'] == dict(
        type='DBOT',
        backbone=dict(type='DBotViT', arch=None, embed_dims=64, depth=4),
        teacher=dict(type='DBotViT', arch=None, embed_dims=64, depth=0))
    assert rec['init'] is None and rec['teacher'] is None
    (launch, ) = rec['launches']
    assert (launch['mode'], launch['status'], launch['world_size'], launch['seed'],
            launch['iters_per_epoch'], launch['cwd']) == ('train', 'finished', 1, runner.seed, ipe,
                                                          os.getcwd())
    assert launch['timestamp'] == runner.timestamp
    scalars = (work / launch['scalars']).read_text().splitlines()
    assert sum('"loss"' in ln for ln in scalars) == 2 * ipe  # logger interval 1

    resumed = tiny_runner(work, imagenet_root, stage_epochs=STAGES, resume=True)
    resumed.train()  # at the end already: no iteration
    rec = _record(work)
    assert [(x['status'], x['resume'], x.get('start_epoch'))
            for x in rec['launches']] == [('finished', False, 0), ('finished', True, 2)]
    (row, ) = build_tables([str(work)], stream=None).pretrain
    assert (row.epochs_done, row.status, row.world_size) == (2, 'finished', 1)
    assert 'resumed (2 launches merged)' in row.notes
    assert [state for _, _, state in row.stage_losses] == ['done', 'done']


def test_work_dir_from_before_records_gets_its_launches_back(tmp_path, imagenet_root):
    work = tmp_path / 'old'
    tiny_runner(work, imagenet_root, stage_epochs=STAGES).train()
    first = _record(work)['launches'][0]['timestamp']
    (work / 'run_record.json').unlink()  # as a run from before RunRecordHook left it
    tiny_runner(work, imagenet_root, stage_epochs=STAGES, resume=True).train()
    rec = _record(work)
    assert [(x['timestamp'], x['status']) for x in rec['launches']][0] == (first, 'unknown')
    (row, ) = build_tables([str(work)], stream=None).pretrain
    assert all(loss is not None for _, loss, _ in row.stage_losses)  # the old launch's scalars


def test_test_run_records_its_metrics(tmp_path, imagenet_root):
    cfg = Config.fromfile(ROOT / 'configs/cls/vit-tiny-p8_1xb16-demo_in1k.py')
    cfg.work_dir = str(tmp_path / 'cls')
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg[loader].dataset.data_root = str(imagenet_root)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.model.backbone.init_cfg = None
    cfg.train_cfg.max_epochs = 1
    Runner.from_cfg(cfg).train()
    cfg.load_from = str(tmp_path / 'cls' / 'epoch_1.pth')
    metrics = Runner.from_cfg(cfg).test()
    rec = _record(tmp_path / 'cls')
    train, test = rec['launches']
    assert (train['mode'], test['mode'], test['status']) == ('train', 'test', 'finished')
    assert test['load_from'] == cfg.load_from
    assert test['test'] == {k: float(v) for k, v in metrics.items()}
    assert rec['status'] == 'finished' and rec['init'] is None  # a test does not change them
    rows = [r for g in build_tables([str(tmp_path / 'cls')], stream=None).groups for r in g.rows]
    assert [(r.metric, r.last) for r in rows
            if r.metric.endswith('(test)')] == [('top1 (test)', metrics['accuracy/top1'])]


def test_built_mmpretrain_vit_sizes():
    from mmpretrain.models import MAEViT
    mae = MAEViT(
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        patch_size=4,
        img_size=32)
    assert vit_facts(mae) == dict(type='MAEViT', arch=None, embed_dims=64, depth=4)
    assert vit_facts(MAEViT(arch='deit-s'))['arch'] == 'small'


def _config(tmp_path, data_root, name, fault=None):
    cfg = tiny_cfg(
        tmp_path / name, data_root, stage_epochs=STAGES,
        train_dataloader=dict(batch_size=16))  # 64 images: 4 iterations an epoch
    cfg.default_hooks.logger.interval = 100
    if fault is not None:
        cfg.custom_imports.imports.append('tests.helpers.tiny_pretrain')
        cfg.custom_hooks.append(dict(type='FaultInjectionHook', at_iter=fault[0], how=fault[1]))
    path = tmp_path / f'{name}_{fault[1] if fault else "clean"}.py'
    cfg.dump(str(path))
    return str(path)


def test_preempted_killed_and_stopped_launches(tmp_path, imagenet_root):
    """tools/train.py forked from one process (tests/helpers/forked_runs.py): a SIGTERM, a
    SIGKILL and a NaN loss, each at iteration 6 (in epoch 2), and the resumes."""
    runs = [('term', (6, 'term'), []), ('term', None, ['--resume']), ('kill', (6, 'kill'), []),
            ('kill', None, ['--resume']), ('nan', (6, 'nan'), [])]
    plan = [
        dict(
            argv=[
                _config(tmp_path, imagenet_root, name, fault), '--work-dir',
                str(tmp_path / name), *extra
            ],
            log=str(tmp_path / f'{name}{i}.log')) for i, (name, fault, extra) in enumerate(runs)
    ]
    results = run_plan(plan, tmp_path)
    assert [r['rc'] for r in results] == [PREEMPTED_EXIT_CODE, 0, -9, 0, 1], results
    term, kill, nan = (_record(tmp_path / n) for n in ('term', 'kill', 'nan'))
    assert [x['status'] for x in term['launches']] == ['preempted', 'finished']
    assert term['launches'][1]['start_iter'] == 6 and term['status'] == 'finished'
    assert [x['status'] for x in kill['launches']] == ['killed', 'finished']
    assert kill['launches'][1]['start_iter'] == 4  # from epoch_1.pth
    assert (nan['status'], nan['epoch'], nan['iter']) == ('stopped', 1, 4)
    row = build_tables([str(tmp_path / 'nan')], stream=None).pretrain[0]
    assert row.status == 'stopped 1/2 ep'
