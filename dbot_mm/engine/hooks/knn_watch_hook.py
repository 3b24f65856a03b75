"""k-NN top-1 on a small labelled set during pretraining: progress one can watch without a
downstream run.

The protocol and its code are ``tools/analysis_tools/eval_frozen_features.py``'s
(``dbot_mm/evaluation/frozen_protocols.py``): test pipeline, the model's normalisation, the mean of
the last block's patch tokens after the final norm, DINO's weighted k-NN (k, T). Where that tool
uses a train and a val split, the hook draws one fixed seeded sub-sample of the labelled set and
splits it in two: the first half is the k-NN memory, the second half is classified.

``knn/student_top1`` is logged after every ``interval`` epochs (and the last), ``knn/teacher_top1``
at the start of every stage (then the teacher is the previous stage's student; stage 1's is the
frozen random init), through the visualizer into ``vis_data/scalars.json``, where the benchmark
tables read them. Their ``step`` is the epoch (from 1) the value belongs to: the one the student
finished, the one the teacher starts to teach; so a resumed launch logs only steps after those
of the launch it continues, as the tables' merge of launches expects. Training is unchanged: eval
mode, no grad, the Python / numpy / torch generators restored (the loader alone draws a torch
seed). Under DDP rank 0 evaluates while the other ranks wait at a barrier.
"""
import os.path as osp
import random
import time
from contextlib import contextmanager
from typing import Optional, Union

import numpy as np
import torch
from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from .bootstrap_hook import DBotBootstrapHook

NORM_KEYS = ('mean', 'std', 'to_rgb')  # of SelfSupDataPreprocessor, as ClsDataPreprocessor's


@contextmanager
def _frozen(vit: torch.nn.Module):
    """Eval mode and every random generator as before, afterwards."""
    state, training = (random.getstate(), np.random.get_state()), vit.training
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield vit.eval()
    finally:
        vit.train(training)
        random.setstate(state[0])
        np.random.set_state(state[1])


def _train_data_root(cfg) -> str:
    dataset = cfg.get('train_dataloader', {}).get('dataset', {})
    while 'data_root' not in dataset and isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']  # through wrappers (SeededDataset, RepeatDataset)
    return dataset.get('data_root', '')


