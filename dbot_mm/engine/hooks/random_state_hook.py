"""Random streams that depend only on (run seed, iteration), so a resumed run continues
bit-exactly wherever it stopped: at an epoch end or, after a preemption, mid-epoch.

mmengine seeds once (``randomness.seed``) and its resume seeds again from scratch, so masks and
drop path after a resume differ from the uninterrupted run. Instead of storing generator states
(which cannot cover DataLoader workers), the main process is re-seeded before every epoch and
every iteration from (``runner.seed``, iteration): ``runner.seed`` is already per rank with
``diff_rank_seed`` and is restored from the checkpoint by mmengine. Data augmentation in workers is
seeded per sample by ``SeededSampler`` + ``SeededDataset``.
"""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..data import SeededSampler
from ..seeding import derive_seed, seed_all


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Re-seed the main process from (seed, iteration) before each epoch and iteration."""
    priority = 'LOW'

    def before_train(self, runner) -> None:
        loader = runner.train_dataloader
        if loader.num_workers > 0 and not isinstance(loader.sampler, SeededSampler):
            runner.logger.warning(
                'RandomStateHook: data workers without SeededSampler + SeededDataset '
                '(dbot_mm/engine/data/seeded.py): augmentation after a resume will differ')

    def before_train_epoch(self, runner) -> None:
        seed_all(derive_seed(runner.seed, runner.iter, 1))  # data fetched before the 1st iter

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        seed_all(derive_seed(runner.seed, runner.iter, 0))
