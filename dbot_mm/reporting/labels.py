"""What a run is, in table words: its kind, task, method and model / teacher labels, from the
resolved config and the built ViT sizes of its run record."""
import os.path as osp
import re
from typing import Optional, Tuple

from .record import Run, cfg_get

ARCH_LETTER = {'tiny': 'Ti', 'small': 'S', 'base': 'B', 'large': 'L', 'huge': 'H'}
# pretraining model.type: dBOT, dBOT distilled from CLIP, mmpretrain's MAE baseline
PRETRAIN_MODELS = ('DBOT', 'DBOTCLIP', 'MAE')
# model.type of a downstream run -> (task, method shown, detector for the paper lookup)
DOWNSTREAM_MODELS = {
    'ImageClassifier': ('imagenet', 'fine-tune', None),
    'MaskRCNN': ('coco', 'Mask R-CNN', 'mask_rcnn'),
    'CascadeRCNN': ('coco', 'Cascade Mask R-CNN', 'cascade_mask_rcnn'),
    'EncoderDecoder': ('ade20k', 'UperNet', None),
}
# data set type -> (task, title); the paper numbers are for these data sets only
TASKS = {
    'ImageNet': ('imagenet', 'ImageNet'),
    'CocoDataset': ('coco', 'COCO'),
    'ADE20KDataset': ('ade20k', 'ADE20K'),
    'CIFAR10': ('cifar10', 'CIFAR-10'),
    'CIFAR100': ('cifar100', 'CIFAR-100'),
    'StanfordCars': ('stanford_cars', 'Stanford Cars'),
    'Flowers102': ('flowers102', 'Flowers-102'),
    'INaturalist': ('inaturalist', 'iNaturalist'),
}
TASK_TITLES = dict(TASKS.values())
# task -> [(metric shown, key in scalars.json / test results, factor to the 0-100 scale)]
TASK_METRICS = {
    'coco': [('APbox', 'coco/bbox_mAP', 100.0), ('APmask', 'coco/segm_mAP', 100.0)],
    'ade20k': [('mIoU', 'mIoU', 1.0)],
}
CLASSIFICATION_METRICS = [('top1', 'accuracy/top1', 1.0)]


def model_type(cfg: Optional[dict]) -> str:
    """``model.type`` without a registry scope ('mmdet.MaskRCNN' -> 'MaskRCNN')."""
    return str(cfg_get(cfg, 'model.type', '')).split('.')[-1]


def run_kind(cfg: Optional[dict]) -> str:
    """'pretrain' | 'downstream' | why the run is not in the tables."""
    kind = model_type(cfg)
    if kind in PRETRAIN_MODELS:
        return 'pretrain'
    if kind in DOWNSTREAM_MODELS:
        return 'downstream'
    return f'unknown model.type {kind!r} (not one of {sorted(PRETRAIN_MODELS)} or a known ' \
        'downstream model)'


def dataset_type(cfg: dict) -> Optional[str]:
    ds = cfg_get(cfg, 'val_dataloader.dataset') or cfg_get(cfg, 'train_dataloader.dataset')
    return str(ds.get('type')).split('.')[-1] if isinstance(ds, dict) else None


def classification_task(dataset: Optional[str]) -> str:
    """A transfer set (CIFAR, Cars, Flowers, iNaturalist) is its own task; any other classifier
    data (ImageNet, a CustomDataset folder) is shown as ImageNet."""
    task = TASKS.get(dataset or '', ('imagenet', ))[0]
    return task if task not in ('coco', 'ade20k') else 'imagenet'


def protocol(cfg: dict) -> str:
    """'linear probe' when the backbone's lr is 0 (``paramwise_cfg.custom_keys['backbone']
    .lr_mult == 0``, our linear-probe config), else 'fine-tune' (the paper's ImageNet numbers)."""
    keys = cfg_get(cfg, 'optim_wrapper.paramwise_cfg.custom_keys') or {}
    backbone = keys.get('backbone') if isinstance(keys, dict) else None
    return 'linear probe' if cfg_get(backbone, 'lr_mult', 1) == 0 else 'fine-tune'


def vit_label(facts: Optional[dict], patch) -> str:
    """'ViT-B/16', or 'ViT(dim 64, depth 4)/8' for a width and depth no arch has."""
    facts = facts or {}
    if facts.get('arch') in ARCH_LETTER:
        return f'ViT-{ARCH_LETTER[facts["arch"]]}/{patch}'
    return f'ViT(dim {facts.get("embed_dims")}, depth {facts.get("depth")})/{patch}'


def model_label(run: Run, part: str = 'backbone') -> str:
    return vit_label(
        cfg_get(run.record, f'model.{part}'), cfg_get(run.cfg, f'model.{part}.patch_size', 16))


def teacher_label(run: Run) -> Tuple[str, Optional[str]]:
    """(teacher shown, teacher key of ``paper_results.json``; None for bootstrapped teachers):
    'bootstrap, stage-1 depth 12' | 'dBOT ViT-L/16 (file.pth)' (key its arch) |
    'CLIP ViT-B/16 (ViT-B-16.pt)' (key 'CLIP-B/16') | 'pixels (MAE)'."""
    kind, facts = model_type(run.cfg), cfg_get(run.record, 'model.teacher') or {}
    ckpt = cfg_get(run.record, 'teacher.checkpoint')
    name = f' ({osp.basename(ckpt)})' if ckpt else ''
    if kind == 'MAE':
        return 'pixels (MAE)', 'pixels'
    if kind == 'DBOTCLIP' or facts.get('type') == 'CLIPTeacher':
        # OpenAI's file names ('ViT-B-16.pt', 'ViT-L-14.pt') say the arch
        m = re.search(r'ViT-([BLHg])-(\d+)', osp.basename(ckpt or ''))
        arch = f'{m.group(1)}/{m.group(2)}' if m else '?'
        return f'CLIP ViT-{arch}{name}', f'CLIP-{arch}'
    if ckpt:
        label = model_label(run, 'teacher')
        return f'dBOT {label}{name}', facts.get('arch') or label
    return f'bootstrap, stage-1 depth {facts.get("depth")}', None
