"""tools/analysis_tools/benchmark_pretrain.py: dBOT vs mmpretrain MAE speed, memory and MFU."""
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from dbot_mm.models.backbones.vit import ARCH_SETTINGS

TOOL = Path(__file__).resolve().parents[2] / 'tools' / 'analysis_tools' / 'benchmark_pretrain.py'
TINY = ['--arch', 'tiny', '--img-size', '32', '--patch-size', '8', '--batch', '2']


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('benchmark_pretrain', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(stdout):
    return [[c.strip() for c in ln.strip('|').split('|')] for ln in stdout.splitlines()
            if ln.startswith('| dBOT(')]


def test_cli_table_memory_mfu_and_json(tmp_path):
    out = tmp_path / 'bench.json'
    proc = subprocess.run(
        [sys.executable, str(TOOL)] + TINY + [
            '--threads', '1', '--warmup', '1', '--steps', '1', '--repeats', '2', '--num-masks',
            '1', '2', '--peak-tflops', '0.05', '--out', str(out)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = table_rows(proc.stdout)
    assert [r[0] for r in rows] == ['dBOT(K=1)', 'dBOT(K=2)']
    for cells in rows:
        img_d, img_m, ratio, per_sample, mem_d, mem_m, mem_ratio = map(float, cells[1:])
        assert min(img_d, img_m, ratio, mem_d, mem_m) > 0
        assert per_sample == pytest.approx(ratio / int(cells[0][7]), abs=2e-3)
    mfu = [ln for ln in proc.stdout.splitlines() if ln.startswith('model FLOPs utilisation')]
    assert len(mfu) == 1 and 'dBOT(K=2)' in mfu[0] and ', MAE ' in mfu[0]

    result = json.loads(out.read_text())
    assert result['arch'] == 'tiny' and result['precision'] == 'fp32'
    k1, k2 = result['rows']
    for r in (k1, k2):
        assert len(r['round_times_dbot']) == len(r['round_times_mae']) == 2
        assert r['teacher_depth'] == ARCH_SETTINGS['tiny'][1]
        assert r['peak_bytes_dbot'] > r['peak_bytes_mae'] > 0  # dBOT adds a teacher
        assert r['loss_dbot'] > 0 and r['loss_mae'] > 0
        # dBOT's step = MAE's FLOPs (same encoder, decoder of the same size) + a teacher forward
        assert r['gflop_per_step_dbot'] > r['gflop_per_step_mae'] > 0
        assert r['mfu_dbot'] == pytest.approx(r['gflop_per_step_dbot'] / r['step_s_dbot'] / 50)
    # a second mask adds a student + decoder pass (about MAE's step), not a teacher forward
    extra = k2['gflop_per_step_dbot'] - k1['gflop_per_step_dbot']
    assert 0.8 * k1['gflop_per_step_mae'] < extra < 1.02 * k1['gflop_per_step_mae']
    assert k2['peak_bytes_dbot'] > k1['peak_bytes_dbot']


def test_bf16_teacher_weights_in_autocast_dtype_take_less_memory(tool, tmp_path, capsys):
    out = tmp_path / 'bench.json'
    assert tool.main(TINY + ['--precision', 'bf16', '--teacher-weights', 'both', '--warmup', '0',
                             '--steps', '1', '--repeats', '1', '--out', str(out)]) == 0
    assert [r[0] for r in table_rows(capsys.readouterr().out)] == [
        'dBOT(K=1)', 'dBOT(K=1, teacher fp32)']
    amp, fp32 = json.loads(out.read_text())['rows']
    assert amp['amp_teacher_weights'] and not fp32['amp_teacher_weights']
    assert all(math.isfinite(r['loss_dbot']) for r in (amp, fp32))
    # the teacher's matmul weights in bf16 instead of fp32: half their bytes saved
    dims, depth = ARCH_SETTINGS['tiny'][:2]
    half_teacher_matmuls = depth * 12 * dims * dims * 2
    saved = fp32['peak_bytes_dbot'] - amp['peak_bytes_dbot']
    assert 0.9 * half_teacher_matmuls < saved < 1.1 * half_teacher_matmuls
    assert amp['peak_bytes_mae'] == fp32['peak_bytes_mae']


@pytest.mark.parametrize('argv, message', [
    (['--teacher-weights', 'both'], '--teacher-weights only applies'),
    (['--precision', 'fp16'], '--precision fp16 needs --device cuda'),
    (['--num-masks', '1', '0'], 'must be >= 1'),
    (['--arch', 'gigantic'], "invalid choice: 'gigantic'"),
])
def test_bad_arguments_exit_with_one_line(tool, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        tool.parse_args(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_arch_table_is_the_backbones(tool):
    assert tool.ARCH_SETTINGS is ARCH_SETTINGS
    assert tool.parse_args(['--arch', 'huge']).arch == 'huge'
