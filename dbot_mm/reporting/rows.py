"""Table rows of one run: a pretraining row, or one row per metric of a downstream run next to
the paper's number (``paper_results.json``). Nothing is invented: a missing number stays empty
and ``status`` / ``notes`` say why."""
import os.path as osp
import re
import statistics
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from ..models.backbones.vit import ARCH_SETTINGS
from .log_reader import Issue, WorkDirLog, cfg_get

ARCH_LETTER = {'tiny': 'Ti', 'small': 'S', 'base': 'B', 'large': 'L', 'huge': 'H'}
# pretraining model.type: dBOT, dBOT distilled from CLIP (issue 12), mmpretrain's MAE baseline
PRETRAIN_MODELS = ('DBOT', 'DBOTCLIP', 'MAE')
# model.type of a downstream run -> (task, method shown, detector for the paper lookup)
DOWNSTREAM_MODELS = {
    'ImageClassifier': ('imagenet', 'fine-tune', None),
    'MaskRCNN': ('coco', 'Mask R-CNN', 'mask_rcnn'),
    'CascadeRCNN': ('coco', 'Cascade Mask R-CNN', 'cascade_mask_rcnn'),
    'EncoderDecoder': ('ade20k', 'UperNet', None),
}
# classification data sets of the transfer configs (issue 11): their own task, never ImageNet's
TRANSFER_TASKS = {
    'CIFAR10': ('cifar10', 'CIFAR-10'),
    'CIFAR100': ('cifar100', 'CIFAR-100'),
    'StanfordCars': ('stanford_cars', 'Stanford Cars'),
    'Flowers102': ('flowers102', 'Flowers-102'),
    'INaturalist': ('inaturalist', 'iNaturalist'),
}
TRANSFER_TASK_KEYS = {task for task, _ in TRANSFER_TASKS.values()}
CLASSIFICATION_TASKS = {'imagenet'} | TRANSFER_TASK_KEYS
NO_PAPER_NUMBER = 'no paper number (none in paper_results.json)'
TASK_TITLES = {
    'imagenet': 'ImageNet',
    'coco': 'COCO',
    'ade20k': 'ADE20K',
    **dict(TRANSFER_TASKS.values())
}
# the data set the paper numbers are for; other data (e.g. tiny synthetic sets) get none
TASK_DATASETS = {
    'imagenet': 'ImageNet',
    'coco': 'CocoDataset',
    'ade20k': 'ADE20KDataset',
    **{
        task: ds
        for ds, (task, _) in TRANSFER_TASKS.items()
    }
}
# task -> [(metric shown, key in scalars.json / test json, factor to the 0-100 scale)]
TASK_METRICS = {
    'imagenet': [('top1', 'accuracy/top1', 1.0)],
    **{
        task: [('top1', 'accuracy/top1', 1.0)]
        for task, _ in TRANSFER_TASKS.values()
    },
    'coco': [('APbox', 'coco/bbox_mAP', 100.0), ('APmask', 'coco/segm_mAP', 100.0)],
    'ade20k': [('mIoU', 'mIoU', 1.0)],
}


@dataclass
class PretrainRow:
    """One pretraining work dir (two work dirs of one config are two rows)."""
    run: str
    work_dir: str
    config: str
    model: str
    teacher: str
    stages: List[int]
    epochs_done: int
    epochs_planned: Optional[int]
    status: str
    stage_losses: List[Tuple[int, Optional[float], str]]  # (stage, last loss, 'done'|...)
    time_iter: Optional[float]
    batch: Optional[int]
    world_size: Optional[int]
    img_s: Optional[float]
    notes: List[str] = field(default_factory=list)
    loss_curve: List[Tuple[float, float]] = field(default_factory=list)
    curve_unit: str = 'epoch'
    # teacher key of paper_results.json for its downstream rows (None: bootstrapped teachers)
    external_teacher_arch: Optional[str] = None


