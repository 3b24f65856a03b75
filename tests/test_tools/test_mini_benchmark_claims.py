"""tools/analysis_tools/mini_benchmark_claims.py: the plan of both claims (which run reads which
teacher, what waits on what) and its report from the runs' own files."""
import json
import statistics

import pytest

from tests.helpers.tools import import_tool


@pytest.fixture(scope='module')
def claims():
    return import_tool('analysis_tools/mini_benchmark_claims.py')


def _options(job):
    opts = job.cmd[job.cmd.index('--cfg-options') + 1:] if '--cfg-options' in job.cmd else []
    return dict(o.split('=', 1) for o in opts)


@pytest.fixture()
def plan(claims, tmp_path):
    args = claims.parse_args(['--seeds', '0', '1', '--work-dir', str(tmp_path)])
    return args, claims.build_plan(args, str(tmp_path), str(tmp_path / 'data'))


def test_every_job_waits_only_on_jobs_before_it(plan):
    _, plan = plan
    names = [j.name for j in plan.jobs]
    assert len(names) == len(set(names))
    for i, job in enumerate(plan.jobs):
        assert set(job.needs) <= set(names[:i]), job.name


def test_students_read_the_teacher_their_job_waits_on(plan):
    _, plan = plan
    jobs = {j.name: j for j in plan.jobs}
    teachers = {}
    for name, job in jobs.items():
        ckpt = _options(job).get('model.teacher.init_cfg.checkpoint')
        if ckpt is None:
            continue
        (need, ) = job.needs
        made = need[:-len('_convert')] if need.endswith('_convert') else need
        assert ckpt == plan.models[made], name
        teachers[name] = made
    assert teachers['distill1-mae_seed1'] == 'mae-30e_seed1'
    assert teachers['distill1-dbot_seed0'] == 'dbot-1x30e_seed0'
    assert teachers['distill1-sup_seed0'] == 'sup-30e_seed0'
    assert teachers['distill2-sup_seed0'] == 'distill1-sup_seed0'
    assert len(teachers) == 2 * 6


def test_equal_budgets_split_into_equal_stages(plan):
    args, plan = plan
    seen = set()
    for job in plan.jobs:
        if not job.name.startswith('dbot-'):
            continue
        opts = _options(job)
        stages = json.loads(opts['param_scheduler.0.stage_epochs'])
        assert stages == json.loads(opts['custom_hooks.0.stage_epochs'])
        assert stages[-1] == int(opts['train_cfg.max_epochs'])
        assert len({b - a for a, b in zip(stages, stages[1:])}) == 1
        seen.add((stages[-1], len(stages) - 1))
    assert seen == {(e, k) for e in args.budgets for k in args.stage_counts}


def _frozen(out, run, knn, linear):
    d = out / f'frozen_{run}'
    d.mkdir(parents=True)
    (d / 'frozen_eval.json').write_text(
        json.dumps(dict(knn=dict(top1=knn), linear=dict(top1=linear))))


def _watched(out, run, scalars):
    d = out / run / '20260101_000000' / 'vis_data'
    d.mkdir(parents=True)
    (d / 'scalars.json').write_text(''.join(json.dumps(s) + '\n' for s in scalars))
    record = dict(type='RunRecord', launches=[dict(mode='train', scalars=str(d / 'scalars.json'))])
    (out / run / 'run_record.json').write_text(json.dumps(record))


def test_report_gives_mean_and_std_over_seeds(claims, tmp_path):
    from dbot_mm.reporting.claims_report import claims_report
    args = claims.parse_args(
        ['--seeds', '0', '1', '2', '--budgets', '30', '--stage-counts', '1', '3'])
    one, three = [60.0, 62.0, 67.0], [55.0, 57.0, 53.0]
    for s in range(3):
        _frozen(tmp_path, f'dbot-1x30e_seed{s}', one[s], 70.0 + s)
        _frozen(tmp_path, f'dbot-3x10e_seed{s}', three[s], 66.0)
        _watched(tmp_path, f'dbot-3x10e_seed{s}', [{
            'knn/teacher_top1': 40.0 + s,
            'step': 1
        }, {
            'knn/student_top1': 50.0,
            'step': 10
        }, {
            'knn/teacher_top1': 50.0,
            'step': 11
        }, {
            'knn/student_top1': 52.0 + s,
            'step': 20
        }])
    text, results = claims_report(args, str(tmp_path), {}, claims.TEACHERS, claims.students)
    m1, s1 = statistics.fmean(one), statistics.stdev(one)
    m3, s3 = statistics.fmean(three), statistics.stdev(three)
    assert f'| 30 | dBOT, 1 x 30 epochs | {m1:.1f} ± {s1:.1f} | 71.0 ± 1.0 |' in text
    assert f'| 30 | dBOT, 3 x 10 epochs | {m3:.1f} ± {s3:.1f} |' in text
    assert f'{m3 - m1:+.1f} ({(s1**2 + s3**2)**0.5:.1f})' in text
    assert '| 30 | 3 | 1 | 41.0 ± 1.0 | 50.0 ± 0.0 |' in text  # teacher at start, student at end
    assert '| 30 | 3 | 2 | 50.0 ± 0.0 | 53.0 ± 1.0 |' in text
    assert '| 30 | 3 | 3 | - | - |' in text  # not run: a dash, not a number
    assert results['b']['30/dBOT, 1 x 30 epochs']['knn'][:2] == pytest.approx((m1, s1))


def test_curves_are_drawn_from_the_watched_values_only(claims, tmp_path):
    from dbot_mm.reporting.claims_report import plot_curves
    args = claims.parse_args(['--seeds', '0', '--budgets', '30', '--stage-counts', '3'])
    assert plot_curves(args, str(tmp_path), str(tmp_path / 'c.png')) is None  # nothing watched
    _watched(tmp_path, 'dbot-3x10e_seed0', [{
        'knn/teacher_top1': 40.0,
        'step': 1
    }, {
        'knn/student_top1': 50.0,
        'step': 10
    }])
    assert plot_curves(args, str(tmp_path), str(tmp_path / 'c.png')) == str(tmp_path / 'c.png')
    assert (tmp_path / 'c.png').stat().st_size > 0
