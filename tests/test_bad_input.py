"""Bad input fails in one line that names the file / key / value (one table row per case).

A row: case name, how to trigger it (a function of pytest's ``request`` and ``tmp_path``, raising
the error), the exception type and a regex the whole one-line message must match. Add rows here.
"""
import contextlib
import io
import re
import shutil
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from dbot_mm.models.backbones.vit import DBotViT, RelativePositionBias
from dbot_mm.models.selfsup.dbot import DBOT
from dbot_mm.utils.data_root import DataRootError, check_data_root
from tests.helpers.tools import import_tool

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(arch='tiny', embed_dims=32, num_heads=2, img_size=32, patch_size=8)


class ToolError(Exception):
    """The last stderr line of a tool that exited through ``parser.error``."""


def run_tool(name: str, *argv) -> None:
    path = ROOT / 'tools' / f'{name}.py'
    tool = import_tool(path)
    stderr = io.StringIO()
    with mock.patch.object(sys, 'argv', [f'{name}.py', *map(str, argv)]), \
            contextlib.redirect_stderr(stderr), pytest.raises(SystemExit):
        tool.main()
    raise ToolError(stderr.getvalue().strip().splitlines()[-1])


def unknown_arch(request, tmp_path):
    DBotViT(arch='giant')


def vit_l_indices_on_vit_b(request, tmp_path):
    DBotViT(**TINY, depth=12, out_type='featmap', out_indices=(7, 11, 15, 23))


def duplicate_out_indices(request, tmp_path):
    DBotViT(**TINY, depth=12, out_type='featmap', out_indices=(3, 5, 5, 11))


def out_indices_naming_one_block_twice(request, tmp_path):
    DBotViT(**TINY, depth=12, out_type='featmap', out_indices=(-1, 11))


def teacher_with_another_patch_size(request, tmp_path):
    vit = dict(type='DBotViT', **TINY, depth=1)
    DBOT(
        backbone=vit,
        teacher=dict(vit, patch_size=4),
        neck=dict(type='DBotDecoder', decoder_embed_dims=16, decoder_depth=1, decoder_num_heads=2),
        head=dict(type='DBotHead'))


def rel_pos_bias_on_a_smaller_test_image(request, tmp_path):
    vit = DBotViT(**TINY, depth=1, out_type='featmap', use_rel_pos_bias=True).eval()
    vit(torch.zeros(1, 3, 24, 32))  # e.g. the last slide window of an image below the crop


def rel_pos_bias_given_other_token_count(request, tmp_path):
    RelativePositionBias((4, 4), num_heads=2)(10)


def imagenet_without_val_labels(request, tmp_path):
    root = tmp_path / 'imagenet'
    shutil.copytree(request.getfixturevalue('imagenet_root'), root)
    (root / 'meta' / 'val.txt').unlink()
    cfg = Config.fromfile(ROOT / 'configs/cls/vit-base-p16_8xb128-coslr-100e_in1k.py')
    cfg.test_dataloader.dataset.data_root = str(root)
    check_data_root(cfg, ('test_dataloader', ))


def tools_test_py_out_not_a_pickle(request, tmp_path):
    checkpoint = tmp_path / 'model.pth'
    checkpoint.touch()
    run_tool('test', ROOT / 'configs/cls/vit-tiny-p8_1xb16-demo_in1k.py', checkpoint, '--out',
             tmp_path / 'preds.json')


def tools_test_py_missing_checkpoint(request, tmp_path):
    run_tool('test', ROOT / 'configs/cls/vit-tiny-p8_1xb16-demo_in1k.py', tmp_path / 'nope.pth')


