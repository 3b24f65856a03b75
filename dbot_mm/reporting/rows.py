"""Table rows of one run: a pretraining row, or one row per metric of a downstream run next to
the paper's number. Nothing is invented: a missing number stays empty and ``status`` / ``notes``
say why."""
import os.path as osp
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from . import labels as L
from .paper import lookup
from .record import Issue, Run, cfg_get


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
    teacher_key: Optional[str] = None  # of paper_results.json for its downstream rows
    knn_curves: Dict[str, List[Tuple[int, float]]] = field(default_factory=dict)  # KNNWatchHook


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
    seed: Optional[int] = None  # of the run (seed summary)
    config: str = ''  # the run's config name (seed summary)
    source: str = ''  # pretraining config name | 'random init' | 'raw pixels' | checkpoint


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _where(run: Run) -> str:
    """The file an issue about the whole run points at: its last scalars file, or the dir."""
    files = [osp.join(run.path, x.get('scalars', '')) for x in run.launches('train')]
    return next((f for f in reversed(files) if osp.isfile(f)), run.path)


def _status(run: Run, planned: Optional[int], unit: str, issues: List[Issue]) -> str:
    """'finished' | 'unfinished 3/10 ep' | 'preempted ...' | 'stopped ...' (also an issue at the
    last train line)."""
    done = run.record.get('epoch' if unit == 'ep' else 'iter') or 0
    if planned is None:
        issues.append(
            Issue(
                _where(run), None, 'planned length unknown (no train_cfg.max_'
                f'{"epochs" if unit == "ep" else "iters"} in the config)'))
        return f'{done} {unit} done, planned unknown'
    if done >= planned:
        return 'finished'
    state = str(run.record.get('status', 'running'))
    word = state.split(':')[0] if state.startswith(('preempted', 'stopped')) else 'unfinished'
    path, line = run.train[-1]['_src'] if run.train else (_where(run), None)
    issues.append(
        Issue(
            path, line, f'unfinished run: {done}/{planned} {unit} (last training line '
            f'here; record status: {state})'))
    return f'{word} {done}/{planned} {unit}'


def _notes(run: Run) -> List[str]:
    notes, n = [], len(run.launches('train'))
    if n > 1:
        notes.append(f'resumed ({n} launches merged)')
    if str(run.record.get('status', '')).startswith('stopped:'):
        notes.append(run.record['status'])
    if run.bad_lines:
        notes.append(f'{run.bad_lines} unreadable log line(s), see stderr')
    return notes


def _world_size(run: Run) -> Tuple[Optional[int], List[str]]:
    sizes = [x['world_size'] for x in run.launches('train') if x.get('world_size')]
    if not sizes:
        return None, ['world size unknown (no launch recorded it)']
    if len(set(sizes)) > 1:
        return sizes[-1], [f'GPUs changed across launches {sizes}: img/s uses the last']
    return sizes[-1], []


