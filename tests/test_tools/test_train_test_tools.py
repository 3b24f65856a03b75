"""tools/train.py, tools/test.py and tools/dist_train.sh, end to end on CPU.

The command-line runs use a 2-layer, 32-wide ViT on 16 images of 32x32
(``tests/data/configs/tiny_cls.py``): an epoch is 4 iterations.
"""
import os
import pickle
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from dbot_mm.utils import load_checkpoint_file
from dbot_mm.utils.launch import LaunchError, build_runner
from tests.helpers.tools import import_tool

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'tests' / 'data' / 'configs' / 'tiny_cls.py'
TIMEOUT = 600


def _load_tool(name):
    """Import tools/<name>.py (not a package) to reach its parse_args and merge_args."""
    return import_tool(ROOT / 'tools' / f'{name}.py')


def _merged(name, *argv):
    """The config tools/<name>.py runs for the command line ``argv``."""
    tool = _load_tool(name)
    args = tool.parse_args([str(a) for a in argv])
    return tool.merge_args(Config.fromfile(args.config), args)


def _data_options(root):
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]


def _env(**extra):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1', **extra)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(ROOT), env.get('PYTHONPATH')) if p)
    return env


def _run(cmd, expect_ok=True, **env):
    proc = subprocess.run([str(c) for c in cmd],
                          cwd=ROOT,
                          env=_env(**env),
                          capture_output=True,
                          text=True,
                          timeout=TIMEOUT)
    output = proc.stdout + proc.stderr
    if expect_ok:
        assert proc.returncode == 0, (f'{" ".join(map(str, cmd))} exited {proc.returncode}:\n'
                                      f'{output[-6000:]}')
    return proc, output


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.fixture(scope='module')
def trained(tiny_image_folder, tmp_path_factory):
    """One epoch of tools/train.py: the work dir holds epoch_1.pth."""
    work_dir = tmp_path_factory.mktemp('train')
    _, output = _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_epochs=1', *_data_options(tiny_image_folder)
    ])
    return work_dir, output


def test_train_writes_checkpoint(trained):
    work_dir, output = trained
    assert re.search(r'Epoch\(train\) \[1\]\[4/4\]', output), output[-3000:]
    assert re.search(r'Epoch\(val\) \[1\]\[4/4\].*accuracy/top1', output)
    ckpt = work_dir / 'epoch_1.pth'
    assert ckpt.is_file()
    assert (work_dir / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')
    # A real mmengine checkpoint: everything in it is allowlisted.
    assert torch.serialization.get_unsafe_globals_in_checkpoint(ckpt) == []
    checkpoint = load_checkpoint_file(ckpt)
    assert {'meta', 'state_dict', 'optimizer', 'param_schedulers', 'message_hub'} <= set(checkpoint)
    assert checkpoint['meta']['epoch'] == 1
    assert checkpoint['meta']['iter'] == 4


def test_resume_auto_continues(trained, tiny_image_folder, tmp_path):
    """``--resume`` (auto) loads epoch_1.pth with torch.load(weights_only)."""
    src_dir, _ = trained
    work_dir = tmp_path / 'resume'
    work_dir.mkdir()
    (work_dir / 'epoch_1.pth').write_bytes((src_dir / 'epoch_1.pth').read_bytes())
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    _, output = _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir, '--resume',
        '--cfg-options', 'train_cfg.max_epochs=2', *_data_options(tiny_image_folder)
    ])
    assert 'resumed epoch: 1, iter: 4' in output, output[-3000:]
    assert not re.search(r'Epoch\(train\) \[1\]', output)
    assert re.search(r'Epoch\(train\) \[2\]\[4/4\]', output)
    checkpoint = load_checkpoint_file(work_dir / 'epoch_2.pth')
    assert (checkpoint['meta']['epoch'], checkpoint['meta']['iter']) == (2, 8)


def test_test_tool_evaluates(trained, tiny_image_folder, tmp_path):
    work_dir, _ = trained
    out = tmp_path / 'preds.pkl'
    _, output = _run([
        sys.executable, 'tools/test.py', CONFIG, work_dir / 'epoch_1.pth', '--work-dir', tmp_path,
        '--out', out, '--cfg-options', *_data_options(tiny_image_folder)
    ])
    match = re.search(r'Epoch\(test\) \[4/4\].*accuracy/top1: ([\d.]+)', output)
    assert match, output[-3000:]
    assert 0.0 <= float(match.group(1)) <= 100.0
    with open(out, 'rb') as f:
        predictions = pickle.load(f)
    assert len(predictions) == 16


def test_dist_train_two_cpu_processes(tiny_image_folder, tmp_path):
    """GPUS=2 on a CPU machine: nccl in the config becomes gloo."""
    _, output = _run([
        'bash', 'tools/dist_train.sh', CONFIG, 2, '--work-dir', tmp_path, '--cfg-options',
        'train_cfg.max_epochs=1', *_data_options(tiny_image_folder)
    ],
                     PORT=str(_free_port()))
    assert 'Distributed training: True' in output, output[-3000:]
    # 16 images, 2 ranks x batch 4: 2 iterations an epoch.
    assert re.search(r'Epoch\(train\) \[1\]\[2/2\]', output), output[-3000:]
    assert (tmp_path / 'epoch_1.pth').is_file()


