"""``tools/test.py --out``: keep per image only what offline evaluation needs.

mmengine's generic ``DumpResults`` keeps every sample whole on each rank until rank 0 pickles them
all: for mmdet that is every dense instance mask (~30 MB per COCO image), for mmseg the 150-class
logits of the whole image (~200 MB per ADE20K image). Each library's own dump is used instead:
mmdet's ``DumpDetResults`` (masks as RLE), and for mmseg, whose ``tools/test.py`` writes label-map
PNGs through ``IoUMetric(output_dir=...)`` instead of a pickle, :class:`DumpSegResults`.
"""
from typing import Any, Sequence

import numpy as np
from mmengine.evaluator import DumpResults
from mmseg.registry import METRICS


@METRICS.register_module()
class DumpSegResults(DumpResults):
    """Pickle each image's metainfo and its predicted label map (H x W, uint8 below 256 classes).

    Logits and ground truth are dropped before anything is moved to the CPU. The label values are
    mmseg's ``pred_sem_seg`` (0-based class indices; add 1 for ADE20K's official PNG ids, as
    mmseg's ``IoUMetric`` does with ``reduce_zero_label``).
    """

    def process(self, data_batch: Any, predictions: Sequence[dict]) -> None:
        for sample in predictions:
            kept = {k: v for k, v in sample.items() if not isinstance(v, dict)}  # metainfo
            labels = sample['pred_sem_seg']['data'].squeeze(0)
            dtype = np.uint8 if int(labels.max()) < 256 else np.int32
            kept['pred_sem_seg'] = labels.cpu().numpy().astype(dtype)
            self.results.append(kept)


def build_dump_metric(default_scope: str, out_file_path: str) -> DumpResults:
    """The dumping metric of the config's library (mmpretrain's is mmengine's: its samples are
    small, scores and labels)."""
    if default_scope == 'mmdet':
        from mmdet.evaluation import DumpDetResults  # imports mmcv's compiled ops
        return DumpDetResults(out_file_path=out_file_path)
    if default_scope == 'mmseg':
        return DumpSegResults(out_file_path=out_file_path)
    return DumpResults(out_file_path=out_file_path)
