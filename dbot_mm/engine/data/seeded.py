"""Data augmentation that depends on (seed, epoch, sample) only, not on the DataLoader workers.

Each worker has its own random streams, which start again whenever workers are created (every
epoch, or once per process with ``persistent_workers``): after a resume, mid-epoch above all, the
crops and flips would differ from the uninterrupted run. Here every sample is prepared under its
own seed: ``SeededSampler`` (mmengine's ``DefaultSampler``, same arguments) yields
``(index, seed)`` pairs and ``SeededDataset`` wraps any dataset and runs its pipeline under that
seed, restoring the generators of the process it runs in afterwards::

    train_dataloader = dict(
        sampler=dict(type='SeededSampler', shuffle=True),
        dataset=dict(type='SeededDataset', dataset=dict(type='ImageNet', ...)))
"""
import random
from contextlib import contextmanager
from typing import Iterator, Tuple

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS, DATASETS

from ..seeding import derive_seed, seed_all
from .in_memory import InMemoryImages


@DATA_SAMPLERS.register_module()
class SeededSampler(DefaultSampler):
    """``DefaultSampler`` that pairs each index with a seed drawn from (seed, epoch, index)."""

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        g = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch, 2))
        seeds = torch.randint(2**62, (len(self.dataset), ), generator=g).tolist()
        return ((i, seeds[i]) for i in super().__iter__())


@contextmanager
def _seeded(seed: int):
    state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    seed_all(seed, cuda=False)
    try:
        yield
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_rng_state(state[2])


@DATASETS.register_module()
class SeededDataset:
    """Prepare ``dataset[index]`` under the seed that ``SeededSampler`` paired it with (a plain
    index is passed through unseeded).

    ``in_memory=True``: decode every image once at build and keep them in one array
    (``InMemoryImages``; the same samples, for small datasets of one image size).
    """

    def __init__(self, dataset, in_memory: bool = False):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        if in_memory:
            self.dataset = InMemoryImages(self.dataset)

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        if not isinstance(item, tuple):
            return self.dataset[item]
        index, seed = item
        with _seeded(seed):
            return self.dataset[index]