@HOOKS.register_module()
class KNNWatchHook(Hook):
    """Args:
        data: the labelled set: a folder with one subfolder per class (relative to ``data_root``)
            or a dataset config, e.g. ``dict(type='ImageNet', data_root=..., split='val')``;
            None: the hook is off (a config names it, ``--cfg-options`` gives the folder).
        data_root: where a folder ``data`` is; default the training set's ``data_root``, so that
            ``data='val'`` is the folder beside the training images.
        num_images: the fixed sub-sample (the whole set if smaller): half memory, half queries.
        interval: epochs between the student's evaluations (the last epoch is always evaluated).
        k, temperature: of the weighted k-NN (eval_frozen_features.py's values); k is lowered to
            the memory's size, with a warning, when the set is smaller.
        pipeline: the test pipeline (replaces a dataset config's); default mmpretrain's ImageNet
            one scaled to the student's ``img_size``: short side to img_size / 0.875 (bicubic),
            centre crop.
        batch_size, num_workers: of the feature loader.
        seed: of the sub-sample (fixed for the run, whatever its seed).
    """
    priority = 'NORMAL'  # after DBotBootstrapHook (ABOVE_NORMAL) has made the stage's teacher

    def __init__(self,
                 data: Union[str, dict, None],
                 data_root: Optional[str] = None,
                 num_images: int = 1000,
                 interval: int = 1,
                 k: int = 20,
                 temperature: float = 0.07,
                 pipeline: Optional[list] = None,
                 batch_size: int = 64,
                 num_workers: int = 0,
                 seed: int = 0):
        if num_images < 2 or interval < 1 or k < 1:
            raise ValueError(f'KNNWatchHook: num_images={num_images} must be >= 2, '
                             f'interval={interval} and k={k} >= 1')
        self.data, self.data_root, self.num_images = data, data_root, num_images
        self.interval, self.k, self.temperature = interval, k, temperature
        self.pipeline, self.batch_size, self.num_workers = pipeline, batch_size, num_workers
        self.seed = seed
        self.loaders = None

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_train(self, runner) -> None:
        if self.data is None:
            return
        student = getattr(self._model(runner), 'backbone', None)
        if not hasattr(student, 'forward_target'):
            raise ValueError(f'KNNWatchHook: the model\'s backbone must be a DBotViT, got '
                             f'{type(student).__name__}')
        if is_main_process():
            self.loaders = self._build(runner, student)

    def _build(self, runner, student):
        from mmpretrain.registry import DATASETS, MODELS

        # here, not at `import dbot_mm`: dbot_mm.evaluation's __init__ imports mmdet and mmseg
        from ...evaluation.frozen_protocols import feature_loader
        size = student.patch_embed.img_size[0]
        pipeline = self.pipeline or [
            dict(type='LoadImageFromFile'),
            dict(
                type='ResizeEdge',
                scale=round(size / 0.875),
                edge='short',
                backend='pillow',
                interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=size),
            dict(type='PackInputs')
        ]
        if isinstance(self.data, dict):
            dataset = DATASETS.build(dict(self.data, pipeline=pipeline))
        else:
            root = _train_data_root(runner.cfg) if self.data_root is None else self.data_root
            folder = osp.join(root, self.data)
            if not osp.isdir(folder):
                raise FileNotFoundError(f'KNNWatchHook: data folder {folder} does not exist')
            dataset = DATASETS.build(
                dict(type='CustomDataset', data_prefix=folder, with_label=True, pipeline=pipeline))
        n = min(self.num_images, len(dataset))
        chosen = np.random.default_rng(self.seed).permutation(len(dataset))[:n]
        halves = sorted(chosen[:n // 2].tolist()), sorted(chosen[n // 2:].tolist())
        if not halves[0]:
            raise ValueError(f'KNNWatchHook: {self.data}: {n} image, at least 2 are needed')
        if self.k > len(halves[0]):  # a small val folder (mini_benchmark.py --num-val 20)
            runner.logger.warning(f'KNNWatchHook: k={self.k} > the {len(halves[0])} memory '
                                  f'images of {n}: k={len(halves[0])}')
            self.k = len(halves[0])
        pre = runner.cfg.model.get('data_preprocessor') or {}  # the student's normalisation
        pre = dict(type='ClsDataPreprocessor', **{k: pre[k] for k in NORM_KEYS if k in pre})
        self.preprocessor = MODELS.build(pre).to(next(student.parameters()).device)
        return [
            feature_loader(torch.utils.data.Subset(dataset, h), self.batch_size, self.num_workers)
            for h in halves
        ]

    def before_train_epoch(self, runner) -> None:
        hook = next((h for h in runner.hooks if isinstance(h, DBotBootstrapHook)), None)
        starts = hook.stage_epochs[:-1] if hook is not None else [0]
        teacher = getattr(self._model(runner), 'teacher', None)
        fresh = runner.iter == runner.epoch * len(runner.train_dataloader)  # not resumed mid-epoch
        if runner.epoch in starts and fresh and hasattr(teacher, 'forward_target'):
            self._evaluate(runner, 'teacher', teacher, runner.epoch + 1)

    def after_train_epoch(self, runner) -> None:
        if self.every_n_epochs(runner, self.interval) or self.is_last_train_epoch(runner):
            self._evaluate(runner, 'student', self._model(runner).backbone, runner.epoch + 1)

    def features(self, vit):
        """[(features, labels) of the memory, of the queries] by ``vit`` in eval mode, with every
        random generator as before."""
        from ...evaluation.frozen_protocols import extract_features
        with _frozen(vit):
            return [extract_features(x, self.preprocessor, vit) for x in self.loaders]

    def _evaluate(self, runner, name: str, vit, epoch: int) -> None:
        if self.data is None:
            return
        if is_main_process():
            from ...evaluation.frozen_protocols import knn_accuracy
            start = time.time()
            (xm, ym), (xq, yq) = self.features(vit)
            top1 = knn_accuracy(xm, ym, xq, yq, self.k, self.temperature)
            runner.visualizer.add_scalars({f'knn/{name}_top1': top1}, step=epoch)
            runner.logger.info(f'KNNWatchHook: epoch {epoch}: {name} k-NN top-1 {top1:.2f} '
                               f'({len(ym)} memory / {len(yq)} query images, '
                               f'{time.time() - start:.1f} s)')
        barrier()
