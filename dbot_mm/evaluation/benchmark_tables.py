"""Benchmark tables from training logs: dBOT pretraining runs and the downstream runs that
start from their checkpoints, next to the paper's numbers (``paper_results.json``).

``build_tables(paths)`` reads work dirs (or folders holding work dirs) and returns a
:class:`BenchmarkTables`; ``table_writer.write_outputs(tables, out_dir)`` writes markdown, CSV
and plots. Downstream metrics are the **last** validation result (and the best, for
reference); nothing is invented: a missing number stays empty and says why in ``status``.
"""
import json
import os
import os.path as osp
import statistics
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, TextIO, Tuple, Union

from .log_reader import Issue, WorkDirLog, cfg_get, find_work_dirs, read_work_dir

PAPER_RESULTS = osp.join(osp.dirname(__file__), 'paper_results.json')

# DBotViT / mmpretrain arch names -> (canonical, embed_dims, depth, default patch size: 16 in both
# classes, also for huge; ViT-H/14 configs set patch_size=14)
ARCHS = {
    'tiny': ('tiny', 192, 12, 16), 't': ('tiny', 192, 12, 16),
    'small': ('small', 384, 12, 16), 's': ('small', 384, 12, 16),
    'base': ('base', 768, 12, 16), 'b': ('base', 768, 12, 16),
    'large': ('large', 1024, 24, 16), 'l': ('large', 1024, 24, 16),
    'huge': ('huge', 1280, 32, 16), 'h': ('huge', 1280, 32, 16),
}
ARCH_LETTER = {'tiny': 'Ti', 'small': 'S', 'base': 'B', 'large': 'L', 'huge': 'H'}

# model.type of a downstream run -> (task, method shown, detector for the paper lookup)
DOWNSTREAM_MODELS = {
    'ImageClassifier': ('imagenet', 'fine-tune', None),
    'MaskRCNN': ('coco', 'Mask R-CNN', 'mask_rcnn'),
    'CascadeRCNN': ('coco', 'Cascade Mask R-CNN', 'cascade_mask_rcnn'),
    'EncoderDecoder': ('ade20k', 'UperNet', None),
}
TASK_TITLES = {'imagenet': 'ImageNet', 'coco': 'COCO', 'ade20k': 'ADE20K'}
# the data set the paper numbers are for; other data (e.g. tiny synthetic sets) get none
TASK_DATASETS = {'imagenet': 'ImageNet', 'coco': 'CocoDataset', 'ade20k': 'ADE20KDataset'}
# task -> [(metric shown, key in scalars.json / test json, factor to the 0-100 scale)]
TASK_METRICS = {
    'imagenet': [('top1', 'accuracy/top1', 1.0)],
    'coco': [('APbox', 'coco/bbox_mAP', 100.0), ('APmask', 'coco/segm_mAP', 100.0)],
    'ade20k': [('mIoU', 'mIoU', 1.0)],
}
DATASET_WRAPPERS = ('RepeatDataset', 'ClassBalancedDataset', 'MultiImageMixDataset',
                    'ConcatDataset', 'KFoldDataset')


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
    external_teacher_arch: Optional[str] = None


@dataclass
class MetricRow:
    """One metric of one downstream run (a run of COCO Mask R-CNN gives APbox and APmask)."""
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


@dataclass
class DownstreamGroup:
    """The downstream runs of one pretraining run, of outside checkpoints, or of random init."""
    key: str     # 'pretrain:<run>' | 'external' | 'random_init'
    title: str
    checkpoints: List[str] = field(default_factory=list)
    rows: List[MetricRow] = field(default_factory=list)


@dataclass
class BenchmarkTables:
    pretrain: List[PretrainRow]
    groups: List[DownstreamGroup]
    skipped: List[Tuple[str, str]]   # (work dir, why)
    issues: List[Issue]
    work_dirs: List[str]


