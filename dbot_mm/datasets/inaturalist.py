"""iNaturalist 2018 / 2019 for the transfer classification of the official dBOT code
(run.sh ``inat_cls`` / ``inat19_cls``, evaluation/eval_cls.py ``INatDataset``); mmpretrain 1.2.0
has no iNaturalist class."""
import os.path as osp

import mmengine
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

__all__ = ['INaturalist']


@DATASETS.register_module()
class INaturalist(BaseDataset):
    """iNaturalist 2018 (8142 species) or 2019 (1010 species) in the official release layout::

        data_root/
        ├── train2018.json   COCO-style: images [{id, file_name}],
        ├── val2018.json     annotations [{image_id, category_id}], categories [{id, name}]
        └── train_val2018/<supercategory>/<category_id>/<image>.jpg   (``file_name``)

    (2019: ``train2019.json``, ``val2019.json``, ``train_val2019/``.)

    Labels as eval_cls.py ``INatDataset`` (DeiT's, default ``--inat-category name``): a species'
    label is the rank at which it first appears in the annotations of ``train{year}.json``, for
    both splits, so train and val share one label map. eval_cls.py keys species by their name in
    ``categories.json``; names are unique per category id there, so keying by category id gives
    the same labels without that file. eval_cls.py takes an image's category from the
    ``<category_id>`` folder of its ``file_name``, we take it from its annotation (equal in the
    release). ``metainfo['classes']``: the json's category names in label order.

    Args:
        data_root (str): The folder holding the json files and ``train_val{year}/``.
        split (str): ``'train'`` or ``'val'`` (the official validation set, used as test set).
        year (int): 2018 or 2019.
        **kwargs: Other arguments of mmpretrain's ``BaseDataset`` (``pipeline``, ``indices`` ...).
    """
    SPLITS = ('train', 'val')
    YEARS = (2018, 2019)

    def __init__(self, data_root: str, split: str = 'train', year: int = 2018, **kwargs):
        if split not in self.SPLITS:
            raise ValueError(f'INaturalist: split must be one of {self.SPLITS}, got {split!r}')
        if year not in self.YEARS:
            raise ValueError(f'INaturalist: year must be one of {self.YEARS}, got {year!r}')
        self.split, self.year = split, year
        for name in dict.fromkeys((f'{split}{year}.json', f'train{year}.json')):  # val: both
            path = osp.join(data_root, name)
            if not osp.isfile(path):
                raise FileNotFoundError(f'INaturalist: annotation file {path} not found')
        super().__init__(
            ann_file=f'{split}{year}.json',
            data_root=data_root,
            data_prefix='',
            test_mode=split == 'val',
            **kwargs)

    def _label_map(self) -> dict:
        """Category id -> label: the order of first appearance in train{year}.json."""
        train = mmengine.load(osp.join(self.data_root, f'train{self.year}.json'))
        id_to_label = {}
        for ann in train['annotations']:
            id_to_label.setdefault(ann['category_id'], len(id_to_label))
        names = {c['id']: c.get('name', str(c['id'])) for c in train.get('categories', [])}
        self._metainfo.setdefault('classes', tuple(names.get(i, str(i)) for i in id_to_label))
        return id_to_label

    def load_data_list(self) -> list:
        id_to_label = self._label_map()
        data = mmengine.load(self.ann_file)
        category_of = {a['image_id']: a['category_id'] for a in data['annotations']}
        data_list = []
        for image in data['images']:
            category = category_of[image['id']]
            if category not in id_to_label:
                raise ValueError(f'INaturalist: category {category} of {image["file_name"]} '
                                 f'({self.split}{self.year}.json) has no train{self.year} image')
            data_list.append(
                dict(
                    img_path=osp.join(self.img_prefix, image['file_name']),
                    gt_label=id_to_label[category]))
        return data_list

    def extra_repr(self) -> list:
        return [
            f'Year: \t{self.year}', f'Split: \t{self.split}', f'Root of dataset: \t{self.data_root}'
        ]
