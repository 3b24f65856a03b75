"""Benchmark tables for frozen-feature evaluations (``frozen_eval.json``), MAE and CLIP-distilled
pretraining runs, transfer sets and the seed summary.

Work dirs are written here as ``RunRecordHook`` (``run_record.json``), mmengine 0.10 (the
launch's ``vis_data/scalars.json``) and ``eval_frozen_features.py`` (``frozen_eval.json``) write
them; the pretraining fixture ``tests/data/logs/pretrain_vit-b`` recorded its work dir
/cluster/home/alice/dbot_mm/work_dirs/pretrain_vit-b (config ``dbot_vit-b``).
"""
import csv
import json
import os.path as osp
import shutil
import statistics

import pytest
import torch

from dbot_mm.reporting import build_tables, find_work_dirs, render_markdown, write_outputs

LOGS = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'logs')
CLUSTER = '/cluster/home/alice/dbot_mm'
PRE_CKPT = f'{CLUSTER}/work_dirs/pretrain_vit-b/epoch_4.pth'
VIT_B = dict(type='DBotViT', arch='base', embed_dims=768, depth=12)


def md_rows(md: str, first_cell: str):
    rows = []
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('|') and cells[0] == first_cell:
            rows.append(cells)
    return rows


def write_frozen(folder,
                 checkpoint,
                 seed,
                 knn,
                 linear,
                 features='backbone',
                 config=f'{CLUSTER}/configs/cls/vit-tiny-p8_1xb16-demo_in1k.py'):
    folder.mkdir(parents=True)
    result = dict(
        type='FrozenFeatureEval',
        config=config,
        checkpoint=checkpoint,
        prefix='backbone.' if checkpoint else '',
        features=features,
        feature_desc='mean of the last block\'s patch tokens after the final norm',
        seed=seed,
        dataset='CustomDataset',
        num_train=10000,
        num_val=2000,
        num_classes=10,
        knn=dict(k=20, temperature=0.07, top1=knn),
        linear=dict(top1=linear, weight_decay=1e-4, solver='L-BFGS', max_iter=500),
        time_s=12.3)
    (folder / 'frozen_eval.json').write_text(json.dumps(result, indent=2))
    (folder / 'frozen_eval.log').write_text('k-NN top1 ...\n')


def write_run(folder,
              config_name,
              cfg,
              work_dir,
              epochs=1,
              ipe=2,
              seed=0,
              val=None,
              init=None,
              model=None,
              teacher=None):
    """A work dir as a finished run leaves it: ``run_record.json`` and one launch's
    ``<ts>/vis_data/scalars.json``; ``val``: top-1 per epoch (classification)."""
    ts = '20240301_000000'
    (folder / ts / 'vis_data').mkdir(parents=True)
    scalars = []
    for e in range(1, epochs + 1):
        for i in range(1, ipe + 1):
            it = (e - 1) * ipe + i
            scalars.append(dict(lr=1e-3, loss=1.0 / it, time=0.5, epoch=e, iter=it, step=it))
        if val is not None:
            scalars.append({'accuracy/top1': val[e - 1], 'step': e})
    (folder / ts / 'vis_data' / 'scalars.json').write_text(''.join(
        json.dumps(r) + '\n' for r in scalars))
    launch = dict(
        timestamp=ts,
        mode='train',
        status='finished',
        cwd=CLUSTER,
        world_size=1,
        seed=seed,
        load_from=None,
        resume=False,
        scalars=f'{ts}/vis_data/scalars.json',
        start_epoch=0,
        start_iter=0,
        iters_per_epoch=ipe)
    record = dict(
        type='RunRecord',
        version=1,
        launches=[launch],
        status='finished',
        epoch=epochs,
        iter=epochs * ipe,
        work_dir=work_dir,
        config_name=config_name,
        config=cfg,
        init=dict(checkpoint=init, prefix='backbone.') if init else None,
        teacher=dict(checkpoint=teacher) if teacher else None,
        model=model or dict(type=cfg['model']['type'], backbone=VIT_B, teacher=None))
    (folder / 'run_record.json').write_text(json.dumps(record, indent=1))


def cls_config(dataset='ImageNet', seed=0):
    return dict(
        model=dict(type='ImageClassifier', backbone=dict(type='DBotViT', arch='base')),
        train_dataloader=dict(batch_size=8, dataset=dict(type=dataset, data_root='data')),
        val_dataloader=dict(batch_size=8, dataset=dict(type=dataset, data_root='data')),
        train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=1),
        randomness=dict(seed=seed),
        work_dir='./work_dirs/cls')


# ----------------------------------------------------------------------------- frozen eval
KNN = {0: 71.5, 1: 72.5, 2: 73.0}
LINEAR = {0: 78.1, 1: 78.4, 2: 77.9}