# ----------------------------------------------------------------------------- public API
def load_paper_results(path: str = PAPER_RESULTS) -> dict:
    """The reference numbers (one JSON file, each number with its source)."""
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def build_tables(paths: Union[str, Sequence[str]], paper: Optional[dict] = None,
                 stream: Optional[TextIO] = sys.stderr) -> BenchmarkTables:
    """Read work dirs (or folders of work dirs) and build every table.

    Problems (truncated lines, unfinished runs, missing metrics) are in ``tables.issues`` and,
    unless ``stream`` is None, printed there as ``file:line: message`` while reading.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paper = paper if paper is not None else load_paper_results()
    issues = _IssueList(stream)
    work_dirs = _unique([wd for p in paths for wd in find_work_dirs(str(p))])
    names = _run_names(work_dirs)
    logs = {wd: read_work_dir(wd, issues) for wd in work_dirs}

    pretrain, downstream, skipped = [], [], []
    for wd in work_dirs:
        kind = _run_kind(logs[wd])
        if kind == 'pretrain':
            pretrain.append(wd)
        elif kind == 'downstream':
            downstream.append(wd)
        else:
            skipped.append((wd, kind))
            issues.append(Issue(wd, None, f'skipped: {kind}'))

    pre_rows = {wd: pretrain_row(names[wd], logs[wd], issues) for wd in pretrain}
    groups = {f'pretrain:{names[wd]}': DownstreamGroup(
        f'pretrain:{names[wd]}', f'From pretraining run `{names[wd]}`')
        for wd in pretrain}
    external = DownstreamGroup('external', 'From checkpoints outside the scanned pretraining '
                               'runs')
    scratch = DownstreamGroup('random_init', 'From random init (no pretraining checkpoint)')
    for wd in downstream:
        log = logs[wd]
        ckpt, prefix = init_checkpoint(log)
        source = link_checkpoint(ckpt, pretrain) if ckpt else None
        teacher = 'bootstrap'
        if ckpt is None:
            group, init = scratch, 'random init'
        elif source is None:
            group, init = external, ckpt
        else:
            group = groups[f'pretrain:{names[source]}']
            init = osp.basename(ckpt)
            teacher = pre_rows[source].external_teacher_arch or 'bootstrap'
        if prefix:
            init += f' ({_PREFIX_NAMES.get(prefix, prefix)})'
        if ckpt and ckpt not in group.checkpoints:
            group.checkpoints.append(ckpt)
        group.rows.extend(downstream_rows(names[wd], log, init, teacher, paper, issues))
    ordered = [groups[k] for k in sorted(groups)] + [external, scratch]
    return BenchmarkTables(pretrain=[pre_rows[wd] for wd in pretrain], groups=ordered,
                           skipped=skipped, issues=list(issues), work_dirs=work_dirs)


class _IssueList(list):
    """Issues are printed as they are found, so a crash later still leaves them on stderr."""

    def __init__(self, stream: Optional[TextIO]):
        super().__init__()
        self.stream = stream

    def append(self, issue: Issue) -> None:
        super().append(issue)
        if self.stream is not None:
            print(issue, file=self.stream)


_PREFIX_NAMES = {'backbone.': 'student', 'backbone': 'student', 'teacher.': 'teacher',
                 'teacher': 'teacher'}


def _unique(paths: Iterable[str]) -> List[str]:
    seen, out = set(), []
    for p in paths:
        key = osp.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return sorted(out)


def _run_names(work_dirs: List[str]) -> Dict[str, str]:
    """Work dir paths relative to their common folder: short, and distinct for two runs of
    the same config (``work_dirs/a`` and ``work_dirs/a_2``, or ``x/a`` and ``y/a``)."""
    if len(work_dirs) == 1:
        return {work_dirs[0]: osp.basename(osp.normpath(work_dirs[0]))}
    root = osp.commonpath([osp.abspath(w) for w in work_dirs])
    return {w: osp.relpath(osp.abspath(w), root) for w in work_dirs}


def _run_kind(log: WorkDirLog) -> str:
    """'pretrain' | 'downstream' | why the run is skipped."""
    if log.cfg is None:
        return 'no readable config (vis_data/config.py or dumped *.py)'
    model_type = _model_type(log.cfg)
    if model_type == 'DBOT':
        return 'pretrain'
    if model_type in DOWNSTREAM_MODELS:
        return 'downstream'
    return f'unknown model.type {model_type!r} (not DBOT or a known downstream model)'


def _model_type(cfg: Optional[dict]) -> str:
    """``model.type`` without a registry scope ('mmdet.MaskRCNN' -> 'MaskRCNN')."""
    return str(cfg_get(cfg, 'model.type', '')).split('.')[-1]


# ----------------------------------------------------------------------------- model labels
def arch_info(backbone: Optional[dict]) -> Tuple[Optional[str], str]:
    """(canonical arch or None when customised, label like 'ViT-B/16')."""
    backbone = backbone or {}
    arch = backbone.get('arch', 'base')
    if isinstance(arch, dict):
        dims = arch.get('embed_dims')
        depth = arch.get('num_layers', arch.get('depth'))
        name, patch = None, backbone.get('patch_size', 16)
    else:
        name, dims, depth, patch = ARCHS.get(str(arch), (None, None, None, 16))
        patch = backbone.get('patch_size', patch)
        if name is None:
            return None, f'ViT-{arch}/{patch}'
    dims_o = backbone.get('embed_dims', dims)
    depth_o = backbone.get('depth', backbone.get('num_layers', depth))
    if name is not None and (dims_o, depth_o) == (dims, depth):
        return name, f'ViT-{ARCH_LETTER[name]}/{patch}'
    return None, f'ViT(dim {dims_o}, depth {depth_o})/{patch}'


def _teacher_label(teacher: Optional[dict]) -> Tuple[str, Optional[str]]:
    """('bootstrap, stage-1 depth 12' | 'external ViT-L/16 (file.pth)', external arch)."""
    teacher = teacher or {}
    init = teacher.get('init_cfg') or {}
    if isinstance(init, list):
        init = next((c for c in init if c.get('type') == 'Pretrained'), {})
    if init.get('type') == 'Pretrained':
        arch, label = arch_info(teacher)
        ckpt = init.get('checkpoint')
        return (f'external {label}' + (f' ({osp.basename(ckpt)})' if ckpt else ''),
                arch or label)
    depth = teacher.get('depth')
    if depth is None:
        depth = ARCHS.get(str(teacher.get('arch', 'base')), (None, None, '?'))[2]
    return f'bootstrap, stage-1 depth {depth}', None


# ----------------------------------------------------------------------------- pretraining
def pretrain_row(name: str, log: WorkDirLog, issues: List[Issue]) -> PretrainRow:
    """Model, teacher, stages, progress, final loss per stage and throughput of one run."""
    cfg = log.cfg
    _, model = arch_info(cfg_get(cfg, 'model.backbone'))
    teacher, ext_arch = _teacher_label(cfg_get(cfg, 'model.teacher'))
    planned = cfg_get(cfg, 'train_cfg.max_epochs')
    hook = next((h for h in cfg.get('custom_hooks') or []
                 if isinstance(h, dict) and h.get('type') == 'DBotBootstrapHook'), None)
    notes = []
    if hook is not None:
        stages = list(hook.get('stage_epochs', [0, planned or 0]))
    else:
        stages = [0, planned or 0]
        notes.append('no DBotBootstrapHook: one stage')
    done = log.progress.epochs
    status = _status(done, planned, 'ep', log, issues)
    ipe = log.progress.iters_per_epoch
    curve, unit = _loss_curve(log.train, ipe)
    stage_losses = _stage_losses(log.train, stages, done, ipe)
    if log.train and not _epochs_known(log.train, ipe):
        notes.append('epoch of the loss lines unknown: losses not split by stage')
    times = [float(r['time']) for r in log.train if _is_number(r.get('time'))]
    time_iter = statistics.median(times) if times else None
    batch = cfg_get(cfg, 'train_dataloader.batch_size')
    world_size, ws_notes = _world_size(log)
    notes.extend(ws_notes)
    img_s = None
    if time_iter and batch and world_size:
        img_s = batch * world_size / time_iter
    notes.extend(_common_notes(log))
    if not log.train:
        issues.append(Issue(_where(log), None, 'no training lines in the logs'))
        notes.append('no training lines')
    return PretrainRow(
        run=name, work_dir=log.path, config=log.config_name or '', model=model,
        teacher=teacher, stages=stages, epochs_done=done, epochs_planned=planned, status=status,
        stage_losses=stage_losses, time_iter=time_iter, batch=batch, world_size=world_size,
        img_s=img_s, notes=notes, loss_curve=curve, curve_unit=unit,
        external_teacher_arch=ext_arch)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _epochs_known(train: List[dict], ipe: Optional[int]) -> bool:
    return all('epoch' in r for r in train) or bool(ipe)


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
        in_stage = [r for r in train if _is_number(r.get('loss'))
                    and (e := _record_epoch(r, ipe)) is not None and lo < e <= hi]
        loss = float(in_stage[-1]['loss']) if in_stage else None
        state = 'done' if done >= hi else ('unfinished' if done > lo or in_stage
                                           else 'not reached')
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


def _common_notes(log: WorkDirLog) -> List[str]:
    notes = []
    n_train = len(log.train_sessions)
    if n_train > 1:
        notes.append(f'resumed ({n_train} sessions merged)')
    if log.bad_lines:
        notes.append(f'{log.bad_lines} unreadable log line(s), see stderr')
    return notes


def _where(log: WorkDirLog) -> str:
    """The file an issue about the whole run points at: the last scalars or log file."""
    for s in reversed(log.sessions):
        if s.scalars_file or s.log_file:
            return s.scalars_file or s.log_file
    return log.path


def _status(done: int, planned: Optional[int], unit: str, log: WorkDirLog,
            issues: List[Issue]) -> str:
    """'finished' or 'unfinished 3/10 ep' (also reported on stderr at the last train line)."""
    if planned is None:
        issues.append(Issue(_where(log), None, f'planned length unknown (no train_cfg.max_'
                            f'{"epochs" if unit == "ep" else "iters"} in the config)'))
        return f'{done} {unit} done, planned unknown'
    if done >= planned:
        return 'finished'
    path, line = log.train[-1]['_src'] if log.train else (_where(log), None)
    issues.append(Issue(path, line, f'unfinished run: {done}/{planned} {unit} '
                        '(last training line here)'))
    return f'unfinished {done}/{planned} {unit}'


# ----------------------------------------------------------------------------- downstream
def init_checkpoint(log: WorkDirLog) -> Tuple[Optional[str], Optional[str]]:
    """(checkpoint the run started from, its key prefix), from the first session's config.

    ``model.backbone.init_cfg`` (type Pretrained) first, else ``load_from`` unless it is a
    resume (``resume=True`` or a checkpoint inside the run's own work dir).
    """
    cfg = log.first_cfg or log.cfg
    init = cfg_get(cfg, 'model.backbone.init_cfg')
    for c in (init if isinstance(init, list) else [init]):
        if isinstance(c, dict) and c.get('type') == 'Pretrained' and c.get('checkpoint'):
            return str(c['checkpoint']), c.get('prefix')
    load_from = cfg.get('load_from')
    if load_from and not cfg.get('resume'):
        own = osp.realpath(log.path) + os.sep
        if not osp.realpath(str(load_from)).startswith(own):
            return str(load_from), None
    return None, None


def link_checkpoint(ckpt: str, pretrain_dirs: List[str]) -> Optional[str]:
    """The scanned pretraining work dir a checkpoint path lies in.

    A path that exists here is matched by its real location. Logs copied from a cluster keep
    the cluster's (or a relative) path, so failing that the longest run of folder names shared
    by the checkpoint's folders and the work dir's tail decides (ties: no link).
    """
    real = osp.realpath(ckpt)
    for wd in pretrain_dirs:
        if real.startswith(osp.realpath(wd) + os.sep):
            return wd
    parts = [p for p in osp.normpath(ckpt).split(os.sep) if p not in ('', '.')][:-1]
    best, best_score, tie = None, 0, False
    for wd in pretrain_dirs:
        wparts = [p for p in osp.realpath(wd).split(os.sep) if p]
        score = 0
        for end in range(len(parts), 0, -1):  # align a folder of the path with the wd's name
            n = 0
            while n < end and n < len(wparts) and parts[end - 1 - n] == wparts[-1 - n]:
                n += 1
            score = max(score, n)
        if score > best_score:
            best, best_score, tie = wd, score, False
        elif score == best_score and score > 0:
            tie = True
    return None if tie else best


def _dataset_type(cfg: dict) -> Optional[str]:
    """The validation data set's type, looking through wrappers like RepeatDataset."""
    ds = cfg_get(cfg, 'val_dataloader.dataset') or cfg_get(cfg, 'train_dataloader.dataset')
    while isinstance(ds, dict) and str(ds.get('type')).split('.')[-1] in DATASET_WRAPPERS:
        ds = ds.get('dataset') or (ds.get('datasets') or [None])[0]
    return str(ds.get('type')).split('.')[-1] if isinstance(ds, dict) else None


def _schedule(cfg: dict) -> Tuple[Optional[int], str]:
    """(planned length, 'ep' | 'it') from ``train_cfg``."""
    tc = cfg.get('train_cfg') or {}
    if tc.get('type') == 'IterBasedTrainLoop' or ('max_iters' in tc and 'max_epochs' not in tc):
        return tc.get('max_iters'), 'it'
    return tc.get('max_epochs'), 'ep'


def _val_position(cfg: dict, unit: str, log: WorkDirLog, issues: List[Issue]):
    """How to print a validation record's ``step``: epoch, iteration, or its index when an
    iteration-based run logged metrics 'by epoch' (every step 0, DESIGN section 6)."""
    by_epoch = cfg_get(cfg, 'default_hooks.logger.log_metric_by_epoch', True)
    if not by_epoch:
        return lambda rec, k: (rec['step'], f'it {rec["step"]}'), 'iteration'
    if unit == 'ep':
        return lambda rec, k: (rec['step'], f'ep {rec["step"]}'), 'epoch'
    if log.val:
        path, line = log.val[0]['_src']
        issues.append(Issue(path, line, 'validation logged with step = epoch (0) in an '
                            'iteration-based run (log_metric_by_epoch=True): shown by order'))
    return lambda rec, k: (k, f'val #{k}'), 'validation #'


def _protocol(cfg: dict) -> str:
    """'linear probe' when the backbone is frozen (``frozen_stages`` or, as in our linear-probe
    config, ``paramwise_cfg.custom_keys['backbone'].lr_mult == 0``), else 'fine-tune': the
    paper's ImageNet numbers are fine-tuning numbers."""
    frozen = cfg_get(cfg, 'model.backbone.frozen_stages', 0) or 0
    keys = cfg_get(cfg, 'optim_wrapper.paramwise_cfg.custom_keys') or {}
    backbone = keys.get('backbone') if isinstance(keys, dict) else None
    if frozen > 0 or (isinstance(backbone, dict) and backbone.get('lr_mult', 1) == 0):
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


def downstream_rows(name: str, log: WorkDirLog, init: str, teacher: str, paper: dict,
                    issues: List[Issue]) -> List[MetricRow]:
    """Rows for every metric of the run's task: last validation value (+ best), and test
    results (multi-scale when the test ran a TTA model), each next to the paper's number."""
    cfg = log.cfg
    task, method, detector = DOWNSTREAM_MODELS[_model_type(cfg)]
    if task == 'imagenet':
        method = _protocol(cfg)
    arch, arch_label = arch_info(cfg_get(cfg, 'model.backbone'))
    img_size = cfg_get(cfg, 'model.backbone.img_size', 224)
    if isinstance(img_size, (list, tuple)):
        img_size = img_size[0]
    dataset = _dataset_type(cfg)
    planned, unit = _schedule(cfg)
    done = log.progress.epochs if unit == 'ep' else log.progress.iters
    status = ('test only' if not log.train and log.test_sessions
              else _status(done, planned, unit, log, issues))
    attrs = dict(task=task if dataset == TASK_DATASETS[task] else None, arch=arch,
                 teacher=teacher, protocol=method if task == 'imagenet' else None,
                 detector=detector, input_size=img_size)
    base_notes = _common_notes(log)
    if attrs['task'] is None:
        base_notes.append(f'no paper number for data set {dataset}')
    position, curve_unit = _val_position(cfg, unit, log, issues)
    scalars = _where(log)
    rows = []
    for metric, key, scale in TASK_METRICS[task]:
        shown = f'{metric} (ss)' if task == 'ade20k' else metric
        row = MetricRow(run=name, work_dir=log.path, task=TASK_TITLES[task], method=method,
                        metric=shown, init=init, notes=list(base_notes),
                        curve_unit=curve_unit)
        vals = [r for r in log.val if _is_number(r.get(key))]
        if vals:
            points = [(position(r, k + 1), float(r[key]) * scale) for k, r in enumerate(vals)]
            (_, row.last_at), row.last = points[-1]
            (_, row.best_at), row.best = max(points, key=lambda p: p[1])
            row.curve = [(x, v) for (x, _), v in points]
        else:
            issues.append(Issue(scalars, None, f'no metric: no validation value of {key!r}'
                                + ('' if log.val else ' (no validation lines at all)')))
        row.status = status if vals else f'{status}; no metric'
        _add_refs(row, paper, metric, dict(attrs, eval='ss'))
        rows.append(row)
        rows.extend(_test_rows(row, log, metric, key, scale, task, attrs, paper, status))
    if arch is None:
        for row in rows:
            row.notes.append(f'custom arch {arch_label}: no paper number')
    return rows


def _test_rows(val_row: MetricRow, log: WorkDirLog, metric: str, key: str, scale: float,
               task: str, attrs: dict, paper: dict, status: str) -> List[MetricRow]:
    """The last plain test and the last TTA test of the run (``tools/test.py`` results)."""
    rows = []
    for tta in (False, True):
        runs = [s for s in log.test_sessions
                if _is_tta(s.cfg) == tta and _is_number(s.test.get(key))]
        if not runs:
            continue
        s = runs[-1]
        if tta:
            shown = f'{metric} (ms)' if task == 'ade20k' else f'{metric} (TTA)'
        else:
            shown = f'{metric} (ss, test)' if task == 'ade20k' else f'{metric} (test)'
        at = osp.basename(s.loaded_checkpoint) if s.loaded_checkpoint else s.timestamp
        row = MetricRow(run=val_row.run, work_dir=val_row.work_dir, task=val_row.task,
                        method=val_row.method, metric=shown, last=float(s.test[key]) * scale,
                        last_at=f'test {at}', status=status, init=val_row.init,
                        notes=list(val_row.notes))
        if len(runs) > 1:
            row.notes.append(f'{len(runs)} test runs, the last shown')
        _add_refs(row, paper, metric, dict(attrs, eval='ms' if tta else 'ss'))
        rows.append(row)
    return rows


def _is_tta(cfg: Optional[dict]) -> bool:
    return 'TTA' in _model_type(cfg)


def _add_refs(row: MetricRow, paper: dict, metric: str, attrs: dict) -> None:
    ours, base = _lookup(paper, metric, attrs)
    if ours:
        row.ref_method, row.ref = ours['method'], float(ours['value'])
        row.delta = None if row.last is None else row.last - row.ref
    if base:
        row.baseline_method, row.baseline = base['method'], float(base['value'])
        row.baseline_delta = None if row.last is None else row.last - row.baseline
