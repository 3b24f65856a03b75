"""tools/misc/gpu_check.py: its CPU dry run measures every part, and the figures are the tools'."""
import json
import math
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.helpers.tools import import_tool

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'misc' / 'gpu_check.py'


@pytest.fixture(scope='module')
def tool():
    return import_tool(TOOL)


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    """``--device cpu`` as a user runs it: a process of its own."""
    out = tmp_path_factory.mktemp('gpu_check') / 'gpu_check.json'
    proc = subprocess.run(
        [sys.executable, str(TOOL), '--device', 'cpu', '--out',
         str(out)],
        capture_output=True,
        text=True,
        cwd=out.parent,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_dry_run_measures_every_part_and_prints_the_table(tool, dry_run):
    stdout, report = dry_run
    parts = report['parts']
    assert list(parts) == list(tool.PARTS)
    assert {name: p['error'] for name, p in parts.items()} == dict.fromkeys(tool.PARTS)
    speed, compiled = parts['speed']['rows'], parts['compile']['rows']
    assert [r['label'] for r in speed] == ['dBOT(K=1)', 'dBOT(K=2)', 'MAE']
    assert [r['label'] for r in compiled] == ['dBOT(K=1)', 'MAE']
    for r in speed + compiled:
        assert r['img_per_s'] == pytest.approx(2 / r['step_s'])  # batch 2
        assert r['mfu'] == pytest.approx(r['gflop'] / r['step_s'] / 1e3)  # 1 TFLOP/s nominal
        assert math.isfinite(r['loss'])
    assert all(r['peak'] > 0 for r in speed) and all(r['peak'] is None for r in compiled)
    assert speed[1]['gflop'] > speed[0]['gflop'] > speed[2]['gflop'] > 0  # K=2 > K=1 > MAE
    assert compiled[0]['gflop'] == speed[0]['gflop']  # counted before compiling
    assert compiled[0]['vs_eager'] == pytest.approx(compiled[0]['img_per_s'] /
                                                    speed[0]['img_per_s'])

    decode = parts['decode']
    assert decode['step_rate'] == speed[0]['img_per_s']  # the measured dBOT rate, not assumed
    shipped, fast, gpu_path = decode['rows']
    assert 'fast' in fast['config'] and gpu_path['config'] == 'torchvision decode_jpeg on cpu'
    assert min(shipped['single'], fast['single'], gpu_path['device_images_s']) > 0
    assert gpu_path['device_share'] == pytest.approx(decode['step_rate'] /
                                                     gpu_path['device_images_s'])

    nccl = parts['nccl']
    assert nccl['backend'] == 'gloo' and nccl['world_size'] == 1
    assert min(nccl[k] for k in ('init_s', 'bootstrap_s', 'first_broadcast_s', 'broadcast_s')) > 0
    assert 0.5 < nccl['broadcast_mb'] < 5  # the tiny demo student, decoder and teacher in fp32

    lines = stdout.splitlines()
    for row in ('| speed | dBOT(K=2) |', '| amp | bf16 vs fp32, 20 steps |', '| decode | imagenet_'
                'dbot_pretrain_fast.py |', '| nccl | gloo init, 1 rank |', '| compile | MAE |'):
        assert any(ln.startswith(row) for ln in lines), row


def test_amp_same_seed_fp32_repeats_exactly_and_bf16_does_not(dry_run):
    amp = dry_run[1]['parts']['amp']
    curves, diff = amp['curves'], amp['max_rel_diff']
    assert list(curves) == ['fp32', 'fp32 again', 'bf16'] and len(curves['bf16']) == 20
    assert curves['fp32 again'] == curves['fp32'] and diff['fp32 again'] == 0
    assert 0 < diff['bf16'] < 0.05
    assert diff['bf16'] == max(abs(b - f) / f for b, f in zip(curves['bf16'], curves['fp32']))
    assert curves['fp32'][-1] < curves['fp32'][0]  # it trains


def test_flops_are_benchmark_pretrains_own_count(tool, dry_run, tmp_path):
    bench = import_tool('analysis_tools/benchmark_pretrain.py')
    out = tmp_path / 'bench.json'
    argv = tool.bench_argv('cpu', str(tmp_path)) + ['--num-masks', '1', '--no-memory']
    assert bench.main(argv + ['--out', str(out)]) == 0
    own = {r['label']: r['gflop'] for r in json.loads(out.read_text())['results']}
    rows = dry_run[1]['parts']['speed']['rows']
    assert list(own) == ['dBOT(K=1)', 'MAE']
    assert {r['label']: r['gflop'] for r in rows if r['label'] in own} == own


def test_a_failing_or_slow_part_is_recorded_and_the_next_runs(tool):
    report = dict(parts={}, device_name='CPU', torch='x', python='3', seconds=1.)
    outer = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's, when it runs with one
    tool.run_part('speed', lambda: time.sleep(30), 1, report)
    tool.run_part('amp', lambda: 1 / 0, 10, report)
    assert tool.run_part('nccl', lambda: dict(init_s=0.5, backend='gloo'), 10, report) == dict(
        init_s=0.5, backend='gloo', error=None)
    left = signal.getitimer(signal.ITIMER_REAL)[0]  # no timer left behind, a caller's goes on
    assert left == 0.0 if outer == 0.0 else 0.0 < left < outer
    parts = report['parts']
    assert parts['speed']['error'] == 'over its budget of 1 s' and parts['speed']['seconds'] < 5
    assert parts['amp']['error'] == 'ZeroDivisionError: division by zero'
    table = tool.render(report)
    assert '| speed | error | over its budget of 1 s |' in table
    assert '| amp | error | ZeroDivisionError: division by zero |' in table
    assert '| nccl | gloo init, None rank | 0.50 s; bootstrap n/a s;' in table


def test_render_reprints_a_written_report(tool, dry_run, tmp_path, capsys):
    path = tmp_path / 'report.json'
    path.write_text(json.dumps(dry_run[1]))
    assert tool.main(['--render', str(path)]) == 0
    assert capsys.readouterr().out == tool.render(dry_run[1])


def test_sh_installs_only_the_wheels_of_missing_distributions(dry_run, tmp_path):
    """gpu_check.sh: a wheel of an installed distribution (pytest; setuptools while it has
    pkg_resources) is left out, here a junk file pip would refuse; the others land in GPU_SITE."""
    wheels, site = tmp_path / 'wheels', tmp_path / 'site'
    wheels.mkdir()
    with zipfile.ZipFile(wheels / 'gpu_check_probe-1.0-py3-none-any.whl', 'w') as whl:
        whl.writestr('gpu_check_probe.py', 'VALUE = 1\n')
        info = 'gpu_check_probe-1.0.dist-info/'
        whl.writestr(info + 'METADATA',
                     'Metadata-Version: 2.1\nName: gpu_check_probe\nVersion: 1.0\n')
        whl.writestr(info + 'WHEEL',
                     'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n')
        whl.writestr(info + 'RECORD', '')
    for junk in ('pytest-0.0-py3-none-any.whl', 'setuptools-0.0-py3-none-any.whl'):
        (wheels / junk).write_text('not a wheel')
    (tmp_path / 'report.json').write_text(json.dumps(dry_run[1]))
    env = dict(
        os.environ,
        PYTHON=sys.executable,
        GPU_WHEELS=str(wheels),
        GPU_SITE=str(site),
        OUT=str(tmp_path))
    proc = subprocess.run([
        'bash',
        str(REPO / 'tools' / 'misc' / 'gpu_check.sh'), '--render',
        str(tmp_path / 'report.json')
    ],
                          capture_output=True,
                          text=True,
                          env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f'installing into {site}: gpu_check_probe-1.0-py3-none-any.whl\n' in proc.stdout
    assert (site / 'gpu_check_probe.py').read_text() == 'VALUE = 1\n'
    assert '| nccl | gloo init, 1 rank |' in proc.stdout
    proc = subprocess.run(['bash', str(REPO / 'tools' / 'misc' / 'gpu_check.sh')],
                          capture_output=True,
                          text=True,
                          timeout=60,
                          env=dict(env, GPU_WHEELS=str(tmp_path / 'none')))
    assert proc.returncode == 1 and 'gpu_check.sh: no wheels in' in proc.stderr
