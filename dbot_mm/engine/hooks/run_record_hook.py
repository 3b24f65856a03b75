"""Keep ``WORK_DIR/run_record.json``: what the run is and how far it got, for the benchmark tables
(``dbot_mm/reporting``), which read it and each launch's ``vis_data/scalars.json`` (mmengine's
``LocalVisBackend``) instead of log text.

Rank 0 rewrites it atomically at ``before_train`` / ``before_test``, every checkpoint, epoch end
and validation, ``after_train`` and ``after_test_epoch``. Each launch (a resumed run has several)
adds an entry. mmengine has no hook for a run that fails, so an exception or ``sys.exit`` is
recorded at interpreter exit (``atexit``); a launch killed outright stays ``running`` until the
next one marks it ``killed``.
"""
import atexit
import json
import os
import os.path as osp
import sys
import time

from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ...models.backbones.vit import ARCH_SETTINGS
from ...utils.checkpoint import atomic_write, read_meta
from .bootstrap_hook import DBotBootstrapHook
from .preemption_hook import PreemptionHook

RUN_RECORD = 'run_record.json'


def _get(cfg, dotted: str):
    for key in dotted.split('.'):
        cfg = cfg.get(key) if isinstance(cfg, dict) else None
    return cfg


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def _checkpoint(path) -> dict:
    """A checkpoint and its ``meta`` (without the config text and class names it repeats)."""
    out = dict(checkpoint=path)
    try:
        meta, _ = read_meta(path) if osp.isfile(path) else (None, None)
    except Exception as e:  # a table must still know where the run started
        meta = dict(unreadable=f'{type(e).__name__}: {e}')
    if meta is not None:
        out['meta'] = _jsonable({k: v for k, v in meta.items() if k not in ('cfg', 'dataset_meta')})
    return out


def _pretrained(init_cfg):
    for c in init_cfg if isinstance(init_cfg, list) else [init_cfg]:
        if isinstance(c, dict) and c.get('type') == 'Pretrained' and c.get('checkpoint'):
            return c


def vit_facts(module):
    """Width and depth of a built ViT (DBotViT, mmpretrain's, CLIPTeacher) and its arch name."""
    if module is None:
        return None
    dims = getattr(module, 'embed_dims', None)
    depth = getattr(module, 'depth', getattr(module, 'num_layers', None))
    arch = next((a for a, (d, n, _) in ARCH_SETTINGS.items() if (d, n) == (dims, depth)), None)
    return dict(type=type(module).__name__, arch=arch, embed_dims=dims, depth=depth)


def _unrecorded(runner) -> list:
    """Launches of a work dir from before run records: their scalars count too."""
    found = []
    for name in sorted(os.listdir(runner.work_dir)):
        scalars = osp.join(name, 'vis_data', 'scalars.json')
        if name != runner.timestamp and osp.isfile(osp.join(runner.work_dir, scalars)):
            found.append(dict(timestamp=name, mode='train', status='unknown', scalars=scalars))
    return found


