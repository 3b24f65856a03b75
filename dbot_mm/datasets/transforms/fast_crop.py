"""``LoadImageFromFile`` + ``RandomResizedCrop`` in one transform, for the pretraining pipeline.

The shipped pipeline (configs/_base_/datasets/imagenet_dbot_pretrain.py, as the official
main_pretrain.py: ``RandomResizedCrop(224, scale=(0.2, 1.0), interpolation=3)``) decodes the
whole JPEG with OpenCV, crops, and resizes with Pillow's bicubic filter, which is most of its time
(tools/analysis_tools/benchmark_pipeline.py, docs/performance.md). Here the crop box is sampled
from the file header's size with mmpretrain's own sampler (same random calls, so the same box),
libjpeg-turbo (simplejpeg's build: OpenCV's pixels, about 10 % faster) decodes at 1/2, 1/4 or 1/8
scale when the crop is still at least the output size there (``PIL.Image.draft``'s rule), and at
full scale torch's antialiased uint8 resize (Pillow's filter, within rounding, at a fifth of its
time) replaces Pillow's.
"""
import io
from types import SimpleNamespace
from typing import Optional

import cv2
import mmengine.fileio as fileio
import numpy as np
import simplejpeg
import torch
import torch.nn.functional as F
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS
from PIL import Image

_PIL_FILTERS = dict(bilinear=Image.BILINEAR, bicubic=Image.BICUBIC)
# EXIF orientations that swap height and width (90/270 degree rotations, transpositions)
_TRANSPOSED = {5, 6, 7, 8}


def _exif_orientation(app1: bytes) -> int:
    """Orientation tag (0x0112) of IFD0 in an APP1 ``Exif`` payload; 1 when absent."""
    tiff = app1[6:]
    order = 'little' if tiff[:2] == b'II' else 'big'
    ifd = int.from_bytes(tiff[4:8], order)
    for e in range(ifd + 2, ifd + 2 + 12 * int.from_bytes(tiff[ifd:ifd + 2], order), 12):
        if int.from_bytes(tiff[e:e + 2], order) == 0x0112:
            return int.from_bytes(tiff[e + 8:e + 10], order)
    return 1


def jpeg_header(data: bytes):
    """(height, width, EXIF orientation) of a JPEG as stored, from its markers up to the frame
    header; None if ``data`` is not a baseline or progressive JPEG this reads. A few microseconds
    where PIL's ``Image.open`` takes ~0.1 ms."""
    if data[:2] != b'\xff\xd8':
        return None
    i, orientation = 2, 1
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2:i + 4], 'big')
        if marker == 0xE1 and data[i + 4:i + 10] == b'Exif\0\0':
            orientation = _exif_orientation(data[i + 4:i + 2 + length])
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            h = int.from_bytes(data[i + 5:i + 7], 'big')
            w = int.from_bytes(data[i + 7:i + 9], 'big')
            return h, w, orientation if 1 <= orientation <= 8 else 1
        i += 2 + length
    return None


def jpeg_header_size(data: bytes):
    """(height, width) of a JPEG as ``cv2.imdecode(IMREAD_COLOR)`` returns it (EXIF orientation
    applied); None where ``jpeg_header`` is."""
    header = jpeg_header(data)
    if header is None:
        return None
    h, w, orientation = header
    return (w, h) if orientation in _TRANSPOSED else (h, w)


def header_size(img_bytes: bytes):
    """(height, width, format) as ``cv2.imdecode(IMREAD_COLOR)`` will return it, from the header
    alone: ``jpeg_header_size``, else PIL's (any format)."""
    hw = jpeg_header_size(img_bytes)
    if hw is not None:
        return hw[0], hw[1], 'JPEG'
    with Image.open(io.BytesIO(img_bytes)) as im:
        w, h = im.size
        fmt = im.format
        if fmt == 'JPEG' and im.getexif().get(0x0112, 1) in _TRANSPOSED:
            w, h = h, w
    return h, w, fmt


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """The stored image turned upright by its EXIF orientation (2-8), as OpenCV's ``imdecode``
    does: a numpy view, the crop copies only its box."""
    if orientation in (5, 6, 7, 8):
        img = img.transpose(1, 0, 2)
        # after the transposition: 5 is done, 6 mirrors columns, 7 both axes, 8 rows
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    if orientation == 2:
        return img[:, ::-1]
    if orientation == 3:
        return img[::-1, ::-1]
    if orientation == 4:
        return img[::-1]
    return img


