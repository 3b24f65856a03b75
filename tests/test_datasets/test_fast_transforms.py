"""``LoadImageAndRandomResizedCrop`` against the shipped ``LoadImageFromFile`` +
``RandomResizedCrop(backend='pillow')`` path: same crop boxes for the same numpy seed, output
within rounding of Pillow's (PSNR) on real JPEGs, header sizes as OpenCV decodes, configs and a
tiny training run."""
import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import Compose
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from PIL import Image

import dbot_mm.datasets  # noqa: F401
from dbot_mm.datasets.transforms import fast_crop
from dbot_mm.datasets.transforms.fast_crop import LoadImageAndRandomResizedCrop
from tests.helpers.tools import import_tool

header_size, jpeg_header_size = fast_crop.header_size, fast_crop.jpeg_header_size

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / 'configs/_base_/datasets/imagenet_dbot_pretrain.py'
FAST = REPO / 'configs/_base_/datasets/imagenet_dbot_pretrain_fast.py'
RRC = dict(scale=224, crop_ratio_range=(0.2, 1.0), interpolation='bicubic')


def _tool():
    path = REPO / 'tools/analysis_tools/benchmark_pipeline.py'
    return import_tool(path)


@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    """Real JPEGs of ImageNet size (500x375 / 375x500 windows of a photo, q75-95)."""
    return _tool().write_photo_jpegs(tmp_path_factory.mktemp('photos'), 8)


def _shipped(**rrc):
    return Compose([
        TRANSFORMS.build(dict(type='LoadImageFromFile')),
        TRANSFORMS.build(dict(type='RandomResizedCrop', backend='pillow', **rrc))
    ])


def _run(transform, path, seed):
    np.random.seed(seed)
    return transform(dict(img_path=str(path)))


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64))**2)
    return float('inf') if mse == 0 else 10 * np.log10(255.**2 / mse)


def _save(arr, path, **kwargs):
    Image.fromarray(arr).save(path, **kwargs)
    return path


def test_same_boxes_as_reference_sampler(tmp_path):
    """For every seed the transform crops mmpretrain's box: its output equals the reference box of
    the full decode resized by torch's antialiased uint8 bicubic (on noise a box one pixel off
    differs everywhere), and it leaves numpy's generator where the reference sampler does (the
    same draws). Sizes include extreme aspect ratios (the sampler's central-crop fallback) and
    images smaller than the output."""
    rng = np.random.default_rng(0)
    ref = RandomResizedCrop(**RRC)
    ours = LoadImageAndRandomResizedCrop(**RRC)
    for w, h in [(500, 375), (375, 500), (640, 120), (90, 400), (150, 100)]:
        path = _save((rng.random((h, w, 3)) * 255).astype(np.uint8), tmp_path / f'{w}x{h}.jpg')
        full = cv2.imread(str(path), cv2.IMREAD_COLOR)
        for seed in range(20):
            np.random.seed(seed)
            y, x, ch, cw = ref.rand_crop_params(full)
            after_ref = np.random.rand()
            crop = torch.from_numpy(full[y:y + ch, x:x + cw].copy()).permute(2, 0, 1)[None]
            want = F.interpolate(crop, size=(224, 224), mode='bicubic', antialias=True)
            want = want[0].permute(1, 2, 0).numpy()
            out = _run(ours, path, seed)
            assert np.random.rand() == after_ref
            assert out['img'].shape == (224, 224, 3) and out['img'].dtype == np.uint8
            assert out['ori_shape'] == (h, w) and out['img_shape'] == (224, 224)
            np.testing.assert_array_equal(out['img'], want, err_msg=str((w, h, seed)))


def test_output_matches_full_decode_path_on_real_jpegs(photos):
    """PSNR against the shipped two-step path (cv2 decode, crop, Pillow bicubic) on real
    photo JPEGs, same seeds; BGR like the shipped path (a swapped channel order fails it)."""
    shipped, ours = _shipped(**RRC), LoadImageAndRandomResizedCrop(**RRC)
    values = []
    for i, path in enumerate(photos):
        for seed in range(i * 4, i * 4 + 4):
            want = _run(shipped, path, seed)['img']
            got = _run(ours, path, seed)['img']
            assert got.shape == want.shape
            values.append(psnr(got, want))
            assert psnr(got[..., ::-1], want) < values[-1]
    print(f'PSNR vs the shipped path: min {min(values):.1f} dB, mean {np.mean(values):.1f} dB')
    assert min(values) >= 30


