"""Every image of a dataset decoded once into one array, for small datasets trained many epochs.

A 32 px sample of the mini benchmark spends more time being read and decoded from its PNG than
being cropped; here the dataset's loading transform (the first of its pipeline) runs once per
image at build, and a sample is the rest of the pipeline applied to a copy of the stored image:
the same results as the file pipeline, bit for bit (tested), without the reads. mmengine's
``BaseDataset(serialize_data=True)`` keeps only the data infos in memory, not the images.
"""
import numpy as np
from mmengine.dataset import Compose
from mmengine.logging import print_log


class InMemoryImages:
    """``dataset`` (built, with a ``pipeline`` whose first transform loads ``img``) with its
    images held in one array. Every image must decode to the same shape and dtype; a file that
    does not decode, or has another size, is a one-line error naming it."""

    def __init__(self, dataset):
        self.dataset = dataset
        transforms = getattr(getattr(dataset, 'pipeline', None), 'transforms', None)
        if not transforms:
            raise ValueError(f'in_memory: {type(dataset).__name__} has no pipeline whose first '
                             'transform loads the image')
        self._load, self._pipeline = transforms[0], Compose(transforms[1:])
        self._images = None
        if getattr(dataset, '_fully_initialized', True):  # else at the first sample (lazy_init)
            self.full_init()

    def __getattr__(self, name):  # metainfo, data_root, get_data_info, ... of the dataset
        return getattr(self.__dict__['dataset'], name)

    def __len__(self) -> int:
        return len(self.dataset)

    def full_init(self) -> None:
        if self._images is not None:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        images, first = None, None
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            path = info.get('img_path', f'sample {i}')
            try:
                img = self._load(dict(info))['img']
            except Exception as err:
                raise ValueError(f'in_memory: cannot read {path}: {type(err).__name__}: '
                                 f"{' '.join(str(err).split())} (tools/misc/check_images.py "
                                 'lists such files for the dataset\'s exclude_file)') from None
            if images is None:
                images, first = np.empty((len(self.dataset), *img.shape), img.dtype), path
            elif img.shape != images.shape[1:] or img.dtype != images.dtype:
                raise ValueError(f'in_memory: {path} decodes to {img.shape} {img.dtype}, but '
                                 f'{first} to {images.shape[1:]} {images.dtype}: every image '
                                 'must have one size (resize the folder or drop in_memory)')
            images[i] = img
        self._images = images
        print_log(
            f'in_memory: {len(images)} images of {images.shape[1:]} {images.dtype} decoded '
            f'once ({images.nbytes / 2**20:.1f} MiB)',
            logger='current')

    def __getitem__(self, idx: int) -> dict:
        self.full_init()
        img = self._images[idx].copy()  # transforms may work in place
        results = dict(self.dataset.get_data_info(idx), img=img)
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        return self._pipeline(results)