def decode_jpeg(data: bytes, k: int = 1, fast_dct: bool = False) -> np.ndarray:
    """BGR decode at libjpeg DCT scale 1/k, upright (EXIF), as ``cv2.imdecode`` with
    ``IMREAD_COLOR`` / ``IMREAD_REDUCED_COLOR_k`` (equal pixels, tested), by simplejpeg: its
    libjpeg-turbo decodes about 10 % faster than OpenCV's and offers libjpeg's fast integer DCT and
    chroma upsampling (``fast_dct``). ``data`` must pass ``jpeg_header``."""
    h, w, orientation = jpeg_header(data)
    img = simplejpeg.decode_jpeg(
        data,
        'BGR',
        fastdct=fast_dct,
        fastupsample=fast_dct,
        min_height=-(-h // k),
        min_width=-(-w // k),
        min_factor=k)
    return orient(img, orientation)


def dct_scale(crop_hw, out_hw, fmt: str) -> int:
    """Largest libjpeg reduction k in (1, 2, 4, 8) with the crop still >= the output size at 1/k
    (no upsampling from a reduced decode); 1 for other formats."""
    if fmt != 'JPEG':
        return 1
    k = min(crop_hw[0] // out_hw[0], crop_hw[1] // out_hw[1])
    return next((s for s in (8, 4, 2) if k >= s), 1)


@TRANSFORMS.register_module()
class LoadImageAndRandomResizedCrop(RandomResizedCrop):
    """``LoadImageFromFile`` + ``RandomResizedCrop(backend='pillow')`` (+ ``RandomFlip`` with
    ``flip_prob``) with the same output: an HWC uint8 BGR array of ``scale``, the same crop box for
    the same numpy random state (mmpretrain's ``rand_crop_params``, fed the header's size).

    Differences from the two-step path, measured by tests/test_datasets/test_fast_transforms.py:
    the resize is torch's antialiased uint8 bilinear/bicubic (Pillow's filters, values within a few
    levels); a crop >= 2x the output on both sides is decoded at a reduced DCT scale (the DCT does
    part of the downscaling) and resized by Pillow from the box scaled to it. ``ori_shape`` is the
    full image's size.

    Args:
        scale, crop_ratio_range, aspect_ratio_range, max_attempts: as ``RandomResizedCrop``.
        interpolation (str): 'bicubic' or 'bilinear' (Pillow's antialiased filters).
        backend_args (dict, optional): as ``LoadImageFromFile`` (mmengine's file backends).
        reduced_decode (bool): let libjpeg decode at 1/2, 1/4 or 1/8 scale when the crop there is
            still at least the output size (never upscaled from a reduced decode).
        flip_prob (float): probability of a horizontal flip after the crop, as mmcv's
            ``RandomFlip(prob=flip_prob)`` (one ``np.random.rand()`` after the crop's draws, where
            ``RandomFlip`` draws ``np.random.choice``: the same distribution, not the same flips
            for a seed), without its own pass over the image.
        fast_dct (bool): libjpeg's fast integer IDCT and nearest chroma upsampling (JDCT_IFAST,
            no fancy upsampling: less exact pixels, a faster decode; docs/performance.md).
    """

    def __init__(self,
                 scale,
                 crop_ratio_range=(0.08, 1.0),
                 aspect_ratio_range=(3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bilinear',
                 backend_args: Optional[dict] = None,
                 reduced_decode: bool = True,
                 flip_prob: float = 0.,
                 fast_dct: bool = False) -> None:
        if interpolation not in ('bilinear', 'bicubic'):
            raise ValueError(f'interpolation must be bilinear or bicubic, not {interpolation!r}')
        super().__init__(
            scale,
            crop_ratio_range=crop_ratio_range,
            aspect_ratio_range=aspect_ratio_range,
            max_attempts=max_attempts,
            interpolation=interpolation,
            backend='pillow')
        if not 0 <= flip_prob <= 1:
            raise ValueError(f'flip_prob must be in [0, 1], not {flip_prob}')
        self.backend_args = backend_args
        self.reduced_decode = reduced_decode
        self.flip_prob = flip_prob
        self.fast_dct = fast_dct
        self._backends = {}

    def transform(self, results: dict) -> dict:
        path = str(results['img_path'])
        # mmengine's fileio.get looks the backend up per call (a tenth of a millisecond): once per
        # URI prefix here, as mmengine would pick it
        prefix = path.split('://')[0] if '://' in path else ''
        if prefix not in self._backends:
            self._backends[prefix] = fileio.get_file_backend(path, backend_args=self.backend_args)
        img_bytes = self._backends[prefix].get(path)
        h, w, fmt = header_size(img_bytes)
        # the sampler reads only img.shape[:2]
        y, x, ch, cw = self.rand_crop_params(SimpleNamespace(shape=(h, w)))
        k = dct_scale((ch, cw), self.scale, fmt) if self.reduced_decode else 1
        if fmt == 'JPEG':
            try:
                img = decode_jpeg(img_bytes, k, self.fast_dct)
            except ValueError as e:  # simplejpeg's error on a corrupt file
                raise ValueError(f'failed to load image {path}: {e}') from None
        else:
            img = cv2.imdecode(np.frombuffer(img_bytes, np.uint8), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f'failed to load image {path}')
        dh, dw = img.shape[:2]
        if (-(-h // k), -(-w // k)) != (dh, dw):
            raise ValueError(f'{path}: decoded {dw}x{dh} at 1/{k}, header says '
                             f'{w}x{h}')
        if k > 1:
            # the box in the 1/k image (libjpeg's pixel i covers source pixels [ik, (i+1)k)) is
            # fractional: Pillow resizes from a float box, as it would the full-size crop
            box = (x / k, y / k, min((x + cw) / k, dw), min((y + ch) / k, dh))
            img = np.array(
                Image.fromarray(img).resize(
                    self.scale[::-1], _PIL_FILTERS[self.interpolation], box=box))
        else:
            # NHWC in memory (channels_last), the layout of torch's fast uint8 kernel; the box is
            # a view (an EXIF-mirrored image has negative strides, which torch refuses: copied)
            img = torch.from_numpy(img if min(img.strides) > 0 else np.ascontiguousarray(img))
            crop = img[y:y + ch, x:x + cw]
            out = F.interpolate(
                crop.permute(2, 0, 1)[None],
                size=self.scale,
                mode=self.interpolation,
                antialias=True)
            img = out.numpy()[0].transpose(1, 2, 0)
        if self.flip_prob > 0:
            flip = bool(np.random.rand() < self.flip_prob)
            if flip:
                img = img[:, ::-1]  # a view: PackInputs makes it contiguous, a copy it makes anyway
            results['flip'] = flip
            results['flip_direction'] = 'horizontal' if flip else None
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = (h, w)
        return results

    def __repr__(self):
        return (super().__repr__()[:-1] + f', backend_args={self.backend_args}, '
                f'reduced_decode={self.reduced_decode}, flip_prob={self.flip_prob}, '
                f'fast_dct={self.fast_dct})')