# ----------------------------------------------------------------------------- pretraining
def pretrain_row(name: str, run: Run, issues: List[Issue]) -> PretrainRow:
    """Model, teacher, stages, progress, final loss per stage and throughput of one run."""
    cfg, rec = run.cfg, run.record
    planned = cfg_get(cfg, 'train_cfg.max_epochs')
    stages = list(rec.get('stage_epochs') or [0, planned or 0])
    notes = ['no DBotBootstrapHook: one stage'] if (L.model_type(cfg) == 'DBOT'
                                                    and not rec.get('stage_epochs')) else []
    ipe = next((x['iters_per_epoch']
                for x in reversed(run.launches('train')) if x.get('iters_per_epoch')), None)
    times = [float(r['time']) for r in run.train if is_number(r.get('time'))]
    time_iter = statistics.median(times) if times else None
    batch = cfg_get(cfg, 'train_dataloader.batch_size')
    world_size, ws_notes = _world_size(run)
    if not run.train:
        issues.append(Issue(_where(run), None, 'no training lines in the logs'))
        notes.append('no training lines')
    teacher, key = L.teacher_label(run)
    losses = [r for r in run.train if is_number(r.get('loss'))]
    if ipe:
        curve, unit = [(int(r['iter']) / ipe, float(r['loss'])) for r in losses], 'epoch'
    else:
        curve, unit = [(float(r['iter']), float(r['loss'])) for r in losses], 'iteration'
    # KNNWatchHook's step is the epoch from 1; the teacher's is the first it teaches, drawn at
    # the stage boundary (epochs done)
    knn = {
        who: [(int(r['step']) - shift, float(r[f'knn/{who}_top1'])) for r in run.val
              if is_number(r.get(f'knn/{who}_top1'))]
        for who, shift in (('student', 0), ('teacher', 1))
    }
    return PretrainRow(
        run=name,
        work_dir=run.path,
        config=rec.get('config_name') or '',
        model=L.model_label(run),
        teacher=teacher,
        stages=stages,
        epochs_done=rec.get('epoch') or 0,
        epochs_planned=planned,
        status=_status(run, planned, 'ep', issues),
        stage_losses=_stage_losses(losses, stages,
                                   rec.get('epoch') or 0, ipe),
        time_iter=time_iter,
        batch=batch,
        world_size=world_size,
        img_s=batch * world_size / time_iter if time_iter and batch and world_size else None,
        notes=notes + ws_notes + _notes(run),
        loss_curve=curve,
        curve_unit=unit,
        teacher_key=key,
        knn_curves=knn)


