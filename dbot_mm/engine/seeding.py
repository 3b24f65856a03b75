"""Seeds derived from (run seed, iteration, ...), shared by ``RandomStateHook`` (main process)
and ``SeededSampler`` (one seed per sample) so that a resumed run draws what the uninterrupted
run drew."""
import random

import numpy as np
import torch


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> 1)
