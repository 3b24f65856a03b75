"""load_backbone_checkpoint: student / teacher prefixes, pos_embed resizing, checkpoint formats,
and one-line errors that name the file and the keys (never a silent partial load)."""
import io
import os.path as osp
import urllib.error

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import HistoryBuffer

import dbot_mm  # noqa: F401
from dbot_mm.models.backbones.vit import DBotViT
from dbot_mm.models.utils.pretrained import (
    PretrainedCfg,
    load_backbone_checkpoint,
    pretrained_from_init_cfg,
)
from dbot_mm.utils.checkpoint import CheckpointLoadError, CheckpointReadError, url_cache_path


def tiny_vit(**kwargs):
    cfg = dict(arch='tiny', embed_dims=32, depth=2, num_heads=2, img_size=32, patch_size=8)
    cfg.update(kwargs)
    return DBotViT(**cfg)


def randomized(module, seed):
    """Every tensor random (the MAE init leaves norms, biases and pos_embed equal across
    models, which would hide a student/teacher mix-up)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return module


def prefixed(module, prefix):
    return {prefix + k: v.clone() for k, v in module.state_dict().items()}


def clone_state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def assert_state_equal(module, expected):
    state = module.state_dict()
    for k, v in expected.items():
        assert torch.equal(state[k], v), k


def assert_one_line(err, *needles):
    message = str(err.value)
    assert '\n' not in message, message
    for needle in needles:
        assert needle in message, f'{needle!r} not in {message!r}'
    return message


@pytest.fixture(scope='module')
def sources():
    return dict(student=randomized(tiny_vit(), 1), teacher=randomized(tiny_vit(), 2))


@pytest.fixture(scope='module')
def dbot_ckpt(tmp_path_factory, sources):
    """An mmengine dBOT checkpoint: student, decoder, teacher, optimizer, message hub."""
    path = str(tmp_path_factory.mktemp('ckpt') / 'epoch_3.pth')
    state = {}
    state.update(prefixed(sources['student'], 'backbone.'))
    state['neck.mask_token'] = torch.randn(1, 1, 16)
    state['neck.decoder_embed.weight'] = torch.randn(16, 32)
    state.update(prefixed(sources['teacher'], 'teacher.'))
    torch.save(
        dict(
            meta=dict(epoch=3, iter=30, mmengine_version='0.10.7'),
            state_dict=state,
            optimizer=dict(state={}, param_groups=[dict(lr=1e-3, params=[0, 1])]),
            message_hub=dict(
                log_scalars={'train/loss': HistoryBuffer([1.0, 0.5], [1, 1])},
                runtime_info=dict(epoch=3)),
        ), path)
    return path


# -------------------------------------------------------------------------------- loading
def test_student_and_teacher_prefixes(dbot_ckpt, sources):
    student = tiny_vit(freeze_pos_embed=False, out_type='avg_featmap')
    report = load_backbone_checkpoint(student, dbot_ckpt, prefix='backbone.')
    assert_state_equal(student, sources['student'].state_dict())
    assert sorted(report.missing) == ['fc_norm.bias', 'fc_norm.weight']
    assert report.unexpected == [] and report.resized == []

    teacher = tiny_vit()
    load_backbone_checkpoint(teacher, dbot_ckpt, prefix='teacher')  # dot added
    assert_state_equal(teacher, sources['teacher'].state_dict())
    assert not torch.equal(student.blocks[0].attn.qkv.weight, teacher.blocks[0].attn.qkv.weight)


def test_init_cfg_pretrained_teacher(dbot_ckpt, sources):
    vit = tiny_vit(init_cfg=dict(type='Pretrained', checkpoint=dbot_ckpt, prefix='teacher.'))
    vit.init_weights()
    assert_state_equal(vit, sources['teacher'].state_dict())


def test_classifier_init_weights_loads_student(dbot_ckpt, sources):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(
                    type='DBotViT',
                    arch='tiny',
                    embed_dims=32,
                    depth=2,
                    num_heads=2,
                    img_size=32,
                    patch_size=8,
                    out_type='avg_featmap',
                    freeze_pos_embed=False,
                    layer_scale_init_value=0.1,
                    init_cfg=dict(type='Pretrained', checkpoint=dbot_ckpt, prefix='backbone.')),
                head=dict(type='LinearClsHead', num_classes=3, in_channels=32)))
    model.init_weights()
    expected = sources['student'].state_dict()
    assert_state_equal(model.backbone, expected)
    # new downstream parameters keep their init
    assert torch.allclose(model.backbone.blocks[0].ls1.gamma, torch.full((32, ), 0.1))


def test_pos_embed_resized_bicubic_cls_kept(dbot_ckpt, sources):
    src = sources['student'].pos_embed.detach()  # (1, 1 + 4*4, 32)
    vit = tiny_vit(img_size=(48, 64), freeze_pos_embed=False)  # grid (6, 8)
    report = load_backbone_checkpoint(vit, dbot_ckpt, prefix='backbone.')
    assert report.resized == ['pos_embed']
    assert vit.pos_embed.shape == (1, 1 + 6 * 8, 32)
    grid = src[:, 1:].reshape(1, 4, 4, 32).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(6, 8), mode='bicubic', align_corners=False)
    expected = expected.permute(0, 2, 3, 1).reshape(1, 48, 32)
    assert torch.equal(vit.pos_embed[:, :1], src[:, :1])
    torch.testing.assert_close(vit.pos_embed[:, 1:].detach(), expected, atol=1e-5, rtol=1e-5)
    # everything else loaded as is
    assert torch.equal(vit.blocks[1].mlp.fc1.weight, sources['student'].blocks[1].mlp.fc1.weight)
    vit(torch.randn(1, 3, 48, 64))


def test_official_model_format_and_plain_state_dict(tmp_path, sources):
    official = clone_state(sources['student'])
    official['mask_token'] = torch.zeros(1, 1, 16)
    official['decoder_embed.weight'] = torch.zeros(16, 32)
    official_path = str(tmp_path / 'dbot_base_pre.pth')
    torch.save(dict(model=official), official_path)
    vit = tiny_vit()
    report = load_backbone_checkpoint(vit, official_path)
    assert_state_equal(vit, sources['student'].state_dict())
    assert sorted(report.unexpected) == ['decoder_embed.weight', 'mask_token']

    plain_path = str(tmp_path / 'plain.pth')
    torch.save({
        'module.' + k: v
        for k, v in clone_state(sources['teacher']).items()
    }, plain_path)  # a DDP-saved state dict
    vit = tiny_vit()
    report = load_backbone_checkpoint(vit, plain_path, prefix='')
    assert_state_equal(vit, sources['teacher'].state_dict())
    assert report.missing == [] and report.unexpected == []


def test_missing_norm_is_a_warning_not_an_error(tmp_path, sources):
    state = clone_state(sources['student'])
    del state['norm.weight'], state['norm.bias']
    path = str(tmp_path / 'no_norm.pth')
    torch.save(state, path)
    vit = tiny_vit()
    report = load_backbone_checkpoint(vit, path)
    assert sorted(report.missing) == ['norm.bias', 'norm.weight']


# --------------------------------------------------------------------------------- errors
def test_detector_checkpoint_without_vit_keys(tmp_path):
    path = str(tmp_path / 'mask_rcnn_r50.pth')
    torch.save(
        dict(
            meta=dict(epoch=12),
            state_dict={
                'backbone.conv1.weight': torch.zeros(64, 3, 7, 7),
                'backbone.layer1.0.conv1.weight': torch.zeros(64, 64, 1, 1),
                'neck.lateral_convs.0.conv.weight': torch.zeros(256, 256, 1, 1),
                'rpn_head.rpn_conv.weight': torch.zeros(256, 256, 3, 3),
                'roi_head.bbox_head.fc_cls.weight': torch.zeros(81, 1024),
            }), path)
    vit = tiny_vit()
    before = clone_state(vit)
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(vit, path, prefix='backbone.')
    assert_one_line(err, path, "'backbone.'", "'neck.'", "'rpn_head.'", "'roi_head.'")
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(vit, path, prefix='teacher.')
    assert_one_line(err, path, "'teacher.'", "'roi_head.'")
    assert_state_equal(vit, before)


def test_wrong_prefix_on_dbot_checkpoint(dbot_ckpt):
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(tiny_vit(), dbot_ckpt, prefix='')
    assert_one_line(err, dbot_ckpt, "'backbone.'", "'neck.'", "'teacher.'")


def test_missing_file(tmp_path):
    path = str(tmp_path / 'nowhere' / 'epoch_800.pth')
    with pytest.raises(FileNotFoundError) as err:
        load_backbone_checkpoint(tiny_vit(), path, prefix='backbone.')
    assert_one_line(err, path)


def test_shape_mismatch(tmp_path):
    path = str(tmp_path / 'mlp2.pth')
    torch.save(dict(state_dict=prefixed(randomized(tiny_vit(mlp_ratio=2.), 3), 'backbone.')), path)
    vit = tiny_vit()
    before = clone_state(vit)
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(vit, path, prefix='backbone.')
    assert_one_line(err, path, 'blocks.0.mlp.fc1.weight', '(64, 32)', '(128, 32)')
    assert_state_equal(vit, before)  # nothing loaded


def test_width_mismatch_includes_pos_embed(tmp_path):
    path = str(tmp_path / 'wide.pth')
    torch.save(prefixed(tiny_vit(embed_dims=48), 'backbone.'), path)
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(tiny_vit(), path, prefix='backbone.')
    assert_one_line(err, path, 'cls_token (1, 1, 48) in file vs (1, 1, 32) in model')


def test_shallower_checkpoint_into_deeper_model(tmp_path, sources):
    path = str(tmp_path / 'depth2.pth')
    torch.save(dict(state_dict=prefixed(sources['student'], 'backbone.')), path)
    vit = tiny_vit(depth=4)
    before = clone_state(vit)
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(vit, path, prefix='backbone.')
    message = assert_one_line(err, path, 'blocks.2.', 'encoder weights')
    assert 'blocks.0.' not in message
    assert_state_equal(vit, before)


@pytest.fixture(scope='module')
def beit_style_ckpt(tmp_path_factory):
    """A CLIP-distilled student's file: layer scale and a relative position bias per block."""
    path = str(tmp_path_factory.mktemp('beit') / 'clip_student.pth')
    vit = randomized(tiny_vit(layer_scale_init_value=0.1, use_rel_pos_bias=True), 4)
    torch.save(dict(state_dict=prefixed(vit, 'backbone.')), path)
    return path, vit