def test_fast_dct_psnr_on_real_jpegs(photos):
    """``fast_dct`` (libjpeg's fast IDCT and chroma upsampling) stays within the issue's bound of
    the shipped path, and is not the exact decode (the option does something)."""
    shipped = _shipped(**RRC)
    fast, exact = (LoadImageAndRandomResizedCrop(**RRC, fast_dct=f) for f in (True, False))
    values = []
    for i, path in enumerate(photos):
        for seed in range(i * 4, i * 4 + 4):
            want = _run(shipped, path, seed)['img']
            got = _run(fast, path, seed)['img']
            values.append(psnr(got, want))
            assert values[-1] < psnr(_run(exact, path, seed)['img'], want)
    print(f'PSNR with fast_dct: min {min(values):.1f} dB, mean {np.mean(values):.1f} dB')
    assert min(values) >= 30


def _exif_jpeg(arr, orientation, kind='baseline'):
    im = Image.fromarray(arr).convert('L') if kind == 'grey' else Image.fromarray(arr)
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, 'JPEG', exif=exif.tobytes(), progressive=kind == 'progressive', quality=90)
    return buf.getvalue()


@pytest.mark.parametrize('kind', ['baseline', 'progressive', 'grey'])
def test_decode_jpeg_equals_opencv(kind):
    """simplejpeg's decode turned upright by ``orient`` gives OpenCV's pixels (what
    ``LoadImageFromFile`` loads) for all 8 EXIF orientations, at full and reduced DCT scale."""
    arr = (np.random.default_rng(0).random((75, 130, 3)) * 255).astype(np.uint8)
    flags = {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8
    }
    for orientation in range(1, 9):
        data = _exif_jpeg(arr, orientation, kind)
        for k, flag in flags.items():
            want = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
            got = fast_crop.decode_jpeg(data, k)
            assert got.shape == want.shape, (orientation, k)
            np.testing.assert_array_equal(got, want, err_msg=str((orientation, k)))


