"""Read what an mmengine (0.10.x) run leaves in its work dir.

Layout written by ``mmengine.runner.Runner`` (one *session* per launch; a resumed run has several):

    WORK_DIR/<config_name>.py                      config dumped by every launch (the last wins)
    WORK_DIR/<YYYYMMDD_HHMMSS>/<ts>.log             text log: env info ('GPU number'),
                                                   'Checkpoints will be saved to DIR.',
                                                   'Epoch(train) [e][i/n]', 'Saving checkpoint at'
    WORK_DIR/<ts>/vis_data/scalars.json            LocalVisBackend: one JSON object a line;
                                                   train lines carry 'iter' (and 'epoch'),
                                                   validation lines only metrics (+ time) and 'step'
    WORK_DIR/<ts>/vis_data/<ts>.json               the same lines again (LoggerHook json_log_path)
    WORK_DIR/<ts>/vis_data/config.py               config of that launch
    WORK_DIR/<ts>/<ts>.json                        test result of a ``tools/test.py`` launch
    WORK_DIR/epoch_N.pth | iter_N.pth | last_checkpoint | dbot_stage{k}_epoch_{N}.pth

A frozen-feature evaluation (k-NN + linear probe, no Runner) writes ``frozen_eval.json`` (+ a
text log) instead; :mod:`.frozen` reads it.

Nothing is dropped silently: every line that cannot be read becomes an :class:`Issue`
(``file:line: message``).
"""
import json
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from mmengine.config import Config

FROZEN_EVAL = 'frozen_eval.json'
TIMESTAMP_RE = re.compile(r'^\d{8}_\d{6}$')
_TRAIN_EPOCH_RE = re.compile(r'Epoch\(train\)\s*\[\s*(\d+)\]\s*\[\s*(\d+)\s*/\s*(\d+)\]')
_TRAIN_ITER_RE = re.compile(r'Iter\(train\)\s*\[\s*(\d+)\s*/')
_VAL_EPOCH_RE = re.compile(r'Epoch\(val\)\s*\[\s*(\d+)\]\s*\[\s*(\d+)\s*/\s*(\d+)\]')
_SAVE_RE = re.compile(r'Saving checkpoint at (\d+) (epochs|iterations)')
_STAGE_SAVE_RE = re.compile(r'end of stage \d+ saved to (\S+)')
_GPU_RE = re.compile(r'^\s*GPU number:\s*(\d+)\s*$')
_SEED_RE = re.compile(r'^\s*seed:\s*(\d+)\s*$')  # 'Runtime environment' of the .log
_CKPT_DIR_RE = re.compile(r'Checkpoints will be saved to (.+)\.\s*$')  # mmengine CheckpointHook
_LOAD_RE = re.compile(r'Load checkpoint from (\S+)')
_CKPT_RE = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
_SNAPSHOT_RE = re.compile(r'^dbot_stage(\d+)_epoch_(\d+)\.pth$')


@dataclass
class Issue:
    """A problem found in the logs; printed as ``path:line: message`` like a compiler."""
    path: str
    line: Optional[int]
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f'{self.path}:{self.line}'
        return f'{where}: {self.message}'


@dataclass
class TrainProgress:
    """Evidence of how far training got, from every source that shows it (max wins)."""
    epochs: int = 0
    iters: int = 0
    iters_per_epoch: Optional[int] = None

    def update(self, other: 'TrainProgress') -> None:
        self.epochs = max(self.epochs, other.epochs)
        self.iters = max(self.iters, other.iters)
        self.iters_per_epoch = other.iters_per_epoch or self.iters_per_epoch


@dataclass
class Session:
    """One launch of the runner: a ``WORK_DIR/<timestamp>/`` folder."""
    timestamp: str
    path: str
    log_file: Optional[str] = None
    scalars_file: Optional[str] = None
    config_file: Optional[str] = None
    test_file: Optional[str] = None
    world_size: Optional[int] = None
    seed: Optional[int] = None  # the seed the runner used (also a random one)
    checkpoint_dir: Optional[str] = None  # absolute, on the machine that ran it
    loaded_checkpoint: Optional[str] = None
    train: List[dict] = field(default_factory=list)
    val: List[dict] = field(default_factory=list)
    test: Optional[dict] = None
    progress: TrainProgress = field(default_factory=TrainProgress)
    cfg: Optional[dict] = None
    bad_lines: int = 0


@dataclass
class WorkDirLog:
    """Everything read from one work dir, sessions merged in timestamp order."""
    path: str
    sessions: List[Session]
    config_name: Optional[str] = None
    cfg: Optional[dict] = None  # config of the last training session
    first_cfg: Optional[dict] = None  # config of the first training session (its init ckpt)
    train: List[dict] = field(default_factory=list)
    val: List[dict] = field(default_factory=list)
    progress: TrainProgress = field(default_factory=TrainProgress)
    checkpoints: List[str] = field(default_factory=list)
    bad_lines: int = 0

    @property
    def train_sessions(self) -> List[Session]:
        return [s for s in self.sessions if s.train or s.val]

    @property
    def test_sessions(self) -> List[Session]:
        return [s for s in self.sessions if s.test is not None]