def test_dist_train_exits_75_when_preempted(tiny_image_folder, tmp_path):
    """SIGTERM on rank 0 of 2: both ranks save and stop, torchrun reports 1, dist_train.sh exits
    with PreemptionHook's 75 (what a scheduler's requeue rule can test) and names the file."""
    config = tmp_path / 'preempted_cls.py'
    config.write_text(
        f"_base_ = ['{CONFIG}']\n"
        "custom_imports = dict(imports=['dbot_mm', 'tests.helpers.tiny_pretrain'])\n"
        "custom_hooks = [dict(type='FaultInjectionHook', at_iter=1, how='term', rank=0)]\n")
    work_dir = tmp_path / 'work'
    proc, output = _run([
        'bash', 'tools/dist_train.sh', config, 2, '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_epochs=1', *_data_options(tiny_image_folder)
    ],
                        expect_ok=False,
                        PORT=str(_free_port()))
    assert proc.returncode == 75, output[-3000:]
    assert f'preempted, saved {work_dir}/preempt_iter_1.pth; exit code 75' in output
    assert (work_dir / 'preempt_iter_1.pth').is_file()


def test_amp_flag(tiny_image_folder, tmp_path):
    """--amp: AmpOptimWrapper on CUDA; on a CPU machine one line naming the option that runs the
    config there, and that option runs it."""
    options = ['train_cfg.max_epochs=1', *_data_options(tiny_image_folder)]
    proc, output = _run([
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', tmp_path, '--amp', '--cfg-options',
        *options
    ],
                        expect_ok=torch.cuda.is_available())
    if not torch.cuda.is_available():
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith('train.py: error: AMP') and 'refuses the CPU' in last
        option = re.fullmatch(r'.*, run without --amp and with --cfg-options (\S+)', last).group(1)
        _run([
            sys.executable, 'tools/train.py', CONFIG, '--work-dir', tmp_path, '--cfg-options',
            option, *options
        ])
    assert (tmp_path / 'epoch_1.pth').is_file()


FAKE_SRUN = """#!/usr/bin/env bash
# srun stand-in: one task on this machine, slurm's environment for dbot_mm's slurm launcher
while [ $# -gt 0 ]; do case "$1" in -p) shift 2;; -*) shift;; *) break;; esac; done
echo "srun: $*" >> "$FAKE_SLURM_LOG"
SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost exec "$@"
"""
FAKE_SCONTROL = """#!/usr/bin/env bash
if [ "$1" = show ]; then echo 127.0.0.1; else echo "scontrol: $*" >> "$FAKE_SLURM_LOG"; fi
"""


def test_slurm_requeue_after_sigterm(tiny_image_folder, tmp_path):
    """SIGTERM in the middle of epoch 1: train.py saves and exits 75, slurm_train.sh --requeue
    starts it again with --resume, and the run ends where an uninterrupted one would."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for name, text in (('srun', FAKE_SRUN), ('scontrol', FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    config = tmp_path / 'preempted_cls.py'
    config.write_text(f"_base_ = ['{CONFIG}']\n"
                      "custom_imports = dict(imports=['dbot_mm', 'tests.helpers.tiny_pretrain'])\n"
                      "custom_hooks = [dict(type='FaultInjectionHook', at_iter=3, how='term')]\n")
    log, work_dir = tmp_path / 'slurm.log', tmp_path / 'work'
    env = dict(
        PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
        FAKE_SLURM_LOG=str(log),
        MASTER_PORT=str(_free_port()),
        GPUS='1',
        GPUS_PER_NODE='1')
    proc, output = _run([
        'bash', 'tools/slurm_train.sh', '--requeue', 'part', 'job', config, work_dir,
        '--cfg-options', *_data_options(tiny_image_folder)
    ], **env)
    launches = [ln for ln in log.read_text().splitlines() if ln.startswith('srun:')]
    assert len(launches) == 2 and all(ln.endswith('--resume') for ln in launches), launches
    assert f'saved {work_dir}/preempt_iter_3.pth at iteration 3; exiting with code 75' in output
    assert f'preempted (exit 75; saved {work_dir}/preempt_iter_3.pth)' in output
    assert 'resumed epoch: 0, iter: 3' in output
    checkpoint = load_checkpoint_file(work_dir / 'epoch_2.pth')
    assert (checkpoint['meta']['epoch'], checkpoint['meta']['iter']) == (2, 8)
    assert not list(work_dir.glob('preempt_iter_*.pth'))  # superseded by epoch checkpoints


def test_resume_does_not_need_the_pretrained_file(trained, tiny_image_folder, tmp_path):
    """The run's checkpoint holds every weight: a moved init_cfg file does not stop --resume."""
    src_dir, _ = trained
    (tmp_path / 'epoch_1.pth').write_bytes((src_dir / 'epoch_1.pth').read_bytes())
    cfg = _merged('train', CONFIG, '--work-dir', tmp_path, '--resume', '--cfg-options',
                  'train_cfg.max_epochs=2', 'model.backbone.init_cfg.type=Pretrained',
                  f'model.backbone.init_cfg.checkpoint={tmp_path}/moved.pth',
                  'model.backbone.init_cfg.prefix=backbone.', *_data_options(tiny_image_folder))
    runner = build_runner(cfg)
    assert cfg.load_from == str(tmp_path / 'epoch_1.pth')
    runner.train()
    assert load_checkpoint_file(tmp_path / 'epoch_2.pth')['meta']['iter'] == 8