@dataclass
class MetricRow:
    """One metric of one downstream run (a COCO Mask R-CNN run gives APbox and APmask)."""
    run: str
    work_dir: str
    task: str
    method: str
    metric: str
    last: Optional[float] = None
    last_at: str = ''
    best: Optional[float] = None
    best_at: str = ''
    ref_method: str = ''
    ref: Optional[float] = None
    delta: Optional[float] = None
    baseline_method: str = ''
    baseline: Optional[float] = None
    baseline_delta: Optional[float] = None
    status: str = ''
    init: str = ''
    notes: List[str] = field(default_factory=list)
    curve: List[Tuple[float, float]] = field(default_factory=list)
    curve_unit: str = ''
    seed: Optional[int] = None  # randomness.seed of the run (seed summary)
    config: str = ''  # the run's config file name (seed summary)
    source: str = ''  # pretraining config name | 'random init' | 'raw pixels' | checkpoint


def model_type(cfg: Optional[dict]) -> str:
    """``model.type`` without a registry scope ('mmdet.MaskRCNN' -> 'MaskRCNN')."""
    return str(cfg_get(cfg, 'model.type', '')).split('.')[-1]


def run_kind(cfg: Optional[dict]) -> str:
    """'pretrain' | 'downstream' | why the run is not in the tables."""
    if cfg is None:
        return 'no readable config (vis_data/config.py or dumped *.py)'
    kind = model_type(cfg)
    if kind in PRETRAIN_MODELS:
        return 'pretrain'
    if kind in DOWNSTREAM_MODELS:
        return 'downstream'
    return (f'unknown model.type {kind!r} (not one of {sorted(PRETRAIN_MODELS)} or a known '
            'downstream model)')


# ----------------------------------------------------------------------------- model labels
def arch_info(backbone: Optional[dict]) -> Tuple[Optional[str], str]:
    """(arch, or None when its width or depth is changed; label like 'ViT-B/16') of a DBotViT
    config, read as DBotViT reads its arguments."""
    backbone = backbone or {}
    arch = str(backbone.get('arch', 'base'))
    patch = backbone.get('patch_size', 16)
    if arch not in ARCH_SETTINGS:
        return None, f'ViT-{arch}/{patch}'
    dims, depth, _ = ARCH_SETTINGS[arch]
    dims_set = backbone.get('embed_dims') or dims
    depth_set = depth if backbone.get('depth') is None else backbone['depth']
    if (dims_set, depth_set) == (dims, depth):
        return arch, f'ViT-{ARCH_LETTER[arch]}/{patch}'
    return None, f'ViT(dim {dims_set}, depth {depth_set})/{patch}'


def mae_arch_info(backbone: Optional[dict]) -> Tuple[Optional[str], str]:
    """(our arch or None, label) of an mmpretrain ``MAEViT``: ``arch`` is a name of
    mmpretrain's ``VisionTransformer.arch_zoo`` or a dict with embed_dims / num_layers."""
    from mmpretrain.models.backbones.vision_transformer import VisionTransformer
    backbone = backbone or {}
    arch = backbone.get('arch', 'b')
    patch = backbone.get('patch_size', 16)
    if isinstance(arch, str):
        arch = VisionTransformer.arch_zoo.get(arch.lower())
        if arch is None:
            return None, f'ViT-{backbone["arch"]}/{patch}'
    dims, depth = arch.get('embed_dims'), arch.get('num_layers')
    for name, (d, n, _) in ARCH_SETTINGS.items():
        if (d, n) == (dims, depth):
            return name, f'ViT-{ARCH_LETTER[name]}/{patch}'
    return None, f'ViT(dim {dims}, depth {depth})/{patch}'


def _clip_arch(checkpoint: Optional[str]) -> str:
    """'ViT-B/16' from OpenAI's file names ('ViT-B-16.pt', 'ViT-L-14.pt'); '?' otherwise
    (reading the file to learn its width would load the whole teacher)."""
    m = re.search(r'ViT-([BLHg])-(\d+)', osp.basename(checkpoint or ''))
    return f'ViT-{m.group(1)}/{m.group(2)}' if m else '?'