CASES = [
    ('unknown_arch', unknown_arch, ValueError,
     r"DBotViT: unknown arch 'giant', expected one of \['tiny', 'small', 'base', 'large', "
     r"'huge'\]"),
    ('vit_l_indices_on_vit_b', vit_l_indices_on_vit_b, ValueError,
     r'DBotViT: out_indices value 15 is out of range for depth 12 \(valid: -12\.\.11\)'),
    ('duplicate_out_indices', duplicate_out_indices, ValueError,
     r'DBotViT: out_indices \(3, 5, 5, 11\) must name distinct blocks in increasing order '
     r'\(depth 12: they are blocks \(3, 5, 5, 11\)\)'),
    ('out_indices_naming_one_block_twice', out_indices_naming_one_block_twice, ValueError,
     r'DBotViT: out_indices \(-1, 11\) must name distinct blocks .* they are blocks \(11, 11\)\)'),
    ('teacher_with_another_patch_size', teacher_with_another_patch_size, ValueError,
     r"DBOT: the teacher's token grid 8x8 \(patch_size 4, input 32x32\) differs from the "
     r"student's 4x4 \(patch_size 8\); set model\.teacher\.patch_size=8 or "
     r'model\.teacher_img_size'),
    ('rel_pos_bias_on_a_smaller_test_image', rel_pos_bias_on_a_smaller_test_image, ValueError,
     r'DBotViT \(use_rel_pos_bias=True\): a 24x32 input gives a 3x4 token grid, but the relative '
     r'position bias was built for 4x4 \(img_size 32x32, patch 8\); every forward must see 32x32 '
     r'pixels: slide inference with crop_size 32x32, and pad smaller test images to it \(mmseg: '
     r'model\.data_preprocessor\.test_cfg=dict\(size=crop_size\)\); or set use_rel_pos_bias=False'),
    ('rel_pos_bias_given_other_token_count', rel_pos_bias_given_other_token_count, ValueError,
     r'RelativePositionBias: built for a 4x4 token grid \(17 tokens incl\. CLS\) but got 10 '
     r'tokens: .*'),
    ('imagenet_without_val_labels', imagenet_without_val_labels, DataRootError,
     r"test_dataloader: '.*/imagenet/meta/val\.txt' is missing under data_root '.*/imagenet'; "
     r'expected the ImageNet-1k .* layout: .*/meta/val\.txt'),
    ('tools_test_py_out_not_a_pickle', tools_test_py_out_not_a_pickle, ToolError,
     r"test\.py: error: --out '.*/preds\.json' must end with \.pkl or \.pickle"),
    ('tools_test_py_missing_checkpoint', tools_test_py_missing_checkpoint, ToolError,
     r"test\.py: error: checkpoint '.*/nope\.pth' does not exist"),
]


def test_the_rel_pos_bias_remedy_works():
    """What the rel-pos message says works: slide inference on a test image below the crop size
    once mmseg's data preprocessor pads test images to the crop (the prediction is cut back)."""
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    cfg = Config.fromfile(ROOT / 'configs/seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py').model
    cfg.backbone.init_cfg = None
    image = torch.randint(0, 256, (3, 48, 80), dtype=torch.uint8)  # the crop is 64 x 64

    def predict(model):
        sample = SegDataSample(metainfo=dict(img_shape=(48, 80), ori_shape=(48, 80)))
        return model.test_step(dict(inputs=[image], data_samples=[sample]))[0]

    with DefaultScope.overwrite_default_scope('mmseg'):
        plain = MODELS.build(cfg).eval()
        cfg.data_preprocessor.test_cfg = dict(size=(64, 64))
        padded = MODELS.build(cfg).eval()
    padded.load_state_dict(plain.state_dict())
    with pytest.raises(ValueError, match='pad smaller test images'):
        predict(plain)
    assert predict(padded).pred_sem_seg.shape == (48, 80)


@pytest.mark.parametrize(
    'trigger, error, pattern', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_in_one_line(trigger, error, pattern, request, tmp_path):
    with pytest.raises(error) as info:
        trigger(request, tmp_path)
    message = str(info.value)
    assert '\n' not in message, message
    assert re.fullmatch(pattern, message), message