class _Payload:
    """Unpickling it runs code (what weights_only=False would do with a hostile file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker), ))


def test_load_from_url_is_downloaded_and_read_without_unpickling_code(trained, tiny_image_folder,
                                                                      tmp_path, monkeypatch):
    """load_from / --resume with an http(s) URL: build_runner hands mmengine the cached download,
    which it reads as a local file with weights_only=True (mmengine's own URL loader unpickles
    fully: the hostile file would run its code); the hostile file is refused, nothing runs."""
    from dbot_mm.utils.checkpoint import url_cache_path
    src_dir, _ = trained
    served = {
        'https://example.org/run/epoch_1.pth': (src_dir / 'epoch_1.pth').read_bytes(),
        'https://example.org/evil.pth': pickle.dumps(_Payload(tmp_path / 'ran')),
    }

    def download(url, dst, hash_prefix=None, progress=True):
        Path(dst).write_bytes(served[url])

    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(torch.hub, 'download_url_to_file', download)
    for url in served:
        runner = build_runner(
            _merged('train', CONFIG, '--work-dir', tmp_path / 'work',
                    '--cfg-options', 'train_cfg.max_epochs=2', f'load_from={url}',
                    *_data_options(tiny_image_folder)))
        assert runner._load_from == url_cache_path(url)
        if url.endswith('evil.pth'):
            with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
                runner.train()
            assert not (tmp_path / 'ran').exists()
            continue
        runner.train()
        assert load_checkpoint_file(tmp_path / 'work' / 'epoch_2.pth')['meta']['iter'] == 8


# In-process checks of the flag merging (no training).


def test_defaults():
    cfg = _merged('train', CONFIG)
    assert cfg.work_dir == os.path.join('./work_dirs', 'tiny_cls')
    assert (cfg.launcher, cfg.resume) == ('none', False)


def test_train_flags_merge():
    cfg = _merged('train', CONFIG, '--resume', 'a/b.pth', '--no-validate', '--auto-scale-lr',
                  '--amp', '--launcher', 'pytorch', '--work-dir', 'wd', '--cfg-options',
                  'optim_wrapper.optimizer.lr=0.5')
    assert (cfg.resume, cfg.load_from) == (True, 'a/b.pth')
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    assert cfg.auto_scale_lr.enable is True
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.launcher == 'pytorch' and cfg.work_dir == 'wd'
    assert cfg.optim_wrapper.optimizer.lr == 0.5
    auto = _merged('train', CONFIG, '--resume')
    assert (auto.resume, auto.load_from) == (True, None)


def test_auto_scale_lr_needs_base_batch_size(tmp_path):
    config = tmp_path / 'no_auto_scale.py'
    config.write_text(f"_base_ = ['{CONFIG}']\nauto_scale_lr = None\n")
    with pytest.raises(LaunchError, match='base_batch_size'):
        _merged('train', config, '--auto-scale-lr')


def test_show_dir_per_scope(tmp_path):
    checkpoint = tmp_path / 'x.pth'
    checkpoint.touch()
    tool = _load_tool('test')
    args = tool.parse_args([str(CONFIG), str(checkpoint), '--show-dir', 'vis'])
    cfg = tool.merge_args(Config.fromfile(CONFIG), args)
    assert (cfg.load_from, cfg.resume) == (str(checkpoint), False)
    assert cfg.default_hooks.visualization.enable is True
    assert cfg.default_hooks.visualization.out_dir == 'vis'

    det = tool.merge_args(
        Config(
            dict(
                default_scope='mmdet',
                default_hooks=dict(visualization=dict(type='DetVisualizationHook')),
                visualizer=dict(type='DetLocalVisualizer'))), args)
    assert det.default_hooks.visualization.draw is True
    assert det.default_hooks.visualization.test_out_dir == 'vis'

    seg = tool.merge_args(
        Config(
            dict(
                default_scope='mmseg',
                default_hooks=dict(visualization=dict(type='SegVisualizationHook')),
                visualizer=dict(type='SegLocalVisualizer'))), args)
    assert seg.default_hooks.visualization.draw is True
    assert seg.visualizer.save_dir == 'vis'
