"""tools/analysis_tools/benchmark_pretrain.py: dBOT vs mmpretrain MAE training-step benchmark."""
import importlib.util
import json
import math
import os
import os.path as osp
import re
import subprocess
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark_pretrain.py')
TINY = ['--arch', 'tiny', '--img-size', '32', '--patch-size', '8', '--batch', '2',
        '--device', 'cpu', '--threads', '1']


def run_tool(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    return subprocess.run([sys.executable, TOOL] + args, capture_output=True, text=True,
                          env=env, cwd=str(cwd), timeout=300)


def test_table_both_models_and_ratios(tmp_path):
    out = tmp_path / 'bench.json'
    proc = run_tool(TINY + ['--warmup', '1', '--steps', '1', '--repeats', '2',
                            '--num-masks', '1', '2', '--peak-tflops', '0.05', '--out', str(out)],
                    tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith('|')]
    header = lines[0]
    for col in ('img/s dBOT', 'img/s MAE', 'step time dBOT/MAE', 'per student sample dBOT/MAE',
                'peak mem dBOT', 'peak mem MAE', 'mem dBOT/MAE'):
        assert col in header
    rows = lines[2:]
    assert len(rows) == 2
    mfu_line = [ln for ln in proc.stdout.splitlines() if ln.startswith('model FLOPs')]
    assert len(mfu_line) == 1 and 'dBOT(K=1)' in mfu_line[0] and 'MAE' in mfu_line[0]
    assert 'num_masks=1' in rows[0] and 'num_masks=2' in rows[1]
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        img_d, img_m, ratio, per_sample = map(float, cells[1:5])
        assert img_d > 0 and img_m > 0 and ratio > 0
        assert re.fullmatch(r'\d+ MiB', cells[5]) and re.fullmatch(r'\d+ MiB', cells[6])
        assert float(cells[7]) > 0
    ratio_k2, per_sample_k2 = (float(c) for c in rows[1].strip('|').split('|')[3:5])
    assert abs(per_sample_k2 - ratio_k2 / 2) < 2e-3  # the student sees 2 x batch samples

    results = json.loads(out.read_text())
    assert [r['num_masks'] for r in results] == [1, 2]
    for r in results:
        assert len(r['round_times_dbot']) == len(r['round_times_mae']) == 2
        assert r['loss_dbot'] > 0 and r['loss_mae'] > 0
        assert r['peak_bytes_dbot'] > 0 and r['peak_bytes_mae'] > 0
        assert r['teacher_depth'] == 12
        # MFU from FlopCounterMode: dBOT's step has the teacher forward on top of MAE's FLOPs
        assert r['gflop_per_step_dbot'] > r['gflop_per_step_mae'] > 0
        assert math.isclose(r['mfu_dbot'], r['gflop_per_step_dbot'] / r['step_s_dbot'] / 50,
                            rel_tol=1e-9)
    # K=2: the second mask adds a student + decoder step (about MAE's), not a teacher forward
    k1, k2 = results
    extra = k2['gflop_per_step_dbot'] - k1['gflop_per_step_dbot']
    assert 0.8 * k1['gflop_per_step_mae'] < extra < 1.02 * k1['gflop_per_step_mae']


def load_tool():
    spec = importlib.util.spec_from_file_location('benchmark_pretrain', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_loss_is_reproducible(capsys):
    """--check-loss (in-process: the stack is already imported) prints the same dBOT losses for
    the same seed, and --expect-loss accepts them and rejects others."""
    tool = load_tool()
    args = TINY[:-2]  # keep the pytest process's thread count
    assert tool.main(args + ['--check-loss']) == 0
    out = capsys.readouterr().out
    canon = [ln for ln in out.splitlines() if 'canonical' in ln]
    assert len(canon) == 1 and 'num_masks=1' in canon[0]
    losses = [float(v) for v in canon[0].split(':')[-1].split()]
    assert len(losses) == 3 and all(math.isfinite(v) and v > 0 for v in losses)
    assert tool.main(args + ['--check-loss', '--expect-loss'] + [repr(v) for v in losses]) == 0
    assert 'MATCH' in capsys.readouterr().out
    assert tool.main(args + ['--check-loss', '--expect-loss', repr(losses[0] * 1.001)]) == 1
    assert 'DIFFER' in capsys.readouterr().out


def test_bf16_rows_with_and_without_amp_teacher_weights(tmp_path):
    """bf16 on CPU (autocast), both models; --teacher-weights both adds a dBOT row whose teacher
    stays fp32: the default (teacher matmul weights in bf16) needs less memory."""
    out = tmp_path / 'bench.json'
    proc = run_tool(TINY + ['--precision', 'bf16', '--teacher-weights', 'both', '--warmup', '0',
                            '--steps', '1', '--repeats', '1', '--out', str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith('| ViT')]
    assert len(rows) == 2 and 'bf16' in rows[0]
    assert 'teacher fp32' not in rows[0] and 'teacher fp32' in rows[1]
    amp, fp32 = json.loads(out.read_text())
    assert (amp['teacher_weights'], fp32['teacher_weights']) == ('bf16', 'fp32')
    assert amp['peak_bytes_dbot'] < fp32['peak_bytes_dbot']
    assert amp['peak_bytes_mae'] == fp32['peak_bytes_mae']


def test_teacher_weights_option_needs_amp(tmp_path):
    proc = run_tool(TINY + ['--teacher-weights', 'both'], tmp_path)
    assert proc.returncode == 2 and '--teacher-weights only applies' in proc.stderr