def test_dropping_trained_weights_is_an_error_unless_opted_in(beit_style_ckpt):
    """A config without layer scale / relative position bias would drop trained parameters of
    the file: one line naming them and the options, nothing loaded; drop_trained opts in."""
    path, source = beit_style_ckpt
    vit = tiny_vit()
    before = clone_state(vit)
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(vit, path, prefix='backbone.')
    assert_one_line(err, path, 'blocks.0.ls1.gamma', 'relative_position_bias_table',
                    'layer_scale_init_value > 0', 'use_rel_pos_bias=True', 'drop_trained=True')
    assert_state_equal(vit, before)
    # only the named parts may go
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(vit, path, prefix='backbone.', drop_trained=['rel_pos_bias'])
    message = assert_one_line(err, path, 'blocks.0.ls1.gamma')
    assert 'relative_position_bias_table' not in message
    report = load_backbone_checkpoint(vit, path, prefix='backbone.', drop_trained=['.ls', 'rel_'])
    assert len(report.unexpected) == 2 * 2 + 2 and report.missing == []
    # through the config: init_cfg drop_trained=True
    vit = tiny_vit(
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.', drop_trained=True))
    vit.init_weights()
    state = source.state_dict()
    assert_state_equal(vit, {k: v for k, v in state.items() if k in vit.state_dict()})
    # a backbone with them loads every tensor
    vit = tiny_vit(layer_scale_init_value=1.0, use_rel_pos_bias=True)
    report = load_backbone_checkpoint(vit, path, prefix='backbone.')
    assert report.missing == [] and report.unexpected == []
    assert_state_equal(vit, state)


def test_pos_embed_and_deeper_blocks_are_trained_weights(tmp_path, beit_style_ckpt):
    path, _ = beit_style_ckpt
    kwargs = dict(layer_scale_init_value=0.1, use_rel_pos_bias=True)
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(tiny_vit(use_abs_pos_emb=False, **kwargs), path, 'backbone.')
    assert_one_line(err, 'no place for: pos_embed', 'use_abs_pos_emb=True')
    vit = tiny_vit(use_abs_pos_emb=False, **kwargs)
    assert load_backbone_checkpoint(vit, path, 'backbone.', drop_trained=True).unexpected == \
        ['pos_embed']
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(tiny_vit(depth=1, **kwargs), path, 'backbone.')
    assert_one_line(err, 'blocks.1.', 'depth=2')


def test_relative_position_bias_resized_as_beit(tmp_path):
    """Another grid: each table resampled at BEiT's geometric positions by an interpolating cubic
    spline (run_finetune.py): values at the shared offsets 0 and +-1 and the 3 CLS entries kept,
    and a table linear in those positions is that linear function on the new offsets."""
    from dbot_mm.models.utils.pretrained import _beit_positions
    src = tiny_vit(img_size=48, use_rel_pos_bias=True)  # 6 x 6 grid: 11 x 11 offsets + 3
    gen = torch.Generator().manual_seed(5)
    pos = torch.as_tensor(_beit_positions(11, 15), dtype=torch.float32)  # to the 8 x 8 grid
    assert pos[5] == 0 and pos[6] == 1 and pos[-1] == pytest.approx(7, abs=1e-4)
    linear = 0.3 * pos[:, None] - 0.7 * pos[None, :] + 0.1  # (dy, dx) -> value
    with torch.no_grad():
        src.blocks[0].rel_pos_bias.relative_position_bias_table.copy_(
            torch.cat([linear.reshape(121, 1).expand(121, 2),
                       torch.randn(3, 2, generator=gen)]))
        src.blocks[1].rel_pos_bias.relative_position_bias_table.normal_(generator=gen)
    path = str(tmp_path / 'rel.pth')
    torch.save(src.state_dict(), path)
    big = tiny_vit(img_size=64, use_rel_pos_bias=True)
    report = load_backbone_checkpoint(big, path)
    tables = [f'blocks.{i}.rel_pos_bias.relative_position_bias_table' for i in range(2)]
    assert report.resized == ['pos_embed'] + tables
    old = [src.state_dict()[k] for k in tables]
    new = [big.state_dict()[k] for k in tables]
    assert new[0].shape == (15 * 15 + 3, 2)
    d = torch.arange(-7., 8.)
    expected = 0.3 * d[:, None] - 0.7 * d[None, :] + 0.1
    torch.testing.assert_close(
        new[0][:-3], expected.reshape(-1, 1).expand(-1, 2), atol=1e-4, rtol=0)
    grid_old, grid_new = old[1][:-3].reshape(11, 11, 2), new[1][:-3].reshape(15, 15, 2)
    torch.testing.assert_close(grid_new[6:9, 6:9], grid_old[4:7, 4:7], atol=1e-5, rtol=0)
    for o, n in zip(old, new):
        assert torch.equal(n[-3:], o[-3:])
    big(torch.randn(1, 3, 64, 64))


def test_not_a_state_dict(tmp_path):
    path = str(tmp_path / 'tensor.pth')
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointLoadError) as err:
        load_backbone_checkpoint(tiny_vit(), path)
    assert_one_line(err, path)