def test_corrupt_jpeg_names_the_file(tmp_path):
    path = tmp_path / 'broken.jpg'
    data = _exif_jpeg(np.zeros((40, 60, 3), np.uint8), 1)
    path.write_bytes(data[:len(data) // 3])  # header intact, scan cut off
    with pytest.raises(ValueError, match='broken.jpg'):
        _run(LoadImageAndRandomResizedCrop(scale=32), path, 0)


def test_reduced_dct_decode_on_large_jpegs(tmp_path, monkeypatch):
    """A crop at least twice the output on both sides decodes at 1/2 or 1/4 scale (libjpeg's DCT
    scaling) and still matches the full-decode path: PSNR >= 30 dB."""
    src = _tool().photo().convert('RGB')  # 512x600, upscaled to give large crops
    paths = [
        _save(np.asarray(src.resize(size, Image.BICUBIC)), tmp_path / f'{k}.jpg', quality=90)
        for k, size in enumerate([(1024, 1200), (1400, 1050)])
    ]
    scales = []
    real_dct_scale = fast_crop.dct_scale
    monkeypatch.setattr(fast_crop, 'dct_scale',
                        lambda *a: scales.append(real_dct_scale(*a)) or scales[-1])
    shipped, ours = _shipped(**RRC), LoadImageAndRandomResizedCrop(**RRC)
    plain = LoadImageAndRandomResizedCrop(**RRC, reduced_decode=False)
    values = []
    for path in paths:
        for seed in range(8):
            want = _run(shipped, path, seed)['img']
            values.append(psnr(_run(ours, path, seed)['img'], want))
            assert psnr(_run(plain, path, seed)['img'], want) > 45  # no reduction: rounding only
    assert {2, 4} <= set(scales), scales
    print(f'PSNR with reduced decode: min {min(values):.1f} dB, mean {np.mean(values):.1f} dB')
    assert min(values) >= 30


def test_dct_scale():
    out = (224, 224)
    assert fast_crop.dct_scale((447, 1000), out, 'JPEG') == 1
    assert fast_crop.dct_scale((448, 1000), out, 'JPEG') == 2
    assert fast_crop.dct_scale((900, 1000), out, 'JPEG') == 4
    assert fast_crop.dct_scale((2000, 1800), out, 'JPEG') == 8
    assert fast_crop.dct_scale((100, 100), out, 'JPEG') == 1
    assert fast_crop.dct_scale((2000, 2000), out, 'PNG') == 1


@pytest.mark.parametrize('orientation', [1, 3, 6, 8])
@pytest.mark.parametrize('kind', ['baseline', 'progressive', 'grey'])
def test_header_size_is_what_opencv_decodes(orientation, kind):
    rng = np.random.default_rng(orientation)
    data = _exif_jpeg((rng.random((30, 52, 3)) * 255).astype(np.uint8), orientation, kind)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert jpeg_header_size(data) == decoded.shape[:2]
    assert header_size(data) == (*decoded.shape[:2], 'JPEG')


def test_non_jpeg_falls_back_to_pil(tmp_path):
    path = _save(np.zeros((40, 70, 3), np.uint8), tmp_path / 'a.png')
    data = path.read_bytes()
    assert jpeg_header_size(data) is None
    assert header_size(data) == (40, 70, 'PNG')
    out = _run(LoadImageAndRandomResizedCrop(scale=32), path, 0)
    assert out['img'].shape == (32, 32, 3)


def test_flip(photos):
    plain = LoadImageAndRandomResizedCrop(**RRC)
    always = LoadImageAndRandomResizedCrop(**RRC, flip_prob=1.)
    out = _run(always, photos[0], 3)
    np.testing.assert_array_equal(out['img'], _run(plain, photos[0], 3)['img'][:, ::-1])
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    half = LoadImageAndRandomResizedCrop(scale=8, flip_prob=0.5)
    np.random.seed(0)
    flips = [half(dict(img_path=photos[1]))['flip'] for _ in range(200)]
    assert 70 < sum(flips) < 130
    with pytest.raises(ValueError):
        LoadImageAndRandomResizedCrop(scale=8, flip_prob=2)
    with pytest.raises(ValueError):
        LoadImageAndRandomResizedCrop(scale=8, interpolation='nearest')


def test_fast_config_pipeline(photos):
    """The fast config's pipeline, built from the registry after its ``custom_imports``, packs
    what the shipped one packs (shape, dtype, channel order)."""
    cfg = Config.fromfile(FAST)
    cfg.merge_from_dict(dict(custom_imports=dict(imports=['dbot_mm'])))
    shipped = Config.fromfile(SHIPPED)
    assert cfg.train_dataloader.dataset.dataset.pipeline == cfg.train_pipeline
    assert {k: v for k, v in cfg.train_dataloader.items() if k != 'dataset'} == \
        {k: v for k, v in shipped.train_dataloader.items() if k != 'dataset'}
    fast = Compose([TRANSFORMS.build(t) for t in cfg.train_pipeline])
    ref = Compose([TRANSFORMS.build(t) for t in shipped.train_pipeline])
    for seed, path in enumerate(photos[:4]):
        got = _run(fast, path, seed)
        want = _run(ref, path, seed)
        assert got['inputs'].shape == want['inputs'].shape == (3, 224, 224)
        assert got['inputs'].dtype == want['inputs'].dtype == torch.uint8
        # flips differ (other draws): compare both orientations, the better must be close
        a, b = got['inputs'].numpy(), want['inputs'].numpy()
        assert max(psnr(a, b), psnr(a[..., ::-1], b)) >= 30
        assert got['data_samples'].flip in (True, False)


def test_benchmark_tool(tmp_path, capsys):
    tool = _tool()
    results = tool.main([
        '--images', '2', '--rounds', '1', '--workers', '0', '--step-rate', '100', '--data-dir',
        str(tmp_path)
    ])
    assert [r['config'] for r in results] == tool.CONFIGS
    for r in results:
        assert r['single'] > 0 and r['cores_per_gpu'] == pytest.approx(100 / r['single'])
    assert 'cores per GPU' in capsys.readouterr().out
    sizes = sorted(Image.open(p).size for p in tmp_path.glob('*.jpg'))
    assert sizes == [(375, 500), (500, 375)]
    # the alternatives: the fast config with the exact decode, torchvision's decode (on the CPU)
    results = tool.main([
        '--configs', tool.CONFIGS[1], '--exact-decode', '--torchvision-decode', 'cpu', '--images',
        '3', '--rounds', '1', '--workers', '--batch', '2', '--step-rate', '100', '--data-dir',
        str(tmp_path)
    ])
    assert [r['config'] for r in results] == [
        tool.CONFIGS[1], f'{tool.CONFIGS[1]} (fast_dct=False)', 'torchvision decode_jpeg on cpu'
    ]
    assert results[2]['device_images_s'] > 0
    assert results[2]['device_share'] == pytest.approx(100 / results[2]['device_images_s'])
    assert tool.exact_decode_variant(tool.load_pipeline_cfg(tool.CONFIGS[0])) is None


def test_tiny_training_with_fast_pipeline(tmp_path, imagenet_root):
    """A few dBOT iterations with the fast config's pipeline (at the tiny model's 64 px) in the
    demo config."""
    from mmengine.runner import Runner

    from tests.helpers.tiny_pretrain import tiny_cfg
    cfg = tiny_cfg(tmp_path, imagenet_root, stage_epochs=[0, 1])
    pipeline = Config.fromfile(FAST).train_pipeline
    assert pipeline[0]['type'] == 'LoadImageAndRandomResizedCrop' and pipeline[0]['fast_dct']
    pipeline[0]['scale'] = 64
    cfg.train_dataloader.dataset.dataset.pipeline = pipeline
    cfg.train_cfg.max_epochs = 1
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter > 0