def _stage_losses(losses: List[dict], stages: List[int], done: int, ipe: Optional[int]):
    """Last logged loss of each stage k (epochs stages[k-1]+1 .. stages[k]) and its state:
    'done' (stage finished), 'unfinished' (training stopped inside it), 'not reached'."""

    def epoch(r):  # 1-based
        return int(r['epoch']) if 'epoch' in r else -(-int(r['iter']) // ipe) if ipe else None

    out = []
    for k in range(1, len(stages)):
        lo, hi = stages[k - 1], stages[k]
        inside = [r for r in losses if (e := epoch(r)) is not None and lo < e <= hi]
        state = 'done' if done >= hi else ('unfinished' if done > lo or inside else 'not reached')
        out.append((k, float(inside[-1]['loss']) if inside else None, state))
    return out


# ----------------------------------------------------------------------------- downstream
def _position(cfg: dict, unit: str, run: Run, issues: List[Issue]):
    """How to print a validation line's ``step``: epoch, iteration, or its index when an
    iteration-based run logged metrics 'by epoch' (mmengine then logs every step as 0)."""
    if not cfg_get(cfg, 'default_hooks.logger.log_metric_by_epoch', True):
        return lambda rec, k: (rec['step'], f'it {rec["step"]}'), 'iteration'
    if unit == 'ep':
        return lambda rec, k: (rec['step'], f'ep {rec["step"]}'), 'epoch'
    if run.val:
        issues.append(
            Issue(
                *run.val[0]['_src'], 'validation logged with step = epoch (0) in '
                'an iteration-based run (log_metric_by_epoch=True): shown by order'))
    return lambda rec, k: (k, f'val #{k}'), 'validation #'


def _add_refs(row: MetricRow, paper: dict, metric: str, attrs: dict) -> None:
    ours, base = lookup(paper, metric, attrs)
    if ours:
        row.ref_method, row.ref = ours['method'], float(ours['value'])
        row.delta = None if row.last is None else row.last - row.ref
    if base:
        row.baseline_method, row.baseline = base['method'], float(base['value'])
        row.baseline_delta = None if row.last is None else row.last - row.baseline


def run_seed(run: Run) -> Optional[int]:
    """``randomness.seed`` of the resolved config, else the seed the runner drew."""
    seed = cfg_get(run.cfg, 'randomness.seed')
    seeds = [x.get('seed') for x in run.launches('train') + run.launches('test')]
    return seed if is_number(seed) else next((s for s in seeds if s is not None), None)


def downstream_rows(name: str, run: Run, init: str, teacher: str, paper: dict,
                    issues: List[Issue]) -> List[MetricRow]:
    """Rows for every metric of the run's task: the last validation value (and the best), and
    the last ``tools/test.py`` result, each next to the paper's number."""
    cfg = run.cfg
    task, method, detector = L.DOWNSTREAM_MODELS[L.model_type(cfg)]
    dataset = L.dataset_type(cfg)
    if task == 'imagenet':
        task, method = L.classification_task(dataset), L.protocol(cfg)
    metrics = L.TASK_METRICS.get(task, L.CLASSIFICATION_METRICS)
    arch = cfg_get(run.record, 'model.backbone.arch')
    img_size = cfg_get(cfg, 'model.backbone.img_size', 224)
    tc = cfg.get('train_cfg') or {}
    iters = tc.get('type') == 'IterBasedTrainLoop' or ('max_iters' in tc and 'max_epochs' not in tc)
    unit, planned = ('it', tc.get('max_iters')) if iters else ('ep', tc.get('max_epochs'))
    trained = bool(run.train or run.launches('train'))
    status = _status(run, planned, unit, issues) if trained else 'test only'
    attrs = dict(
        task=task if L.TASKS.get(dataset, ('', ))[0] == task else None,
        arch=arch,
        teacher=teacher,
        protocol=method if metrics is L.CLASSIFICATION_METRICS else None,
        detector=detector,
        input_size=img_size[0] if isinstance(img_size, (list, tuple)) else img_size)
    notes = _notes(run)
    if attrs['task'] is None:
        notes.append(f'no paper number for data set {dataset}')
    if arch is None:
        notes.append(f'custom arch {L.model_label(run)}: no paper number')
    position, curve_unit = _position(cfg, unit, run, issues)
    tests = [x for x in run.launches('test') if x.get('status') == 'finished']
    rows = []
    for metric, key, scale in metrics:
        row = MetricRow(
            run=name,
            work_dir=run.path,
            task=L.TASK_TITLES[task],
            method=method,
            metric=metric,
            init=init,
            notes=list(notes),
            curve_unit=curve_unit,
            seed=run_seed(run),
            config=run.record.get('config_name') or '')
        vals = [r for r in run.val if is_number(r.get(key))]
        if vals:
            points = [(position(r, k + 1), float(r[key]) * scale) for k, r in enumerate(vals)]
            (_, row.last_at), row.last = points[-1]
            (_, row.best_at), row.best = max(points, key=lambda p: p[1])
            row.curve = [(x, v) for (x, _), v in points]
        elif trained:
            issues.append(
                Issue(
                    _where(run), None, f'no metric: no validation value of {key!r}' +
                    ('' if run.val else ' (no validation lines at all)')))
        row.status = status if vals or not trained else f'{status}; no metric'
        _add_refs(row, paper, metric, attrs)
        if attrs['task'] not in (None, 'imagenet', 'coco',
                                 'ade20k') and not (row.ref or row.baseline):
            row.notes.append('no paper number (none in paper_results.json)')
        rows.append(row)
        done = [x for x in tests if is_number((x.get('test') or {}).get(key))]
        if done:
            test = MetricRow(**{**row.__dict__, 'best': None, 'best_at': '', 'curve': []})
            x = done[-1]
            test.metric, test.last = f'{metric} (test)', float(x['test'][key]) * scale
            test.status = status
            test.last_at = f'test {osp.basename(x["load_from"] or "") or x["timestamp"]}'
            test.notes = list(notes) + ([f'{len(done)} test runs, the last shown']
                                        if len(done) > 1 else [])
            _add_refs(test, paper, metric, attrs)
            rows.append(test)
    return rows
