"""Benchmark tables from hand-written work dirs (``tests/data/logs``): a ``run_record.json`` as
RunRecordHook writes it and mmengine's ``<timestamp>/vis_data/scalars.json`` per launch.

The fixtures (launched on a cluster in /cluster/home/alice/dbot_mm, copied here), and the numbers
expected from them (worked out by hand below):

pretrain_vit-b/        dBOT ViT-B, stage_epochs [0, 2, 4], 4/4 epochs, 10 it/epoch, batch 8,
                       world size 2; losses by epoch (1.0 0.9)(0.8 0.7)(0.95 0.85)(0.75 0.65);
                       times 0.50 0.40 0.42 0.44 0.46 0.48 0.40 0.44
pretrain_vit-b_run2/   the same config (dbot_vit-b.py) trained in work_dirs/dbot_vit-b and renamed
                       when copied: killed in epoch 4 (record still 'running' at epoch 3),
                       scalars.json line 7 truncated; losses (1.1 1.0)(0.9 0.8)(1.05 0.95);
                       times 0.30 ... 0.40; world size 1
cls_vit-b_resumed/     ImageNet fine-tune from the relative work_dirs/pretrain_vit-b/epoch_4.pth,
                       two launches: the first validated epoch 1 (top-1 70.0) and died in epoch 2;
                       the resume re-logged step 6 and validated epochs 2 (80.0) and 3 (78.5)
det_mask-rcnn_vit-b/   COCO Mask R-CNN, 2/2 epochs, never validated; starts from the absolute
                       /cluster/.../work_dirs/dbot_vit-b/dbot_stage1_epoch_2.pth (prefix teacher.)
seg_upernet_vit-b_scratch/  ADE20K UperNet, init_cfg=None (its unused `pretrained` variable names
                       work_dirs/dbot_vit-b), 40/40 iterations, mIoU 20.5 @20 and 30.25 @40, then
                       a tools/test.py launch on iter_40.pth with mIoU 32.0
cls_linear_external/   linear probe (backbone lr_mult=0), load_from /data/ckpts/..., top-1 60.0
"""
import csv
import io
import json
import os.path as osp
import re
import shutil

import pytest

from dbot_mm.reporting import build_tables, read_run, render_markdown, write_outputs
from dbot_mm.reporting.labels import protocol, vit_label
from dbot_mm.reporting.lineage import launch_folder
from tests.helpers.tools import import_tool

LOGS = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'logs')
TOOL = osp.join(
    osp.dirname(osp.dirname(osp.dirname(__file__))), 'tools', 'analysis_tools',
    'benchmark_tables.py')


@pytest.fixture(scope='module')
def built():
    err = io.StringIO()
    tables = build_tables([LOGS], stream=err)
    return tables, err.getvalue()


@pytest.fixture(scope='module')
def outputs(built, tmp_path_factory):
    out = tmp_path_factory.mktemp('tables')
    written = write_outputs(built[0], str(out))
    return out, written


def md_rows(md: str, first_cell: str):
    """Cells of every markdown table row whose first cell is ``first_cell``."""
    rows = []
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('|') and cells[0] == first_cell:
            rows.append(cells)
    return rows


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- pretraining
def test_pretrain_finished_run_exact_numbers(built):
    md = render_markdown(built[0])
    (row, ) = md_rows(md, 'pretrain_vit-b')
    # stage 1 = epochs 1-2: last loss 0.7; stage 2 = epochs 3-4: last loss 0.65
    # sorted times 0.40 0.40 0.42 0.44 0.44 0.46 0.48 0.50 -> median 0.44
    # img/s = 8 per GPU x 2 GPUs / 0.44 = 36.36
    assert row == [
        'pretrain_vit-b', 'dbot_vit-b', 'ViT-B/16', 'bootstrap, stage-1 depth 12', '0/2/4', '4/4',
        'finished', 's1 0.7000; s2 0.6500', '0.440', '8 x 2', '36.4', ''
    ]


def test_two_runs_of_one_config_are_two_rows(built):
    rows = [r for r in built[0].pretrain if r.config == 'dbot_vit-b']
    assert [r.run for r in rows] == ['pretrain_vit-b', 'pretrain_vit-b_run2']


