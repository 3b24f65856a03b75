"""adapt_to_device makes GPU configs runnable under a CPU launcher."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from dbot_mm.utils.launch import adapt_to_device

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU path only applies without CUDA')
def test_sync_bn_becomes_bn_under_a_cpu_launcher():
    cfg = Config.fromfile(REPO / 'configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py')
    assert cfg.model.neck[0].norm_cfg.type == 'SyncBN'
    cfg.launcher = 'pytorch'
    adapt_to_device(cfg)
    assert cfg.model.neck[0].norm_cfg.type == 'BN'
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None
