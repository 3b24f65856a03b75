"""Each recipe value of the paper-scale configs equals the official one, named with its source.

The values and their sources are the table ``tests/data/official_recipes.yml`` (one row per config
and key). The resolved-config snapshots pin every value against drift; this test says which of them
are the official recipe and where the official code states them.
"""
import functools
import math
import re
from pathlib import Path

import pytest
import yaml
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / 'tests' / 'data' / 'official_recipes.yml'
SOURCES = ('main: ', 'beit: ', 'mae: ', 'ibot: ')
STEP = re.compile(r'(\w+)(?:\[([^\]]+)\])?$')


@functools.lru_cache(maxsize=None)
def load(config: str) -> dict:
    return Config.fromfile(REPO / 'configs' / config, import_custom_modules=False).to_dict()


def lookup(cfg: dict, path: str):
    """``a.b[0].c`` in the config; ``[Type]`` is the one list item of that type; an absent last
    key is None."""
    steps = path.split('.')
    node = cfg
    for depth, step in enumerate(steps, 1):
        name, index = STEP.match(step).groups()
        if depth == len(steps) and index is None:
            return node.get(name)
        node = node[name]
        if index is not None:
            if index.isdigit():
                node = node[int(index)]
            else:
                found = [item for item in node if item.get('type') == index]
                assert len(found) == 1, f'{path}: {len(found)} items of type {index}'
                node = found[0]
    return node


def lr(cfg: dict) -> float:
    return cfg['optim_wrapper']['optimizer']['lr']


def total_batch(cfg: dict) -> int:
    """Images per optimizer update: mmengine's base batch counts one step, not the accumulation."""
    return cfg['auto_scale_lr']['base_batch_size'] * cfg['optim_wrapper'].get(
        'accumulative_counts', 1)


def blr(cfg: dict) -> float:
    """main_pretrain.py, main_finetune.py, MAE main_linprobe.py: lr = blr * batch / 256."""
    return lr(cfg) * 256 / total_batch(cfg)


def lr_per_512(cfg: dict) -> float:
    """eval_cls.py: lr = args.lr * batch_size * world_size / 512."""
    return lr(cfg) * 512 / total_batch(cfg)


def warmup_lr(cfg: dict) -> float:
    return lr(cfg) * lookup(cfg, 'param_scheduler[LinearLR].start_factor')


def stage_epochs(cfg: dict) -> list:
    hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] == 'DBotBootstrapHook']
    return hooks[0]['stage_epochs'] if hooks else [0, cfg['train_cfg']['max_epochs']]


def teacher_input_size(cfg: dict) -> int:
    """CLIPTeacher(input_size=None) sees the student's crop."""
    return cfg['model']['teacher']['input_size'] or cfg['model']['backbone']['img_size']


DERIVED = {
    f.__name__: f
    for f in (blr, lr_per_512, total_batch, warmup_lr, stage_epochs, teacher_input_size)
}


def equal(actual, official) -> bool:
    if isinstance(actual, (list, tuple)) and isinstance(official, list):
        return len(actual) == len(official) and all(map(equal, actual, official))
    if isinstance(actual, (int, float)) and isinstance(official, (int, float)) and \
            not isinstance(actual, bool) and not isinstance(official, bool):
        return math.isclose(actual, official, rel_tol=1e-9, abs_tol=1e-15)
    return type(actual) is type(official) and actual == official


def rows() -> list:
    table = yaml.safe_load(TABLE.read_text())
    return [(config, key, value, source) for config, values in table.items()
            if not config.startswith('_') for key, (value, source) in values.items()]


ROWS = rows()


@pytest.mark.parametrize(
    'config, key, official, source', ROWS, ids=[f'{c}:{k}' for c, k, *_ in ROWS])
def test_value_is_official(config, key, official, source):
    cfg = load(config)
    actual = DERIVED[key](cfg) if key in DERIVED else lookup(cfg, key)
    assert equal(actual, official), \
        f'{config}: {key} = {actual!r}, official {official!r} ({source})'


def test_table_names_a_source_per_value_and_covers_the_paper_configs():
    for config, key, official, source in ROWS:
        assert source.startswith(SOURCES), f'{config}: {key}: source {source!r} names no branch'
        # PyYAML reads 1e-6 (no dot) as a string
        assert not (isinstance(official, str) and re.fullmatch(r'[-+.\de]+', official)), \
            f'{config}: {key}: {official!r} is a string; write a float with a dot'
    covered = {config for config, *_ in ROWS}
    paper = {
        str(p.relative_to(REPO / 'configs'))
        for p in (REPO / 'configs').glob('[cdps]*/*.py') if 'tiny' not in p.name
    }
    others = {
        'cls/vit-base-p16_8xb128-coslr-100e_custom-folder.py',  # not an official recipe
        'pretrain/dbot_vit-b_fast-pipeline.py',  # dbot_vit-b.py's, test_pretrain_configs
        # the paper configs on a folder: tests/test_datasets/test_image_folder.py
        'pretrain/dbot_vit-b_custom-folder.py',
        'pretrain/dbot_vit-l_custom-folder.py',
        'pretrain/dbot_vit-h_custom-folder.py',
        'pretrain/dbot-distill_vit-b-p16_dbot-l.py',  # model zoo rows without a command
        'pretrain/dbot-distill_vit-b-p16_dbot-h.py',
        'pretrain/dbot-distill_vit-l-p16_dbot-h.py'
    }
    assert covered == paper - others