def test_truncated_line_and_unfinished_run_reported(built):
    tables, err = built
    bad = osp.join(LOGS, 'pretrain_vit-b_run2', '20240101_120000', 'vis_data', 'scalars.json')
    # stderr: file:line for the truncated line and for the last line of the unfinished run
    assert err.count(f'{bad}:7: unreadable JSON line skipped') == 1
    assert err.count(f'{bad}:6: unfinished run: 3/4 ep') == 1
    md = render_markdown(tables)
    (row, ) = md_rows(md, 'pretrain_vit-b_run2')
    # the record was last written at the end of epoch 3: epoch 4 did not finish;
    # s1 last loss 0.8, s2 stopped inside (0.95); 6 readable times 0.30..0.40: median 0.35;
    # img/s = 8 x 1 / 0.35 = 22.86; the truncated line's loss 0.85 is not used
    assert row == [
        'pretrain_vit-b_run2', 'dbot_vit-b', 'ViT-B/16', 'bootstrap, stage-1 depth 12', '0/2/4',
        '3/4', 'unfinished 3/4 ep', 's1 0.8000; s2 0.9500 (unfinished)', '0.350', '8 x 1', '22.9',
        '1 unreadable log line(s), see stderr'
    ]
    assert f'`{bad}:7: unreadable JSON line skipped' in md  # also listed in the report


def test_every_problem_printed_once(built):
    tables, err = built
    lines = err.splitlines()
    assert tables.skipped == [] and lines == [str(i) for i in tables.issues]
    assert len(lines) == len(set(lines)) > 0


def test_work_dir_without_record_gets_one_line_saying_how_to_record_it(tmp_path):
    _copy_runs(tmp_path, old='pretrain_vit-b', cls='cls_vit-b_resumed')
    (tmp_path / 'old' / 'run_record.json').unlink()  # as a run from before RunRecordHook left it
    err = io.StringIO()
    tables = build_tables([str(tmp_path)], stream=err)
    old = str(tmp_path / 'old')
    (line, ) = [ln for ln in err.getvalue().splitlines() if ln.startswith(old)]
    assert line.startswith(f'{old}: skipped: no run_record.json')
    assert f'tools/train.py CONFIG --work-dir {old} --resume' in line
    assert [wd for wd, _ in tables.skipped] == [old] and tables.pretrain == []
    assert render_markdown(tables).count('no run_record.json') == 1
    external = {g.key: g for g in tables.groups}['external']
    assert {r.run for r in external.rows} == {'cls'}  # its pretraining run is not in the tables


def test_pretrain_csv(built, outputs):
    out, written = outputs
    rows = read_csv(written['pretrain.csv'])
    assert [
        (r['run'], r['status'], r['loss_stage1'], r['loss_stage2'], r['time_iter_s'],
         r['img_per_s'], r['gpus']) for r in rows
    ] == [('pretrain_vit-b', 'finished', '0.7000', '0.6500', '0.440', '36.4', '2'),
          ('pretrain_vit-b_run2', 'unfinished 3/4 ep', '0.8000', '0.9500', '0.350', '22.9', '1')]


# ----------------------------------------------------------------------------- downstream
def test_resumed_run_merges_launches(built):
    log = read_run(osp.join(LOGS, 'cls_vit-b_resumed'), [])
    # launch 1 logged steps 2, 4, 6; the resume starts again at step 6 and replaces it
    assert [(r['step'], r['loss']) for r in log.train] == [(2, 3.0), (4, 2.8), (6, 2.5), (8, 2.4),
                                                           (10, 2.3), (12, 2.2)]
    assert [(r['step'], r['accuracy/top1']) for r in log.val] == [(1, 70.0), (2, 80.0), (3, 78.5)]
    md = render_markdown(built[0])
    (row, ) = md_rows(md, 'cls_vit-b_resumed')
    # last = epoch 3 (78.5), best = epoch 2 (80.0); 78.5 - 84.5 = -6.00; 78.5 - 83.6 = -5.10
    assert row == [
        'cls_vit-b_resumed', 'ImageNet', 'fine-tune', 'top1', '78.50', 'ep 3', '80.00', 'ep 2',
        'dBOT 84.5', '-6.00', 'MAE 83.6', '-5.10', 'finished', 'epoch_4.pth (student)',
        'resumed (2 launches merged)'
    ]


def test_downstream_linked_by_the_checkpoint_folder_its_pretraining_logged(built):
    groups = {g.key: g for g in built[0].groups}
    # relative work_dirs/pretrain_vit-b/epoch_4.pth, launched in /cluster/home/alice/dbot_mm
    assert [r.run for r in groups['pretrain:pretrain_vit-b'].rows] == ['cls_vit-b_resumed']
    # .../work_dirs/dbot_vit-b/ is where pretrain_vit-b_run2 logged its checkpoints, whatever
    # the folder is called here
    assert [r.run for r in groups['pretrain:pretrain_vit-b_run2'].rows
            ] == ['det_mask-rcnn_vit-b', 'det_mask-rcnn_vit-b']
    assert groups['pretrain:pretrain_vit-b_run2'].checkpoints == [
        '/cluster/home/alice/dbot_mm/work_dirs/dbot_vit-b/dbot_stage1_epoch_2.pth'
    ]
    assert [(r.run, r.init) for r in groups['external'].rows
            ] == [('cls_linear_external', '/data/ckpts/mae_pretrain_vit_base.pth')]
    # init_cfg=None: random init, although its `pretrained` variable names run2's folder
    assert {r.run for r in groups['random_init'].rows} == {'seg_upernet_vit-b_scratch'}


