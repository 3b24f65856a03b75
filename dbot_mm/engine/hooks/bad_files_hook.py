"""Image files that failed to load: logged once, counted, kept in the checkpoint, and limited.

``ImageFolder`` (dbot_mm/datasets/image_folder.py) replaces a file it cannot load by another
sample, in the data workers; what reaches the main process is the batch, whose replacement samples
carry ``bad_files=[(path, error), ...]`` in their ``data_samples``' metainfo.
"""
import torch
from mmengine.dist import all_gather_object, all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


class BadFilesError(RuntimeError):
    """More image loads failed than ``BadFilesHook`` allows (one-line message)."""


@HOOKS.register_module()
class BadFilesHook(Hook):
    """Log each bad file once with its error, the counts at each epoch end, keep them in
    ``checkpoint['meta']['bad_files']`` (a resumed run goes on counting), and stop with
    :class:`BadFilesError` when more than ``max_fraction`` of the loads failed. The counts are
    summed over ranks (every rank stops at the same iteration) and the fraction is taken of at
    least one epoch's loads, so one bad file in the first batch does not stop a run."""
    priority = 'ABOVE_NORMAL'  # before the checkpoint hooks (VERY_LOW)

    def __init__(self, max_fraction: float = 0.001):
        self.max_fraction = max_fraction
        self.files = {}  # path -> error, in the order they first failed
        self.failed = self.loads = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        samples = (data_batch or {}).get('data_samples') or []
        new = [f for s in samples for f in s.get('bad_files', ())]
        counts = torch.tensor([len(new), len(samples) + len(new)])
        if get_world_size() > 1:
            all_reduce(counts)
            if counts[0]:
                new = [f for part in all_gather_object(new) for f in part]
        self.failed += int(counts[0])
        self.loads += int(counts[1])
        for path, error in new:
            if path not in self.files:
                self.files[path] = error
                runner.logger.warning(f'bad image file {path} ({error}): replaced by another '
                                      f'image ({len(self.files)} bad files so far)')
        epoch_loads = len(runner.train_dataloader.dataset)
        if self.failed > self.max_fraction * max(self.loads, epoch_loads):
            raise BadFilesError(
                f'{self.failed} of {self.loads} image loads failed ({len(self.files)} bad files, '
                f'logged), more than max_fraction={self.max_fraction:g}: list them with '
                'tools/misc/check_images.py and exclude them (ImageFolder exclude_file), or raise '
                'default_hooks.bad_files.max_fraction')

    def after_train_epoch(self, runner) -> None:
        if self.failed:
            runner.logger.warning(f'{self.failed} of {self.loads} image loads failed so far '
                                  f'({len(self.files)} bad files), each replaced by another image')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['bad_files'] = dict(
            failed=self.failed, loads=self.loads, files=dict(self.files))

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = (checkpoint.get('meta') or {}).get('bad_files')
        if state:
            self.failed, self.loads, self.files = state['failed'], state['loads'], state['files']
