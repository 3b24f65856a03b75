"""Any folder of images, without labels or meta files, for self-supervised pretraining."""
import json
import re

import mmengine.fileio as fileio
from mmpretrain.datasets import CustomDataset
from mmpretrain.datasets.custom import get_samples
from mmpretrain.registry import DATASETS

from ..utils.data_root import DataRootError

__all__ = ['ImageFolder', 'IMG_EXTENSIONS']

IMG_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')


@DATASETS.register_module()
class ImageFolder(CustomDataset):
    """Every image under ``data_root`` (+ ``data_prefix``): flat or in nested folders of any depth,
    by extension in any case, hidden files skipped, in sorted order: mmpretrain's
    ``CustomDataset(with_label=False)`` scan. Added here, because a run must survive its folder:

    - an empty or missing folder is one line (``DataRootError``) naming it and the extensions;
    - ``exclude_file``: files not to read, one path per line relative to the folder, or the
      ``.json`` written by ``tools/misc/check_images.py``;
    - a file that the pipeline's first (loading) transform cannot read does not end the run:
      mmengine's ``BaseDataset.__getitem__`` draws another index for it (``np.random``, which
      ``SeededDataset`` seeds per sample: the same replacement after a resume), and the
      replacement's ``data_samples`` carries ``bad_files=[(path, error), ...]`` to the main
      process, where ``BadFilesHook`` logs, counts and limits them.
    """

    def __init__(self, data_root='', exclude_file=None, extensions=IMG_EXTENSIONS, **kwargs):
        self.exclude_file = exclude_file
        self._failed = []  # loads that failed since this process last returned a sample
        super().__init__(data_root=data_root, with_label=False, extensions=extensions, **kwargs)

    def load_data_list(self):
        folder = self.img_prefix
        if not fileio.isdir(folder):
            raise DataRootError(f"image folder '{folder}' does not exist")
        files, _ = get_samples(folder, None, self.is_valid_file)
        excluded = set()
        if self.exclude_file:
            text = fileio.get_text(self.exclude_file)
            lines = json.loads(text) if self.exclude_file.endswith('.json') else text.splitlines()
            excluded = set(lines) - {''}
            files = [f for f in files if f not in excluded]
        if not files:
            raise DataRootError(
                f"no images in '{folder}' or its subfolders: looked for "
                f"{', '.join(sorted(self.extensions))} (any case)" +
                (f'; {len(excluded)} paths excluded by {self.exclude_file}' if excluded else ''))
        return [dict(img_path=fileio.join_path(folder, f)) for f in files]

    def prepare_data(self, idx):
        data = self.get_data_info(idx)
        load, *transforms = self.pipeline.transforms or [dict]
        try:
            data = load(data)
        except Exception as err:  # None: __getitem__ draws another index
            # one line (OpenCV's span several), the same for the same file (PIL's name an address)
            error = re.sub(r' at 0x[0-9a-f]+', '', ' '.join(f'{type(err).__name__}: {err}'.split()))
            self._failed.append((data['img_path'], error))
            return None
        for transform in transforms:
            if data is None:
                return None
            data = transform(data)
        if data is not None and self._failed:
            data['data_samples'].set_metainfo(dict(bad_files=self._failed))
            self._failed = []
        return data