def _teacher_label(model: Optional[dict]) -> Tuple[str, Optional[str]]:
    """(teacher shown, teacher key of ``paper_results.json`` or None for bootstrapping).

    'bootstrap, stage-1 depth 12' | 'dBOT ViT-L/16 (file.pth)' (an external pretrained dBOT
    teacher; key its arch) | 'CLIP ViT-B/16 (ViT-B-16.pt)' (key 'CLIP-B/16') | 'pixels (MAE)'.
    """
    kind = str((model or {}).get('type', '')).split('.')[-1]
    teacher = (model or {}).get('teacher') or {}
    if kind == 'MAE':
        return 'pixels (MAE)', 'pixels'
    if kind == 'DBOTCLIP' or str(teacher.get('type', '')).endswith('CLIPTeacher'):
        ckpt = teacher.get('checkpoint')
        arch = _clip_arch(ckpt)
        label = f'CLIP {arch}' + (f' ({osp.basename(ckpt)})' if ckpt else '')
        return label, 'CLIP-' + arch[len('ViT-'):] if arch != '?' else 'CLIP-?'
    init = teacher.get('init_cfg') or {}
    if isinstance(init, list):
        init = next((c for c in init if c.get('type') == 'Pretrained'), {})
    if init.get('type') == 'Pretrained':
        arch, label = arch_info(teacher)
        ckpt = init.get('checkpoint')
        return (f'dBOT {label}' + (f' ({osp.basename(ckpt)})' if ckpt else ''), arch or label)
    depth = teacher.get('depth')
    if depth is None:
        depth = ARCH_SETTINGS.get(str(teacher.get('arch', 'base')), (None, '?'))[1]
    return f'bootstrap, stage-1 depth {depth}', None


# ----------------------------------------------------------------------------- shared
def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _where(log: WorkDirLog) -> str:
    """The file an issue about the whole run points at: the last scalars or log file."""
    for s in reversed(log.sessions):
        if s.scalars_file or s.log_file:
            return s.scalars_file or s.log_file
    return log.path


def _status(done: int, planned: Optional[int], unit: str, log: WorkDirLog,
            issues: List[Issue]) -> str:
    """'finished' or 'unfinished 3/10 ep' (also reported at the last train line)."""
    if planned is None:
        issues.append(
            Issue(
                _where(log), None, f'planned length unknown (no train_cfg.max_'
                f'{"epochs" if unit == "ep" else "iters"} in the config)'))
        return f'{done} {unit} done, planned unknown'
    if done >= planned:
        return 'finished'
    path, line = log.train[-1]['_src'] if log.train else (_where(log), None)
    issues.append(
        Issue(path, line, f'unfinished run: {done}/{planned} {unit} '
              '(last training line here)'))
    return f'unfinished {done}/{planned} {unit}'


def _common_notes(log: WorkDirLog) -> List[str]:
    notes = []
    n_train = len(log.train_sessions)
    if n_train > 1:
        notes.append(f'resumed ({n_train} sessions merged)')
    if log.bad_lines:
        notes.append(f'{log.bad_lines} unreadable log line(s), see stderr')
    return notes