def test_launch_folder_of_a_resumed_run():
    run = read_run(osp.join(LOGS, 'cls_vit-b_resumed'), [])
    assert launch_folder(run) == '/cluster/home/alice/dbot_mm'
    assert run.record['init']['checkpoint'] == 'work_dirs/pretrain_vit-b/epoch_4.pth'


def _copy_runs(tmp_path, **renames):
    """Copy fixture work dirs into tmp_path under new names ({new name: fixture name})."""
    for new, old in renames.items():
        shutil.copytree(osp.join(LOGS, old), tmp_path / new)


def test_folder_name_alone_does_not_link(tmp_path):
    # a pretraining run named like the checkpoint's folder, whose record names another folder
    _copy_runs(tmp_path, **{'dbot_vit-b': 'pretrain_vit-b', 'det': 'det_mask-rcnn_vit-b'})
    groups = {g.key: g for g in build_tables([str(tmp_path)], stream=None).groups}
    assert groups['pretrain:dbot_vit-b'].rows == []
    assert {r.run for r in groups['external'].rows} == {'det'}


def test_two_runs_owning_the_checkpoint_folder_link_neither(tmp_path):
    _copy_runs(tmp_path, a='pretrain_vit-b', b='pretrain_vit-b', cls='cls_vit-b_resumed')
    tables = build_tables([str(tmp_path)], stream=None)
    groups = {g.key: g for g in tables.groups}
    assert groups['pretrain:a'].rows == groups['pretrain:b'].rows == []
    assert {r.run for r in groups['external'].rows} == {'cls'}
    assert any('in the checkpoint folder of several runs' in str(i) for i in tables.issues)


def test_relative_checkpoint_without_launch_folder_is_reported(tmp_path):
    _copy_runs(tmp_path, pre='pretrain_vit-b', cls='cls_vit-b_resumed')
    record = json.loads((tmp_path / 'cls' / 'run_record.json').read_text())
    for launch in record['launches']:  # as if the launch folder were not known
        del launch['cwd']
    (tmp_path / 'cls' / 'run_record.json').write_text(json.dumps(record))
    tables = build_tables([str(tmp_path)], stream=None)
    groups = {g.key: g for g in tables.groups}
    assert {r.run for r in groups['external'].rows} == {'cls'}
    (issue, ) = [i for i in tables.issues if 'not resolved' in i.message]
    assert issue.path == str(tmp_path / 'cls')
    assert "'work_dirs/pretrain_vit-b/epoch_4.pth'" in issue.message


def test_run_without_validation_says_no_metric(built):
    tables, err = built
    md = render_markdown(tables)
    rows = md_rows(md, 'det_mask-rcnn_vit-b')
    # Mask R-CNN: no dBOT number (the paper used Cascade), the ViTDet MAE baseline is shown
    assert rows == [[
        'det_mask-rcnn_vit-b', 'COCO', 'Mask R-CNN', 'APbox', '', '', '', '', '', '',
        'ViTDet MAE 51.6', '', 'finished; no metric', 'dbot_stage1_epoch_2.pth (teacher)', ''
    ],
                    [
                        'det_mask-rcnn_vit-b', 'COCO', 'Mask R-CNN', 'APmask', '', '', '', '', '',
                        '', 'ViTDet MAE 45.9', '', 'finished; no metric',
                        'dbot_stage1_epoch_2.pth (teacher)', ''
                    ]]
    scalars = osp.join(LOGS, 'det_mask-rcnn_vit-b', '20240103_000000', 'vis_data', 'scalars.json')
    assert f"{scalars}: no metric: no validation value of 'coco/bbox_mAP'" in err


def test_segmentation_validation_and_test_rows(built):
    md = render_markdown(built[0])
    val, test = md_rows(md, 'seg_upernet_vit-b_scratch')
    # iteration-based, log_metric_by_epoch=False: steps are iterations; 30.25 - 49.5 = -19.25,
    # 30.25 - 48.1 = -17.85; the tools/test.py run of iter_40.pth: 32.0 - 49.5 = -17.50,
    # 32.0 - 48.1 = -16.10 (the test session's config, with its load_from, is not the init)
    assert val == [
        'seg_upernet_vit-b_scratch', 'ADE20K', 'UperNet', 'mIoU', '30.25', 'it 40', '30.25',
        'it 40', 'dBOT 49.5', '-19.25', 'MAE 48.1', '-17.85', 'finished', 'random init', ''
    ]
    assert test == [
        'seg_upernet_vit-b_scratch', 'ADE20K', 'UperNet', 'mIoU (test)', '32.00',
        'test iter_40.pth', '', '', 'dBOT 49.5', '-17.50', 'MAE 48.1', '-16.10', 'finished',
        'random init', ''
    ]