# ------------------------------------------------------------------- unreadable files
def saved_bytes(obj, zipfile=True):
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=zipfile)
    return buffer.getvalue()


@pytest.mark.parametrize(
    'content,needle', [
        (b'', 'the file is empty (0 bytes)'),
        (b'\n<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>', 'HTML page'),
        (b'<html><body>404</body></html>', 'HTML page'),
        ('zip', 'truncated or not a torch checkpoint'),
        ('legacy', 'truncated or not a torch checkpoint'),
        (b'PK\x03\x04 not really a zip', 'truncated or not a torch checkpoint'),
    ],
    ids=['empty', 'html', 'html-404', 'truncated-zip', 'truncated-legacy', 'bad-zip'])
def test_unreadable_file_is_one_line(tmp_path, sources, content, needle):
    if isinstance(content, str):
        data = saved_bytes(dict(model=clone_state(sources['student'])), content == 'zip')
        content = data[:len(data) // 2]
    path = str(tmp_path / 'epoch_1600.pth')
    with open(path, 'wb') as f:
        f.write(content)
    with pytest.raises(CheckpointReadError) as err:
        load_backbone_checkpoint(tiny_vit(), path, prefix='backbone.')
    assert_one_line(err, path, needle)


# ------------------------------------------------------------------------------- init_cfg
@pytest.mark.parametrize(
    'init_cfg,needles', [
        ([dict(type='Pretrained', checkpoint='a.pth'),
          dict(type='Constant', val=0)], ['DBotViT', 'is a list', "'Pretrained'", "'Constant'"]),
        (dict(type='Pretrained', prefix='backbone.'), ['DBotViT', 'needs checkpoint', 'prefix']),
        (dict(type='Pretrained', checkpoint=''), ['needs checkpoint']),
        (dict(type='Pretrained', checkpoint='a.pth', prefx='backbone.'), ["['prefx']"]),
        (dict(type='Pretrained', checkpoint='a.pth', prefix=1), ['prefix must be a string']),
        (dict(type='Pretrained', checkpoint='a.pth', drop_trained='1'), ['drop_trained', "'1'"]),
        ('a.pth', ['must be a dict', "'a.pth'"]),
    ],
    ids=['list', 'no-checkpoint', 'empty-checkpoint', 'typo', 'prefix-int', 'drop-str', 'str'])
def test_bad_pretrained_init_cfg_is_one_line(init_cfg, needles):
    with pytest.raises(CheckpointLoadError) as err:
        pretrained_from_init_cfg(init_cfg, 'DBotViT')
    assert_one_line(err, *needles)


def test_pretrained_init_cfg_parsed():
    assert pretrained_from_init_cfg(None) is None
    assert pretrained_from_init_cfg(dict(type='Normal', layer='Linear')) is None
    assert pretrained_from_init_cfg([dict(type='Constant', val=1, layer='LayerNorm')]) is None
    assert pretrained_from_init_cfg(dict(type='Pretrained', checkpoint='x.pth')) == \
        PretrainedCfg('x.pth', '', 'cpu')
    assert pretrained_from_init_cfg(dict(type='Pretrained', checkpoint='x.pth', prefix='teacher.',
                                         map_location='meta')) == \
        PretrainedCfg('x.pth', 'teacher.', 'meta')


# ----------------------------------------------------------------------------------- URLs
class FakeServer:
    """``torch.hub.download_url_to_file`` serving bytes per URL, counting downloads."""

    def __init__(self, monkeypatch, hub_dir):
        self.files, self.calls = {}, []
        monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(hub_dir))
        monkeypatch.setattr(torch.hub, 'download_url_to_file', self.download)

    def download(self, url, dst, hash_prefix=None, progress=True):
        self.calls.append(url)
        if url not in self.files:
            raise urllib.error.HTTPError(url, 404, 'Not Found', None, None)
        with open(dst, 'wb') as f:
            f.write(self.files[url])