# ----------------------------------------------------------------------------- pretraining
def pretrain_row(name: str, log: WorkDirLog, issues: List[Issue]) -> PretrainRow:
    """Model, teacher, stages, progress, final loss per stage and throughput of one run."""
    cfg = log.cfg
    kind = model_type(cfg)
    info = mae_arch_info if kind == 'MAE' else arch_info
    _, model = info(cfg_get(cfg, 'model.backbone'))
    teacher, ext_arch = _teacher_label(cfg_get(cfg, 'model'))
    planned = cfg_get(cfg, 'train_cfg.max_epochs')
    hook = next((h for h in cfg.get('custom_hooks') or []
                 if isinstance(h, dict) and h.get('type') == 'DBotBootstrapHook'), None)
    notes = []
    if hook is not None:
        stages = list(hook.get('stage_epochs', [0, planned or 0]))
    else:  # MAE and the CLIP distillation train one stage by design
        stages = [0, planned or 0]
        if kind == 'DBOT':
            notes.append('no DBotBootstrapHook: one stage')
    done = log.progress.epochs
    status = _status(done, planned, 'ep', log, issues)
    ipe = log.progress.iters_per_epoch
    curve, unit = _loss_curve(log.train, ipe)
    if log.train and not (ipe or all('epoch' in r for r in log.train)):
        notes.append('epoch of the loss lines unknown: losses not split by stage')
    times = [float(r['time']) for r in log.train if _is_number(r.get('time'))]
    time_iter = statistics.median(times) if times else None
    batch = cfg_get(cfg, 'train_dataloader.batch_size')
    world_size, ws_notes = _world_size(log)
    notes.extend(ws_notes)
    img_s = batch * world_size / time_iter if time_iter and batch and world_size else None
    notes.extend(_common_notes(log))
    if not log.train:
        issues.append(Issue(_where(log), None, 'no training lines in the logs'))
        notes.append('no training lines')
    return PretrainRow(
        run=name,
        work_dir=log.path,
        config=log.config_name or '',
        model=model,
        teacher=teacher,
        stages=stages,
        epochs_done=done,
        epochs_planned=planned,
        status=status,
        stage_losses=_stage_losses(log.train, stages, done, ipe),
        time_iter=time_iter,
        batch=batch,
        world_size=world_size,
        img_s=img_s,
        notes=notes,
        loss_curve=curve,
        curve_unit=unit,
        external_teacher_arch=ext_arch)


