"""SeededSampler + SeededDataset: a sample's random draws depend on (seed, epoch, index) only."""
import random

import numpy as np
import torch

from dbot_mm.engine.data import SeededDataset, SeededSampler


class _Draws:
    """A dataset whose samples are random draws, as an augmentation pipeline makes them."""

    def __len__(self):
        return 6

    def __getitem__(self, index):
        return index, random.random(), float(np.random.rand()), float(torch.rand(1))


def _epoch(sampler, dataset, epoch):
    sampler.set_epoch(epoch)
    return {item[0]: dataset[item] for item in sampler}


def test_draws_depend_on_seed_epoch_and_index_only():
    dataset = SeededDataset(_Draws())
    sampler = SeededSampler(dataset, shuffle=True, seed=3)
    first = _epoch(sampler, dataset, 0)
    assert sorted(first) == list(range(6))
    random.seed(99)  # whatever state the process (or a fresh data worker) is in
    np.random.seed(99)
    assert _epoch(SeededSampler(dataset, shuffle=True, seed=3), dataset, 0) == first
    again = _epoch(sampler, dataset, 1)  # another epoch: other draws for the same index
    assert all(again[i][1:] != first[i][1:] for i in range(6))


def test_the_callers_generators_are_left_alone():
    dataset = SeededDataset(_Draws())
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    dataset[(2, 12345)]
    assert torch.equal(torch.rand(3), expected)
    assert dataset[4][0] == 4  # a plain index passes through, unseeded