# ----------------------------------------------------------------------------- configs
def read_dumped_config(path: str) -> dict:
    """A config the runner dumped, as plain dicts (custom imports are not run: a table needs
    no model registered)."""
    return Config.fromfile(path, import_custom_modules=False).to_dict()


def cfg_get(cfg: Optional[dict], dotted: str, default: Any = None) -> Any:
    """``cfg_get(cfg, 'model.backbone.arch')`` without KeyErrors on partial configs."""
    node: Any = cfg
    for key in dotted.split('.'):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


# ----------------------------------------------------------------------------- sessions
def read_scalars(path: str, issues: List[Issue]) -> Tuple[List[dict], List[dict], int]:
    """Split ``scalars.json`` into train lines (they carry 'iter') and validation lines.

    Each record remembers its ``_src`` (file, line) so later problems can point at it. A line
    that is not a JSON object (a run killed mid-write) is an issue, never a guess.
    """
    train, val, bad = [], [], 0
    with open(path, encoding='utf-8', errors='replace') as f:
        for lineno, raw in enumerate(f, 1):
            text = raw.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as e:
                issues.append(
                    Issue(
                        path, lineno, f'unreadable JSON line skipped ({e.msg}; '
                        f'truncated?): {_shorten(text)}'))
                bad += 1
                continue
            if not isinstance(record, dict) or 'step' not in record:
                issues.append(
                    Issue(path, lineno, 'not a scalars record (no "step") skipped: '
                          f'{_shorten(text)}'))
                bad += 1
                continue
            record['_src'] = (path, lineno)
            (train if 'iter' in record else val).append(record)
    return train, val, bad


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[:width] + '...'


def read_text_log(path: str, session: Session) -> None:
    """World size, checkpoint folder, loaded checkpoint and training progress from the ``.log``.

    The text log is the only place with the iterations per epoch ('[e][i/n]') and with
    'Saving checkpoint at N epochs', which tell whether an epoch really finished.
    """
    prog = session.progress
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            m = _GPU_RE.match(line)
            if m:
                session.world_size = int(m.group(1))
                continue
            m = _SEED_RE.match(line)
            if m and session.seed is None:
                session.seed = int(m.group(1))
                continue
            m = _CKPT_DIR_RE.search(line)
            if m:
                session.checkpoint_dir = m.group(1).strip()
                continue
            m = _TRAIN_EPOCH_RE.search(line)
            if m:
                epoch, i, n = map(int, m.groups())
                prog.iters_per_epoch = n
                prog.epochs = max(prog.epochs, epoch if i == n else epoch - 1)
                prog.iters = max(prog.iters, (epoch - 1) * n + i)
                continue
            m = _TRAIN_ITER_RE.search(line)
            if m:
                prog.iters = max(prog.iters, int(m.group(1)))
                continue
            m = _VAL_EPOCH_RE.search(line)
            if m and m.group(2) == m.group(3):
                prog.epochs = max(prog.epochs, int(m.group(1)))
                continue
            m = _SAVE_RE.search(line)
            if m:
                n = int(m.group(1))
                if m.group(2) == 'epochs':
                    prog.epochs = max(prog.epochs, n)
                else:
                    prog.iters = max(prog.iters, n)
                continue
            m = _STAGE_SAVE_RE.search(line)
            m = m and _SNAPSHOT_RE.match(osp.basename(m.group(1)))
            if m:
                prog.epochs = max(prog.epochs, int(m.group(2)))
                continue
            m = _LOAD_RE.search(line)
            if m:
                session.loaded_checkpoint = m.group(1)


def read_session(path: str, issues: List[Issue]) -> Session:
    """One ``WORK_DIR/<timestamp>/`` folder: text log, scalars, config, test result."""
    ts = osp.basename(path)
    s = Session(timestamp=ts, path=path)
    log = osp.join(path, f'{ts}.log')
    if osp.isfile(log):
        s.log_file = log
        read_text_log(log, s)
    vis = osp.join(path, 'vis_data')
    for name in ('scalars.json', f'{ts}.json'):  # the second is a copy of the first
        if osp.isfile(osp.join(vis, name)):
            s.scalars_file = osp.join(vis, name)
            s.train, s.val, s.bad_lines = read_scalars(s.scalars_file, issues)
            break
    for rec in s.train:  # scalars carry the exact count of iterations done
        s.progress.iters = max(s.progress.iters, int(rec['iter']))
        if 'epoch' in rec:
            s.progress.epochs = max(s.progress.epochs, int(rec['epoch']) - 1)
    if osp.isfile(osp.join(vis, 'config.py')):
        s.config_file = osp.join(vis, 'config.py')
    test = osp.join(path, f'{ts}.json')
    if osp.isfile(test):
        s.test_file = test
        try:
            with open(test, encoding='utf-8') as f:
                s.test = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            issues.append(Issue(test, None, f'unreadable test result skipped ({e})'))
    if s.config_file:
        try:
            s.cfg = read_dumped_config(s.config_file)
        except Exception as e:  # a broken config must not hide the rest of the table
            issues.append(Issue(s.config_file, None, f'config not readable: {e}'))
    if not (s.log_file or s.scalars_file or s.test_file):
        issues.append(Issue(path, None, 'empty session folder (no .log, scalars or result)'))
    elif s.log_file and not s.scalars_file and s.test_file is None and s.progress.iters:
        issues.append(
            Issue(
                s.log_file, None, 'training logged but no vis_data/scalars.json '
                '(visualizer without LocalVisBackend?): its losses and metrics '
                'are not in the tables'))
    return s