def test_linear_probe_gets_no_fine_tune_reference(built):
    md = render_markdown(built[0])
    (row, ) = md_rows(md, 'cls_linear_external')
    assert row[2:11] == ['linear probe', 'top1', '60.00', 'ep 1', '60.00', 'ep 1', '', '', '']


def test_linear_probe_detection():

    def optim(lr_mult):
        return {
            'optim_wrapper': {
                'paramwise_cfg': {
                    'custom_keys': {
                        'backbone': {
                            'lr_mult': lr_mult
                        }
                    }
                }
            }
        }

    assert protocol(optim(0.0)) == 'linear probe'
    assert protocol(optim(0.1)) == 'fine-tune'
    assert protocol({'model': {'backbone': {}}}) == 'fine-tune'


def test_model_labels_from_the_recorded_vit_sizes():
    assert vit_label({'arch': 'base', 'embed_dims': 768, 'depth': 12}, 16) == 'ViT-B/16'
    assert vit_label({'arch': 'huge', 'embed_dims': 1280, 'depth': 32}, 14) == 'ViT-H/14'
    # the CPU demo's ViT (no arch has its width and depth) gets no paper number
    assert vit_label({'arch': None, 'embed_dims': 64, 'depth': 4}, 8) == 'ViT(dim 64, depth 4)/8'


def test_downstream_csv_and_header(built, outputs):
    out, written = outputs
    assert sorted(n for n in written if n.endswith('.csv')) == [
        'downstream_external.csv', 'downstream_from_pretrain_vit-b.csv',
        'downstream_from_pretrain_vit-b_run2.csv', 'downstream_random_init.csv', 'pretrain.csv',
        'seed_summary.csv'
    ]
    (row, ) = read_csv(written['downstream_from_pretrain_vit-b.csv'])
    assert (row['last'], row['last_at'], row['best'], row['best_at'], row['paper'],
            row['delta_paper'], row['baseline'],
            row['delta_baseline']) == ('78.50', 'ep 3', '80.00', 'ep 2', '84.5', '-6.00', '83.6',
                                       '-5.10')
    md = open(written['tables.md']).read()
    assert md == render_markdown(built[0])
    assert '| last val | at | best |' in md and 'the **last** validation result' in md


def test_plots_written(outputs):
    out, written = outputs
    pngs = sorted(n for n in written if n.endswith('.png'))
    assert pngs == [
        'downstream_ADE20K_mIoU.png', 'downstream_ImageNet_top1.png',
        'pretrain_loss_pretrain_vit-b.png', 'pretrain_loss_pretrain_vit-b_run2.png'
    ]
    for name in pngs:
        with open(written[name], 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_pretrain_loss_curve_in_epochs(built):
    row = built[0].pretrain[0]
    # iteration / (10 iterations per epoch, recorded by the launch)
    assert row.curve_unit == 'epoch'
    assert row.loss_curve[:3] == [(0.5, 1.0), (1.0, 0.9), (1.5, 0.8)]


# ----------------------------------------------------------------------------- errors / CLI
def test_folder_without_logs_names_the_path(tmp_path):
    (tmp_path / 'not_a_run').mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        build_tables([str(tmp_path)], stream=None)


def _load_cli():
    return import_tool(TOOL)


def test_cli(tmp_path, capsys):
    cli = _load_cli()
    logs = tmp_path / 'work_dirs'
    shutil.copytree(LOGS, logs)
    assert cli.main([str(logs), '--out', str(tmp_path / 'out'), '--no-plots']) == 0
    captured = capsys.readouterr()
    assert '| pretrain_vit-b | dbot_vit-b | ViT-B/16 |' in captured.out
    assert 'scalars.json:7: unreadable JSON line skipped' in captured.err
    assert osp.isfile(tmp_path / 'out' / 'tables.md')
    assert osp.isfile(tmp_path / 'out' / 'pretrain.csv')
    # a single work dir works too, and names its run by the folder
    assert cli.main(
        [str(logs / 'pretrain_vit-b'), '--out',
         str(tmp_path / 'one'), '--no-plots', '--quiet']) == 0
    assert read_csv(tmp_path / 'one' / 'pretrain.csv')[0]['run'] == 'pretrain_vit-b'


def test_cli_error_is_one_line(tmp_path, capsys):
    cli = _load_cli()
    assert cli.main([str(tmp_path), '--out', str(tmp_path / 'out')]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('benchmark_tables: error: ')
    assert str(tmp_path) in err[0]