@pytest.fixture(scope='module')
def frozen_tables(tmp_path_factory):
    root = tmp_path_factory.mktemp('frozen')
    shutil.copytree(osp.join(LOGS, 'pretrain_vit-b'), root / 'pretrain_vit-b')
    for seed in KNN:
        write_frozen(root / f'knn_dbot_s{seed}', PRE_CKPT, seed, KNN[seed], LINEAR[seed])
    write_frozen(root / 'knn_random', None, 0, 20.0, 30.0)
    write_frozen(root / 'knn_pixels', None, 0, 40.0, 35.0, features='raw_pixels')
    tables = build_tables([str(root)], stream=None)
    return root, tables


def test_frozen_dirs_are_found(frozen_tables):
    root, _ = frozen_tables
    assert [osp.basename(p) for p in find_work_dirs(str(root))] == [
        'knn_dbot_s0', 'knn_dbot_s1', 'knn_dbot_s2', 'knn_pixels', 'knn_random', 'pretrain_vit-b'
    ]
    assert find_work_dirs(str(root / 'knn_random')) == [str(root / 'knn_random')]


def test_frozen_rows_linked_by_checkpoint(frozen_tables):
    _, tables = frozen_tables
    groups = {g.key: g for g in tables.groups}
    rows = groups['pretrain:pretrain_vit-b'].rows
    assert [(r.run, r.method, r.metric, r.last)
            for r in rows] == [(f'knn_dbot_s{s}', m, 'top1', v[s]) for s in KNN
                               for m, v in (('k-NN', KNN), ('linear probe', LINEAR))]
    assert groups['pretrain:pretrain_vit-b'].checkpoints == [PRE_CKPT]
    assert {r.init for r in rows} == {'epoch_4.pth (student)'}
    assert [(r.run, r.method, r.last)
            for r in groups['random_init'].rows] == [('knn_random', 'k-NN', 20.0),
                                                     ('knn_random', 'linear probe', 30.0)]
    assert [(r.run, r.method, r.last)
            for r in groups['raw_pixels'].rows] == [('knn_pixels', 'k-NN', 40.0),
                                                    ('knn_pixels', 'linear probe', 35.0)]
    assert groups['raw_pixels'].title == 'Raw pixels (no network)'


def test_frozen_rows_in_markdown(frozen_tables):
    md = render_markdown(frozen_tables[1])
    knn, linear = md_rows(md, 'knn_dbot_s1')
    assert knn[1:6] == ['ImageNet', 'k-NN', 'top1', '72.50', 'k=20, T=0.07']
    assert linear[1:6] == ['ImageNet', 'linear probe', 'top1', '78.40', 'L-BFGS, wd 0.0001']
    assert '### Raw pixels (no network)' in md
    assert md_rows(md, 'knn_pixels')[0][13] == 'raw pixels'


def test_seed_summary(frozen_tables, tmp_path):
    _, tables = frozen_tables
    summary = {(s.pretrain, s.method): s for s in tables.seed_summary}
    knn = summary[('dbot_vit-b', 'k-NN')]
    assert (knn.config, knn.metric, knn.n, knn.seeds) == ('vit-tiny-p8_1xb16-demo_in1k', 'top1', 3,
                                                          [0, 1, 2])
    assert knn.mean == pytest.approx(statistics.mean(KNN.values()))
    assert knn.std == pytest.approx(statistics.stdev(KNN.values()))
    assert summary[('raw pixels', 'k-NN')].n == 1
    assert summary[('raw pixels', 'k-NN')].std is None
    assert summary[('random init', 'linear probe')].mean == 30.0
    md = render_markdown(tables)
    assert '## Seed summary' in md
    (row, ) = [r for r in md_rows(md, 'dbot_vit-b') if r[3] == 'k-NN']
    mean, std = statistics.mean(KNN.values()), statistics.stdev(KNN.values())
    assert row[5] == f'{mean:.1f} ± {std:.1f} (3)'
    assert md_rows(md, 'raw pixels')[0][5] == '40.0 (1)'
    written = write_outputs(tables, str(tmp_path), plots=False)
    with open(written['seed_summary.csv'], newline='') as f:
        csv_rows = {(r['pretraining'], r['method']): r for r in csv.DictReader(f)}
    assert csv_rows[('dbot_vit-b', 'linear probe')]['n'] == '3'
    assert csv_rows[('dbot_vit-b', 'linear probe')]['mean'] == \
        f'{statistics.mean(LINEAR.values()):.2f}'
    assert 'downstream_raw_pixels.csv' in written