# ----------------------------------------------------------------------------- work dirs
def is_frozen_eval_dir(path: str) -> bool:
    """A frozen-feature evaluation's work dir (k-NN + linear probe): it holds ``FROZEN_EVAL``."""
    return osp.isfile(osp.join(path, FROZEN_EVAL))


def is_work_dir(path: str) -> bool:
    """A folder with at least one ``<YYYYMMDD_HHMMSS>/`` child, the Runner's log dir, or a
    frozen-feature evaluation's folder."""
    if is_frozen_eval_dir(path):
        return True
    try:
        return any(TIMESTAMP_RE.match(n) and osp.isdir(osp.join(path, n)) for n in os.listdir(path))
    except OSError:
        return False


def find_work_dirs(path: str) -> List[str]:
    """``path`` itself when it is a work dir, else every work dir below it (sorted).

    Raises a one-line error naming the path when there is nothing to read.
    """
    if not osp.isdir(path):
        raise FileNotFoundError(f'{path}: no such directory')
    if is_work_dir(path):
        return [path]
    found = []
    for root, dirs, _ in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        if root != path and is_work_dir(root):
            found.append(root)
            dirs[:] = []  # its timestamps and checkpoints are not work dirs
    if not found:
        raise FileNotFoundError(f'{path}: no mmengine logs (no <YYYYMMDD_HHMMSS>/ folder) and no '
                                f'{FROZEN_EVAL} in it or below it')
    return found


def _merge(records: List[List[dict]]) -> List[dict]:
    """Concatenate per-session records; a later session (a resume) replaces what an earlier
    one logged from its first step on (iterations after the checkpoint it resumed from)."""
    merged: List[dict] = []
    for recs in records:
        if recs:
            first = min(r['step'] for r in recs)
            merged = [r for r in merged if r['step'] < first] + list(recs)
    return merged


def read_work_dir(path: str, issues: List[Issue]) -> WorkDirLog:
    """Read every session of a work dir and merge them in timestamp order."""
    names = sorted(
        n for n in os.listdir(path) if TIMESTAMP_RE.match(n) and osp.isdir(osp.join(path, n)))
    sessions = [read_session(osp.join(path, n), issues) for n in names]
    wd = WorkDirLog(path=path, sessions=sessions)
    wd.checkpoints = sorted(n for n in os.listdir(path) if n.endswith('.pth'))
    dumped = sorted(
        n for n in os.listdir(path) if n.endswith('.py') and osp.isfile(osp.join(path, n)))
    if dumped:
        dumped.sort(key=lambda n: os.path.getmtime(osp.join(path, n)))
        wd.config_name = osp.splitext(dumped[-1])[0]
    training = [s for s in sessions if (s.train or s.val) and s.cfg is not None]
    if training:
        wd.cfg, wd.first_cfg = training[-1].cfg, training[0].cfg
    else:
        with_cfg = [s for s in sessions if s.cfg is not None and s.test is None]
        if with_cfg:
            wd.cfg = wd.first_cfg = with_cfg[-1].cfg
        elif dumped:
            cfg_path = osp.join(path, dumped[-1])
            try:
                wd.cfg = wd.first_cfg = read_dumped_config(cfg_path)
            except Exception as e:
                issues.append(Issue(cfg_path, None, f'config not readable: {e}'))
    wd.train = _merge([s.train for s in sessions])
    wd.val = _merge([s.val for s in sessions])
    wd.bad_lines = sum(s.bad_lines for s in sessions)
    for s in sessions:
        wd.progress.update(s.progress)
    _progress_from_checkpoints(path, wd)
    return wd


def _progress_from_checkpoints(path: str, wd: WorkDirLog) -> None:
    """Checkpoint files and ``last_checkpoint`` prove epochs/iterations done even when the
    logger skipped the last iteration of an epoch (``ignore_last``)."""
    names = list(wd.checkpoints)
    last = osp.join(path, 'last_checkpoint')
    if osp.isfile(last):
        with open(last, encoding='utf-8', errors='replace') as f:
            names.append(osp.basename(f.read().strip()))
    for name in names:
        m = _CKPT_RE.match(name)
        if m:
            n = int(m.group(2))
            if m.group(1) == 'epoch':
                wd.progress.epochs = max(wd.progress.epochs, n)
            else:
                wd.progress.iters = max(wd.progress.iters, n)
        m = _SNAPSHOT_RE.match(name)
        if m:
            wd.progress.epochs = max(wd.progress.epochs, int(m.group(2)))