def test_url_is_cached_by_full_url(tmp_path, monkeypatch, sources):
    """http(s) checkpoints download once, into a cache entry of their own URL."""
    server = FakeServer(monkeypatch, tmp_path / 'hub')
    url = 'https://example.org/ckpts/dbot_teacher.pth?download=1'
    other = 'https://mirror.example.com/run2/dbot_teacher.pth'  # same file name
    server.files[url] = saved_bytes(dict(model=clone_state(sources['teacher'])))
    server.files[other] = saved_bytes(dict(model=clone_state(sources['student'])))
    for _ in range(2):
        vit = tiny_vit()
        load_backbone_checkpoint(vit, url)
        assert_state_equal(vit, sources['teacher'].state_dict())
    vit = tiny_vit()
    load_backbone_checkpoint(vit, other)
    assert_state_equal(vit, sources['student'].state_dict())
    assert server.calls == [url, other]
    assert url_cache_path(url) != url_cache_path(other)
    assert osp.basename(url_cache_path(url)) == 'dbot_teacher.pth'
    assert osp.isfile(url_cache_path(url)) and osp.isfile(url_cache_path(other))
    assert url_cache_path(url).startswith(str(tmp_path / 'hub' / 'checkpoints' / 'dbot_mm'))


def test_bad_download_is_not_cached(tmp_path, monkeypatch, sources):
    server = FakeServer(monkeypatch, tmp_path / 'hub')
    url = 'https://example.org/dbot_base_pre.pth'
    server.files[url] = b'<!doctype html><html><title>Virus scan warning</title></html>'
    with pytest.raises(CheckpointReadError) as err:
        load_backbone_checkpoint(tiny_vit(), url)
    assert_one_line(err, url, 'HTML page', 'nothing was cached')
    assert not osp.exists(url_cache_path(url))
    server.files[url] = saved_bytes(dict(model=clone_state(sources['teacher'])))
    vit = tiny_vit()
    load_backbone_checkpoint(vit, url)  # downloaded again, now the real file
    assert_state_equal(vit, sources['teacher'].state_dict())
    assert server.calls == [url, url]


def test_damaged_cache_entry_is_removed(tmp_path, monkeypatch, sources):
    server = FakeServer(monkeypatch, tmp_path / 'hub')
    url = 'https://example.org/dbot_base_pre.pth'
    server.files[url] = saved_bytes(dict(model=clone_state(sources['teacher'])))
    load_backbone_checkpoint(tiny_vit(), url)
    with open(url_cache_path(url), 'r+b') as f:  # the cached copy gets cut short
        f.truncate(100)
    with pytest.raises(CheckpointReadError) as err:
        load_backbone_checkpoint(tiny_vit(), url)
    assert_one_line(err, url, 'truncated', 'removed it from the cache')
    assert not osp.exists(url_cache_path(url))
    vit = tiny_vit()
    load_backbone_checkpoint(vit, url)
    assert_state_equal(vit, sources['teacher'].state_dict())
    assert server.calls == [url, url]


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    FakeServer(monkeypatch, tmp_path / 'hub')
    url = 'https://example.org/missing.pth'
    with pytest.raises(CheckpointReadError) as err:
        load_backbone_checkpoint(tiny_vit(), url)
    assert_one_line(err, url, 'could not download', '404')
