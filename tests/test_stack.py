"""The OpenMMLab stack imports and mmcv's compiled ops run on the CPU.

Guards the set-up (tools/setup_env.sh): mmcv must be the full build, since
mmdet's heads need RoIAlign and nms from ``mmcv._ext``.
"""
import importlib

import pytest
import torch


@pytest.mark.parametrize(
    'module', ['mmcv.ops', 'mmengine', 'mmpretrain', 'mmdet', 'mmseg', 'timm', 'dbot_mm'])
def test_stack_imports(module):
    importlib.import_module(module)  # mmdet and mmseg refuse an mmcv outside their range


def test_mmcv_roi_align_cpu():
    from mmcv.ops import RoIAlign

    feats = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)
    # (batch index, x1, y1, x2, y2): the whole 4x4 map.
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = RoIAlign(
        output_size=(2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=True)(feats, rois)
    assert out.shape == (1, 1, 2, 2)
    # Each output bin averages one 2x2 quadrant of the map.
    expected = torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]])
    torch.testing.assert_close(out, expected)


def test_mmcv_nms_cpu():
    from mmcv.ops import nms

    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert dets.shape == (2, 5)
    torch.testing.assert_close(dets[:, 4], torch.tensor([0.9, 0.7]))