def test_seed_summary_of_downstream_runs_reads_randomness_seed(tmp_path):
    shutil.copytree(osp.join(LOGS, 'pretrain_vit-b'), tmp_path / 'pretrain_vit-b')
    for seed, acc in ((3, 50.0), (4, 54.0)):
        write_run(
            tmp_path / f'cls_s{seed}',
            'vit-b_ft',
            cls_config(seed=seed),
            f'{CLUSTER}/work_dirs/cls_s{seed}',
            epochs=2,
            seed=99,  # the runner's seed loses to the config's randomness.seed
            val=[acc - 1, acc],
            init=PRE_CKPT)
    tables = build_tables([str(tmp_path)], stream=None)
    (s, ) = tables.seed_summary
    assert (s.pretrain, s.config, s.method, s.metric, s.seeds) == ('dbot_vit-b', 'vit-b_ft',
                                                                   'fine-tune', 'top1', [3, 4])
    assert s.mean == 52.0 and s.std == pytest.approx(statistics.stdev([50.0, 54.0]))


def test_unreadable_frozen_result_is_reported(tmp_path):
    (tmp_path / 'bad').mkdir()
    (tmp_path / 'bad' / 'frozen_eval.json').write_text('{"type": "FrozenFeatureEval", ')
    tables = build_tables([str(tmp_path)], stream=None)
    assert [osp.basename(wd) for wd, _ in tables.skipped] == ['bad']
    assert any('unreadable FrozenFeatureEval' in i.message for i in tables.issues)


# ----------------------------------------------------------------------------- MAE
MAE_CFG = dict(
    model=dict(
        type='MAE',
        backbone=dict(type='MAEViT', arch=dict(embed_dims=64, num_layers=4), patch_size=4)),
    train_dataloader=dict(batch_size=16, dataset=dict(type='CustomDataset')),
    train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=2),
    randomness=dict(seed=0))
# RunRecordHook's sizes of the built mmpretrain MAEViT (tests/test_engine/test_run_record_hook.py)
MAE_MODEL = dict(
    type='MAE', backbone=dict(type='MAEViT', arch=None, embed_dims=64, depth=4), teacher=None)


def test_mae_pretraining_and_converted_checkpoint(tmp_path):
    mae_dir = tmp_path / 'runs' / 'mae_mini'
    write_run(mae_dir, 'mae_vit-mini', MAE_CFG, str(mae_dir), epochs=2, model=MAE_MODEL)
    torch.save({'state_dict': {}}, mae_dir / 'epoch_2.pth')
    # tools/model_converters' output: weights for our backbone + the file it came from
    converted = tmp_path / 'converted' / 'mae_vit-mini_dbot.pth'
    converted.parent.mkdir()
    torch.save(
        {
            'state_dict': {
                'backbone.cls_token': torch.zeros(1, 1, 64)
            },
            'meta': {
                'converted_from': str(mae_dir / 'epoch_2.pth')
            }
        }, converted)
    write_run(
        tmp_path / 'runs' / 'cls_from_mae',
        'vit-mini_ft',
        cls_config(),
        str(tmp_path / 'runs' / 'cls_from_mae'),
        epochs=2,
        val=[60.0, 62.0],
        init=str(converted))
    write_frozen(tmp_path / 'runs' / 'knn_mae', str(converted), 0, 50.0, 55.0)
    tables = build_tables([str(tmp_path / 'runs')], stream=None)
    (pre, ) = tables.pretrain
    assert (pre.model, pre.teacher, pre.stages, pre.epochs_done, pre.status,
            pre.notes) == ('ViT(dim 64, depth 4)/4', 'pixels (MAE)', [0, 2], 2, 'finished', [])
    groups = {g.key: g for g in tables.groups}
    rows = groups['pretrain:mae_mini'].rows
    assert [(r.run, r.method) for r in rows] == [('cls_from_mae', 'fine-tune'), ('knn_mae', 'k-NN'),
                                                 ('knn_mae', 'linear probe')]
    # MAE baseline next to it, never dBOT's bootstrap number
    assert (rows[0].ref, rows[0].baseline_method, rows[0].baseline) == (None, 'MAE', 83.6)
    assert {r.source for r in rows} == {'mae_vit-mini'}


def test_converted_checkpoint_named_by_file_name_links_only_when_unique(tmp_path):
    for name in ('mae_a', 'mae_b'):
        write_run(tmp_path / name, name, MAE_CFG, str(tmp_path / name), epochs=2, model=MAE_MODEL)
        torch.save({}, tmp_path / name / 'epoch_2.pth')
    converted = tmp_path / 'conv.pth'
    torch.save({'state_dict': {}, 'meta': {'converted_from': 'epoch_2.pth'}}, converted)
    write_frozen(tmp_path / 'knn', str(converted), 0, 50.0, 55.0)
    tables = build_tables([str(tmp_path)], stream=None)
    groups = {g.key: g for g in tables.groups}
    assert {r.run for r in groups['external'].rows} == {'knn'}
    assert any('several scanned runs' in i.message for i in tables.issues)