@HOOKS.register_module()
class RunRecordHook(Hook):
    """Args:
        filename: the record's name in the work dir.
    """
    priority = 'LOWEST'  # after the checkpoint, bootstrap and logger hooks of each event

    def __init__(self, filename: str = RUN_RECORD):
        self.filename = filename
        self.record, self.launch, self.path = None, None, None

    # ------------------------------------------------------------------------- launches
    def before_train(self, runner) -> None:
        self._start(runner, 'train')

    def before_test(self, runner) -> None:
        self._start(runner, 'test')

    def _start(self, runner, mode: str) -> None:
        if not is_main_process():
            return
        self.path = osp.join(runner.work_dir, self.filename)
        record = self._read(runner)
        trained = any(x['mode'] == 'train' and 'cwd' in x for x in record['launches'])
        for old in record['launches']:
            if old['status'] == 'running':
                old['status'] = 'killed'  # it ended without a trace
        cfg = _jsonable(runner.cfg.to_dict())
        load_from, resume = cfg.get('load_from'), bool(cfg.get('resume'))
        self.launch = dict(
            timestamp=runner.timestamp,
            mode=mode,
            status='running',
            started=time.strftime('%Y-%m-%d %H:%M:%S'),
            cwd=os.getcwd(),
            world_size=get_world_size(),
            seed=runner.seed,
            load_from=load_from,
            resume=resume,
            scalars=osp.relpath(
                osp.join(runner.log_dir, 'vis_data', 'scalars.json'), runner.work_dir))
        if mode == 'train':
            ckpt = next((h for h in runner.hooks if isinstance(h, CheckpointHook)), None)
            if ckpt is not None and isinstance(ckpt.out_dir, str):  # set by its before_train
                record['checkpoint_dir'] = osp.abspath(ckpt.out_dir)
            self.launch.update(
                start_epoch=runner.epoch,
                start_iter=runner.iter,
                iters_per_epoch=len(runner.train_dataloader))
            record.update(epoch=runner.epoch, iter=runner.iter, status='running')
        record['launches'].append(self.launch)
        if mode == 'train' or 'config' not in record:
            record.update(
                work_dir=osp.abspath(runner.work_dir),
                config_name=osp.splitext(osp.basename(runner.cfg.filename or ''))[0] or None,
                config=cfg)
        if not trained and (mode == 'train' or 'model' not in record):
            record.update(self._origin(runner, cfg, mode))
        self.record = record
        self._pid = os.getpid()
        atexit.register(self._at_exit)
        self._write(runner)

    def _read(self, runner) -> dict:
        if not osp.isfile(self.path):
            return dict(type='RunRecord', version=1, launches=_unrecorded(runner))
        try:
            with open(self.path, encoding='utf-8') as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f'{self.path}: unreadable run record ({e}); move it away to start '
                             'a new one') from None

    @staticmethod
    def _origin(runner, cfg: dict, mode: str) -> dict:
        """Where the weights start (``model.backbone.init_cfg``, else a ``load_from`` that is not
        a resume or the run's own checkpoint), the teacher's checkpoint and the built ViTs."""
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        init, teacher, load_from = None, None, cfg.get('load_from')
        c = _pretrained(_get(cfg, 'model.backbone.init_cfg'))
        if c is not None:
            init = dict(_checkpoint(c['checkpoint']), prefix=c.get('prefix'))
        elif (mode == 'train' and load_from and not cfg.get('resume')
              and osp.dirname(osp.abspath(load_from)) != osp.abspath(runner.work_dir)):
            init = dict(_checkpoint(load_from), prefix=None)
        t = _get(cfg, 'model.teacher') or {}
        t = (_pretrained(t.get('init_cfg')) or {}).get('checkpoint') or t.get('checkpoint')
        if t:
            teacher = _checkpoint(t)
        facts = dict(
            type=type(model).__name__,
            backbone=vit_facts(getattr(model, 'backbone', None)),
            teacher=vit_facts(getattr(model, 'teacher', None)))
        return dict(init=init, teacher=teacher, model=facts)

    # ------------------------------------------------------------------------- progress
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        pre = next((h for h in runner.hooks if isinstance(h, PreemptionHook)), None)
        if pre is not None and (pre._received or pre._deferred):  # its save before it exits
            self._set_status('preempted')
        self._write(runner, meta.get('epoch'), meta.get('iter'))

    def after_train_epoch(self, runner) -> None:
        self._write(runner, runner.epoch + 1, runner.iter)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.launch is not None and self.launch['mode'] == 'train':
            self._write(runner, runner.epoch, runner.iter)

    def after_train(self, runner) -> None:
        self._set_status('finished')
        self._write(runner, runner.epoch, runner.iter)
        atexit.unregister(self._at_exit)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self.launch is not None:
            self.launch.update(status='finished', test=_jsonable(dict(metrics or {})))
            self._write(runner)
            atexit.unregister(self._at_exit)

    # ------------------------------------------------------------------------- writing
    def _set_status(self, status: str) -> None:
        if self.launch is not None:
            self.launch['status'] = status
            if self.launch['mode'] == 'train':
                self.record['status'] = status

    def _at_exit(self) -> None:
        """The launch ended before ``after_train``: an exception, a preemption or an exit."""
        if (self.launch is None or self.launch['status'] != 'running' or os.getpid() != self._pid
                or not osp.isfile(self.path)):
            return
        err = getattr(sys, 'last_value', None)  # an uncaught exception, as the interpreter printed
        why = '' if err is None else f': {type(err).__name__}: {err}'.splitlines()[0]
        self._set_status('stopped' + why)
        self._dump()

    def _write(self, runner, epoch=None, iter=None) -> None:
        if self.record is None:
            return
        if epoch is not None and self.launch['mode'] == 'train':
            self.record.update(epoch=epoch, iter=iter)
        hook = next((h for h in runner.hooks if isinstance(h, DBotBootstrapHook)), None)
        if hook is not None:
            snapshots = self.record.setdefault('snapshots', {})
            snapshots.update({
                str(k): osp.relpath(p, runner.work_dir)
                for k, p in hook.snapshots.items()
            })
            self.record.update(stage_epochs=hook.stage_epochs, stage=hook.stage)
        self.launch['updated'] = time.strftime('%Y-%m-%d %H:%M:%S')
        self._dump()

    def _dump(self) -> None:
        atomic_write(json.dumps(self.record, indent=1, default=str) + '\n', self.path)
