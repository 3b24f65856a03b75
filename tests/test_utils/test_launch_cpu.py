"""dbot_mm.utils.launch: CUDA configs under a CPU launcher, and the --resume checkpoint choice."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from dbot_mm.utils.launch import LaunchError, adapt_to_device, resolve_resume

REPO = Path(__file__).resolve().parents[2]
DET_DEMO = REPO / 'configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py'
cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path only applies there')


@cpu_only
def test_sync_bn_becomes_bn_under_a_cpu_launcher():
    cfg = Config.fromfile(DET_DEMO)
    assert cfg.model.neck[0].norm_cfg.type == 'SyncBN'
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    cfg.launcher = 'pytorch'
    adapt_to_device(cfg)
    assert cfg.model.neck[0].norm_cfg.type == 'BN'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None


@cpu_only
def test_one_process_keeps_the_config():
    """No launcher: nothing to adapt (no process group; the Runner reverts SyncBN itself)."""
    cfg = Config.fromfile(DET_DEMO)
    before = cfg.to_dict()
    adapt_to_device(cfg)
    assert cfg.to_dict() == before


@cpu_only
@pytest.mark.parametrize('amp_only', [{}, dict(loss_scale='dynamic')])
def test_amp_on_the_cpu_names_the_option_that_runs_it(amp_only):
    cfg = Config.fromfile(DET_DEMO)
    cfg.optim_wrapper.update(type='AmpOptimWrapper', **amp_only)
    with pytest.raises(LaunchError) as err:
        adapt_to_device(cfg)
    message = str(err.value)
    assert '\n' not in message
    assert message.startswith('AMP') and 'refuses the CPU' in message
    assert message.endswith('--cfg-options optim_wrapper.type=OptimWrapper' + (
        f' (delete optim_wrapper.loss_scale from {DET_DEMO} first)' if amp_only else ''))


def _train_cfg(work_dir, **extra):
    cfg = Config(dict(work_dir=str(work_dir), resume=False, load_from=None))
    cfg.merge_from_dict(extra)
    return cfg


def _checkpoint(path, iter, optimizer=True):
    from mmengine.runner.checkpoint import save_checkpoint
    ckpt = dict(meta=dict(epoch=1, iter=iter), state_dict=dict(w=torch.ones(3)))
    if optimizer:
        ckpt['optimizer'] = dict(state={}, param_groups=[])
    save_checkpoint(ckpt, str(path))


def test_auto_resume_skips_a_truncated_latest_checkpoint(tmp_path, monkeypatch):
    from dbot_mm.utils import launch
    logged = []
    monkeypatch.setattr(launch, 'print_log', lambda msg, *args, **kwargs: logged.append(msg))
    _checkpoint(tmp_path / 'epoch_1.pth', 4)
    _checkpoint(tmp_path / 'epoch_2.pth', 8)
    data = (tmp_path / 'epoch_2.pth').read_bytes()
    (tmp_path / 'epoch_2.pth').write_bytes(data[:len(data) // 3])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    cfg = _train_cfg(tmp_path, resume=True)
    launch.resolve_resume(cfg)
    assert cfg.load_from == str(tmp_path / 'epoch_1.pth') and cfg.resume
    assert len(logged) == 1 and '\n' not in logged[0]
    assert logged[0].startswith(f'--resume: skipping damaged checkpoint {tmp_path}/epoch_2.pth (')


def test_auto_resume_without_checkpoints_starts_from_scratch(tmp_path):
    cfg = _train_cfg(tmp_path, resume=True)
    resolve_resume(cfg)
    assert (cfg.resume, cfg.load_from) == (False, None)


@pytest.mark.parametrize('case, message', [
    ('damaged', '--resume: no complete checkpoint in {d} (damaged: {d}/epoch_1.pth ('),
    ('snapshot', '--resume {d}/dbot_stage1_epoch_1.pth: holds model weights only (an '
     'end-of-stage snapshot'),
    ('missing', '--resume {d}/nope.pth: not a readable checkpoint (FileNotFoundError'),
])
def test_resume_errors_are_one_line(tmp_path, case, message):
    cfg = _train_cfg(tmp_path, resume=True)
    if case == 'damaged':
        (tmp_path / 'epoch_1.pth').write_bytes(b'PK\x03\x04 not a checkpoint')
    elif case == 'snapshot':
        _checkpoint(tmp_path / 'dbot_stage1_epoch_1.pth', 4, optimizer=False)
        cfg.load_from = str(tmp_path / 'dbot_stage1_epoch_1.pth')
    else:
        cfg.load_from = str(tmp_path / 'nope.pth')
    with pytest.raises(LaunchError) as err:
        resolve_resume(cfg)
    assert str(err.value).startswith(message.format(d=tmp_path))
    assert '\n' not in str(err.value)