# ----------------------------------------------------------------------------- teachers
CLIP_CFG = dict(
    model=dict(
        type='DBOTCLIP',
        backbone=dict(type='DBotViT', arch='base', patch_size=16),
        teacher=dict(type='CLIPTeacher', checkpoint='checkpoints/clip/ViT-B-16.pt')),
    train_dataloader=dict(batch_size=4, dataset=dict(type='ImageNet')),
    train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1))
DISTILL_CFG = dict(
    model=dict(
        type='DBOT',
        backbone=dict(type='DBotViT', arch='base'),
        teacher=dict(type='DBotViT', arch='large')),
    custom_hooks=[dict(type='DBotBootstrapHook', stage_epochs=[0, 1])],
    train_dataloader=dict(batch_size=4, dataset=dict(type='ImageNet')),
    train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=1))


def test_clip_and_external_dbot_teachers(tmp_path):
    clip = dict(type='CLIPTeacher', arch=None, embed_dims=512, depth=None)
    write_run(
        tmp_path / 'clip',
        'dbot-clip_vit-b-p16_clip-b16',
        CLIP_CFG,
        f'{CLUSTER}/w/clip',
        model=dict(type='DBOTCLIP', backbone=VIT_B, teacher=clip),
        teacher='checkpoints/clip/ViT-B-16.pt')
    large = dict(type='DBotViT', arch='large', embed_dims=1024, depth=24)
    write_run(
        tmp_path / 'distill',
        'dbot-distill_vit-b-p16_dbot-l',
        DISTILL_CFG,
        f'{CLUSTER}/w/distill',
        model=dict(type='DBOT', backbone=VIT_B, teacher=large),
        teacher='work_dirs/dbot_vit-l/epoch_1600.pth')
    for name in ('clip', 'distill'):
        write_run(
            tmp_path / f'ft_{name}',
            'vit-b_ft',
            cls_config(),
            f'{CLUSTER}/w/ft_{name}',
            epochs=2,
            val=[80.0, 85.0],
            init=f'{CLUSTER}/w/{name}/epoch_1.pth')
    tables = build_tables([str(tmp_path)], stream=None)
    pre = {r.run: r for r in tables.pretrain}
    assert (pre['clip'].model, pre['clip'].teacher, pre['clip'].stages,
            pre['clip'].notes) == ('ViT-B/16', 'CLIP ViT-B/16 (ViT-B-16.pt)', [0, 1], [])
    assert pre['distill'].teacher == 'dBOT ViT-L/16 (epoch_1600.pth)'
    groups = {g.key: g for g in tables.groups}
    (clip_row, ) = groups['pretrain:clip'].rows
    (distill_row, ) = groups['pretrain:distill'].rows
    # official model zoo rows (README): ViT-B from CLIP-B/16 85.7, from a dBOT ViT-L 84.6
    assert (clip_row.ref_method, clip_row.ref) == ('dBOT (CLIP-B/16 teacher)', 85.7)
    assert (distill_row.ref_method, distill_row.ref) == ('dBOT (ViT-L teacher)', 84.6)
    assert clip_row.delta == pytest.approx(85.0 - 85.7)


# ----------------------------------------------------------------------------- transfer
@pytest.mark.parametrize('dataset,title', [('CIFAR10', 'CIFAR-10'), ('CIFAR100', 'CIFAR-100'),
                                           ('StanfordCars', 'Stanford Cars'),
                                           ('Flowers102', 'Flowers-102'),
                                           ('INaturalist', 'iNaturalist')])
def test_transfer_sets_have_their_own_task(tmp_path, dataset, title):
    shutil.copytree(osp.join(LOGS, 'pretrain_vit-b'), tmp_path / 'pretrain_vit-b')
    write_run(
        tmp_path / 'transfer',
        'transfer',
        cls_config(dataset=dataset),
        f'{CLUSTER}/w/transfer',
        epochs=2,
        val=[90.0, 91.0],
        init=PRE_CKPT)
    tables = build_tables([str(tmp_path)], stream=None)
    (row, ) = [r for g in tables.groups for r in g.rows]
    assert (row.task, row.method, row.last, row.ref, row.baseline) == (title, 'fine-tune', 91.0,
                                                                       None, None)
    assert any(n.startswith('no paper number') for n in row.notes)
    assert f'| transfer | {title} | fine-tune | top1 | 91.00 |' in render_markdown(tables)
