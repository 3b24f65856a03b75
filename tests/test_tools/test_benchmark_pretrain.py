"""tools/analysis_tools/benchmark_pretrain.py: dBOT vs mmpretrain MAE speed, memory and MFU."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from dbot_mm.models.backbones.vit import ARCH_SETTINGS
from tests.helpers.tools import import_tool

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'analysis_tools' / 'benchmark_pretrain.py'
TINY = ['--arch', 'tiny', '--img-size', '32', '--patch-size', '8', '--batch', '2']


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    """The tiny CLI setting with the ViT-B config's decoder cut to 64 wide x 2 blocks (for both
    models), which keeps these tests fast."""
    config = tmp_path_factory.mktemp('configs') / 'dbot_small_decoder.py'
    config.write_text(f"_base_ = '{REPO / 'configs' / 'pretrain' / 'dbot_vit-b.py'}'\n"
                      'model = dict(neck=dict(decoder_embed_dims=64, decoder_depth=2, '
                      'decoder_num_heads=4))\n')
    return TINY + ['--config', str(config)]


@pytest.fixture(scope='module')
def tool():
    return import_tool(TOOL)


def table_rows(stdout):
    return [[c.strip() for c in ln.strip('|').split('|')] for ln in stdout.splitlines()
            if ln.startswith('| dBOT(')]


def test_cli_table_memory_mfu_and_json(small, tmp_path):
    out = tmp_path / 'bench.json'
    args = ['--threads', '1', '--warmup', '1', '--steps', '1', '--repeats', '2', '--num-masks']
    args += ['1', '2', '--peak-tflops', '0.05', '--out', str(out)]
    proc = subprocess.run(
        [sys.executable, str(TOOL)] + small + args,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = table_rows(proc.stdout)
    assert [r[0] for r in rows] == ['dBOT(K=1)', 'dBOT(K=2)']
    for k, cells in enumerate(rows, 1):
        img_d, img_m, ratio, per_sample, mem_d, mem_m, mem_ratio = map(float, cells[1:])
        assert min(img_d, img_m, ratio, mem_d, mem_m) > 0
        assert per_sample == pytest.approx(ratio / k, abs=2e-3)
        assert mem_ratio == pytest.approx(mem_d / mem_m, rel=0.02)  # MiB rounded in the table
    mfu = [ln for ln in proc.stdout.splitlines() if ln.startswith('model FLOPs utilisation')]
    assert len(mfu) == 1 and 'dBOT(K=2)' in mfu[0] and ', MAE ' in mfu[0]

    result = json.loads(out.read_text())
    assert result['arch'] == 'tiny' and result['precision'] == 'fp32'
    k1, k2, mae = result['results']
    assert [r['label'] for r in result['results']] == ['dBOT(K=1)', 'dBOT(K=2)', 'MAE']
    for r in (k1, k2):
        assert len(r['times']) == len(mae['times']) == 2
        assert r['cfg']['teacher']['depth'] == ARCH_SETTINGS['tiny'][1]
        assert r['peak'] > mae['peak'] > 0  # dBOT adds a teacher
        assert r['mem_ratio'] == r['peak'] / mae['peak']
        assert r['loss'] > 0 and mae['loss'] > 0
        # dBOT's step = MAE's FLOPs (same encoder, decoder of the same size) + a teacher forward
        assert r['gflop'] > mae['gflop'] > 0
        assert r['mfu'] == pytest.approx(r['gflop'] / r['step_s'] / 50)
        assert r['img_per_s'] == pytest.approx(2 / r['step_s'])
    # a second mask adds a student + decoder pass (about MAE's step), not a teacher forward
    assert 0.8 * mae['gflop'] < k2['gflop'] - k1['gflop'] < 1.02 * mae['gflop']


def test_bf16_teacher_weights_in_autocast_dtype_take_less_memory(tool, small, tmp_path, capsys):
    out = tmp_path / 'bench.json'
    args = ['--precision', 'bf16', '--teacher-weights', 'both', '--warmup', '0', '--steps', '1']
    assert tool.main(small + args + ['--repeats', '1', '--out', str(out)]) == 0
    labels = [r[0] for r in table_rows(capsys.readouterr().out)]
    assert labels == ['dBOT(K=1)', 'dBOT(K=1, teacher fp32)']
    amp, fp32, mae = json.loads(out.read_text())['results']
    assert amp['cfg']['amp_teacher_weights'] and not fp32['cfg']['amp_teacher_weights']
    assert all(math.isfinite(r['loss']) for r in (amp, fp32, mae))
    # the teacher's matmul weights in bf16 instead of fp32: half their bytes saved
    dims, depth = ARCH_SETTINGS['tiny'][:2]
    half_teacher_matmuls = depth * 12 * dims * dims * 2
    saved = fp32['peak'] - amp['peak']
    assert 0.9 * half_teacher_matmuls < saved < 1.1 * half_teacher_matmuls


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