def _record_epoch(rec: dict, ipe: Optional[int]) -> Optional[int]:
    """1-based epoch a train line belongs to ('epoch' key, else from the iteration count)."""
    if 'epoch' in rec:
        return int(rec['epoch'])
    if ipe:
        return -(-int(rec['iter']) // ipe)
    return None


def _stage_losses(train: List[dict], stages: List[int], done: int,
                  ipe: Optional[int]) -> List[Tuple[int, Optional[float], str]]:
    """Last logged loss of each stage k (epochs stages[k-1]+1 .. stages[k]) and its state:
    'done' (stage finished), 'unfinished' (training stopped inside it), 'not reached'."""
    out = []
    for k in range(1, len(stages)):
        lo, hi = stages[k - 1], stages[k]
        in_stage = [
            r for r in train if _is_number(r.get('loss')) and (
                e := _record_epoch(r, ipe)) is not None and lo < e <= hi
        ]
        loss = float(in_stage[-1]['loss']) if in_stage else None
        state = 'done' if done >= hi else ('unfinished' if done > lo or in_stage else 'not reached')
        out.append((k, loss, state))
    return out


def _loss_curve(train: List[dict], ipe: Optional[int]) -> Tuple[List[Tuple[float, float]], str]:
    """Loss against (fractional) epoch when the iterations per epoch are known."""
    pts = [r for r in train if _is_number(r.get('loss'))]
    if ipe:
        return [(int(r['iter']) / ipe, float(r['loss'])) for r in pts], 'epoch'
    if pts and all('epoch' in r for r in pts):
        return [(float(r['epoch']), float(r['loss'])) for r in pts], 'epoch'
    return [(float(r['iter']), float(r['loss'])) for r in pts], 'iteration'


def _world_size(log: WorkDirLog) -> Tuple[Optional[int], List[str]]:
    """GPUs of the training sessions ('GPU number' in the .log); never assumed."""
    sizes = [s.world_size for s in log.train_sessions if s.world_size is not None]
    if not sizes:
        return None, ['world size unknown (no "GPU number" in a .log)']
    if len(set(sizes)) > 1:
        return sizes[-1], [f'GPUs changed across sessions {sizes}: img/s uses the last']
    return sizes[-1], []


# ----------------------------------------------------------------------------- downstream
def _dataset_type(cfg: dict) -> Optional[str]:
    ds = cfg_get(cfg, 'val_dataloader.dataset') or cfg_get(cfg, 'train_dataloader.dataset')
    return str(ds.get('type')).split('.')[-1] if isinstance(ds, dict) else None


def classification_task(dataset: Optional[str]) -> str:
    """Task key of a classifier's data set: a transfer set (CIFAR, Cars, Flowers, iNaturalist)
    is its own task; anything else (ImageNet, a CustomDataset folder) is shown as ImageNet,
    with the paper number only for the ImageNet data set itself."""
    return TRANSFER_TASKS.get(dataset or '', ('imagenet', ''))[0]


def run_seed(log: WorkDirLog) -> Optional[int]:
    """``randomness.seed`` of the config the runner dumped (``--cfg-options`` included), else
    the 'seed:' its first training session logged (a random seed when none was set)."""
    seed = cfg_get(log.cfg, 'randomness.seed')
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    return next((s.seed for s in log.train_sessions + log.sessions if s.seed is not None), None)


def _schedule(cfg: dict) -> Tuple[Optional[int], str]:
    """(planned length, 'ep' | 'it') from ``train_cfg``."""
    tc = cfg.get('train_cfg') or {}
    if tc.get('type') == 'IterBasedTrainLoop' or ('max_iters' in tc and 'max_epochs' not in tc):
        return tc.get('max_iters'), 'it'
    return tc.get('max_epochs'), 'ep'


def _val_position(cfg: dict, unit: str, log: WorkDirLog, issues: List[Issue]):
    """How to print a validation record's ``step``: epoch, iteration, or its index when an
    iteration-based run logged metrics 'by epoch' (mmengine then logs every step as 0)."""
    if not cfg_get(cfg, 'default_hooks.logger.log_metric_by_epoch', True):
        return lambda rec, k: (rec['step'], f'it {rec["step"]}'), 'iteration'
    if unit == 'ep':
        return lambda rec, k: (rec['step'], f'ep {rec["step"]}'), 'epoch'
    if log.val:
        path, line = log.val[0]['_src']
        issues.append(
            Issue(
                path, line, 'validation logged with step = epoch (0) in an '
                'iteration-based run (log_metric_by_epoch=True): shown by order'))
    return lambda rec, k: (k, f'val #{k}'), 'validation #'


def _protocol(cfg: dict) -> str:
    """'linear probe' when the backbone's lr is 0 (``paramwise_cfg.custom_keys['backbone']
    .lr_mult == 0``, as in our linear-probe config), else 'fine-tune': the paper's ImageNet
    numbers are fine-tuning numbers."""
    keys = cfg_get(cfg, 'optim_wrapper.paramwise_cfg.custom_keys') or {}
    backbone = keys.get('backbone') if isinstance(keys, dict) else None
    if isinstance(backbone, dict) and backbone.get('lr_mult', 1) == 0:
        return 'linear probe'
    return 'fine-tune'


def _lookup(paper: dict, metric: str, attrs: dict) -> Tuple[Optional[dict], Optional[dict]]:
    """(dBOT entry, baseline entry) of ``paper_results.json`` whose 'match' fits ``attrs``."""
    ours = base = None
    for entry in paper.get('results', []):
        if entry['metric'] != metric:
            continue
        if all(attrs.get(k) == v for k, v in entry['match'].items()):
            if entry.get('baseline'):
                base = base or entry
            else:
                ours = ours or entry
    return ours, base


def _add_refs(row: MetricRow, paper: dict, metric: str, attrs: dict) -> None:
    ours, base = _lookup(paper, metric, attrs)
    if ours:
        row.ref_method, row.ref = ours['method'], float(ours['value'])
        row.delta = None if row.last is None else row.last - row.ref
    if base:
        row.baseline_method, row.baseline = base['method'], float(base['value'])
        row.baseline_delta = None if row.last is None else row.last - row.baseline


def downstream_rows(name: str, log: WorkDirLog, init: str, teacher: str, paper: dict,
                    issues: List[Issue]) -> List[MetricRow]:
    """Rows for every metric of the run's task: the last validation value (and the best), and
    the last ``tools/test.py`` result, each next to the paper's number."""
    cfg = log.cfg
    task, method, detector = DOWNSTREAM_MODELS[model_type(cfg)]
    dataset = _dataset_type(cfg)
    if task == 'imagenet':
        task = classification_task(dataset)
        method = _protocol(cfg)
    arch, arch_label = arch_info(cfg_get(cfg, 'model.backbone'))
    img_size = cfg_get(cfg, 'model.backbone.img_size', 224)
    if isinstance(img_size, (list, tuple)):
        img_size = img_size[0]
    planned, unit = _schedule(cfg)
    done = log.progress.epochs if unit == 'ep' else log.progress.iters
    status = ('test only' if not log.train and log.test_sessions else _status(
        done, planned, unit, log, issues))
    attrs = dict(
        task=task if dataset == TASK_DATASETS[task] else None,
        arch=arch,
        teacher=teacher,
        protocol=method if task in CLASSIFICATION_TASKS else None,
        detector=detector,
        input_size=img_size)
    notes = _common_notes(log)
    if attrs['task'] is None:
        notes.append(f'no paper number for data set {dataset}')
    if arch is None:
        notes.append(f'custom arch {arch_label}: no paper number')
    position, curve_unit = _val_position(cfg, unit, log, issues)
    rows = []
    for metric, key, scale in TASK_METRICS[task]:
        row = MetricRow(
            run=name,
            work_dir=log.path,
            task=TASK_TITLES[task],
            method=method,
            metric=metric,
            init=init,
            notes=list(notes),
            curve_unit=curve_unit,
            seed=run_seed(log),
            config=log.config_name or '')
        vals = [r for r in log.val if _is_number(r.get(key))]
        if vals:
            points = [(position(r, k + 1), float(r[key]) * scale) for k, r in enumerate(vals)]
            (_, row.last_at), row.last = points[-1]
            (_, row.best_at), row.best = max(points, key=lambda p: p[1])
            row.curve = [(x, v) for (x, _), v in points]
        else:
            issues.append(
                Issue(
                    _where(log), None, f'no metric: no validation value of {key!r}' +
                    ('' if log.val else ' (no validation lines at all)')))
        row.status = status if vals else f'{status}; no metric'
        _add_refs(row, paper, metric, attrs)
        if attrs['task'] in TRANSFER_TASK_KEYS and row.ref is None and row.baseline is None:
            row.notes.append(NO_PAPER_NUMBER)
        rows.append(row)
        test = _test_row(row, log, key, scale, status)
        if test is not None:
            _add_refs(test, paper, metric, attrs)
            rows.append(test)
    return rows


def _test_row(val_row: MetricRow, log: WorkDirLog, key: str, scale: float,
              status: str) -> Optional[MetricRow]:
    """The last ``tools/test.py`` result of the run (a ``<ts>/<ts>.json`` in its work dir)."""
    runs = [s for s in log.test_sessions if _is_number(s.test.get(key))]
    if not runs:
        return None
    s = runs[-1]
    at = osp.basename(s.loaded_checkpoint) if s.loaded_checkpoint else s.timestamp
    row = MetricRow(
        run=val_row.run,
        work_dir=val_row.work_dir,
        task=val_row.task,
        method=val_row.method,
        metric=f'{val_row.metric} (test)',
        last=float(s.test[key]) * scale,
        last_at=f'test {at}',
        status=status,
        init=val_row.init,
        notes=list(val_row.notes),
        seed=val_row.seed,
        config=val_row.config)
    if len(runs) > 1:
        row.notes.append(f'{len(runs)} test runs, the last shown')
    return row
