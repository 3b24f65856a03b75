"""Every shipped config resolves to the dict recorded in ``tests/data/config_snapshots``.

A refactor of the configs (inheritance, list comprehensions, renamed helper variables) must not
change what the runner builds. A deliberate recipe change regenerates the snapshots of the configs
it touches, and the change is stated in its commit:

    python tests/test_configs/test_config_snapshot.py --update [CONFIG ...]

``--root DIR`` reads the configs from another tree (e.g. ``git archive REV configs tests/data |
tar -x -C DIR``) to snapshot an earlier commit. Configs are loaded without importing their custom
modules (``dbot_mm``): a snapshot records the config files alone.

Format: ``cfg.to_dict()`` as JSON with sorted keys; a tuple is written ``{"__tuple__": [...]}``
because tuple and list differ for the transforms (mmcv's ``Resize`` rejects a list scale).
"""
import argparse
import json
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = REPO / 'tests' / 'data' / 'config_snapshots'
TUPLE = '__tuple__'

# Top-level helper variables that a refactor may add or drop and that nothing reads (what they feed
# is compared): epoch counts of the schedules, the fine-tuning data's BGR fill values, the
# runtimes' vis_backends (their visualizer's), the detectors' ViT-B backbone and neck, the demos'
# tiny ViT, and mmseg's test-time augmentation settings (only mmseg's own ``tools/test.py --tta``
# reads them; ours has no --tta).
HELPER_KEYS = frozenset({
    'max_epochs', 'warmup_epochs', 'bgr_mean', 'bgr_std', 'vis_backends', 'vit_b_backbone',
    'vit_b_neck', 'tiny_vit', 'img_ratios', 'tta_model', 'tta_pipeline'
})
# A base config from another package (``mmdet::``) gives its outer typed dicts a ``_scope_``.
# Equal to the config's default_scope it changes nothing where the registry builds the dict; it is
# kept under these keys, whose dicts mmengine passes on as keyword arguments (Runner's collate_fn).
KWARG_KEYS = frozenset({'collate_fn'})


def shipped_configs(root: Path = REPO) -> list:
    """Paths (relative to ``root``) of the configs/ files a user runs, and the tests' own."""
    found = [
        p.relative_to(root) for p in sorted((root / 'configs').rglob('*.py'))
        if '_base_' not in p.parts
    ]
    return found + [Path('tests/data/configs/tiny_cls.py')]


def snapshot_path(config: Path) -> Path:
    return SNAPSHOTS / Path(config).with_suffix('.json')


def _plain(value, scope, key=None):
    if isinstance(value, dict):
        return {
            k: _plain(v, scope, k)
            for k, v in value.items()
            if not (k == '_scope_' and v == scope and key not in KWARG_KEYS)
        }
    if isinstance(value, tuple):
        return {TUPLE: [_plain(v, scope) for v in value]}
    if isinstance(value, list):
        return [_plain(v, scope) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def resolve(config: Path, root: Path = REPO) -> dict:
    """The config as the runner gets it, in the snapshot's JSON form."""
    cfg = Config.fromfile(str(root / config), import_custom_modules=False).to_dict()
    return json.loads(json.dumps(_plain(cfg, cfg.get('default_scope')), sort_keys=True))


def differences(expected, actual, path='') -> list:
    """One line per differing key: ``path: expected -> actual``."""
    if isinstance(expected, dict) and isinstance(actual, dict) and \
            (TUPLE in expected) == (TUPLE in actual):
        lines = []
        for k in sorted(expected.keys() | actual.keys()):
            sub = f'{path}.{k}' if path else k
            if k not in actual:
                lines.append(f'{sub}: {expected[k]!r} -> (missing)')
            elif k not in expected:
                lines.append(f'{sub}: (missing) -> {actual[k]!r}')
            else:
                lines += differences(expected[k], actual[k], sub)
        return lines
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            line for i, (e, a) in enumerate(zip(expected, actual))
            for line in differences(e, a, f'{path}[{i}]')
        ]
    return [] if expected == actual else [f'{path}: {expected!r} -> {actual!r}']


@pytest.mark.parametrize('config', shipped_configs(), ids=str)
def test_config_equals_snapshot(config):
    snapshot = snapshot_path(config)
    assert snapshot.is_file(), f'no snapshot {snapshot}: run {__file__} --update {config}'
    expected = json.loads(snapshot.read_text())
    actual = resolve(config)
    for key in HELPER_KEYS:
        expected.pop(key, None)
        actual.pop(key, None)
    diff = differences(expected, actual)
    assert not diff, f'{config} differs from {snapshot.name} (snapshot -> now):\n' + \
        '\n'.join(diff)


def test_differences_name_each_key():
    old = {'a': {'b': (1, 2), 'c': [dict(type='X')]}, 'd': 1}
    new = {'a': {'b': [1, 2], 'c': [dict(type='Y')]}, 'e': 1}
    diff = differences(_plain(old, None), _plain(new, None))
    assert diff == [
        "a.b: {'__tuple__': [1, 2]} -> [1, 2]", "a.c[0].type: 'X' -> 'Y'", 'd: 1 -> (missing)',
        'e: (missing) -> 1'
    ]


def test_scope_of_the_default_scope_is_dropped_except_for_kwargs():
    cfg = dict(
        model=dict(type='M', _scope_='mmdet'),
        hook=dict(type='H', _scope_='mmseg'),
        loader=dict(collate_fn=dict(type='default_collate', _scope_='mmdet')))
    assert _plain(cfg, 'mmdet') == dict(
        model=dict(type='M'),
        hook=dict(type='H', _scope_='mmseg'),
        loader=dict(collate_fn=dict(type='default_collate', _scope_='mmdet')))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        'configs',
        nargs='*',
        type=Path,
        help='config paths relative to the root (default: every shipped one)')
    parser.add_argument('--update', action='store_true', help='write the snapshots')
    parser.add_argument('--root', type=Path, default=REPO, help='tree to read the configs from')
    args = parser.parse_args(argv)
    failed = 0
    for config in args.configs or shipped_configs(args.root):
        actual = resolve(config, args.root)
        target = snapshot_path(config)
        if args.update:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(actual, indent=1, sort_keys=True) + '\n')
            print(f'wrote {target.relative_to(REPO)}')
            continue
        expected = json.loads(target.read_text()) if target.is_file() else {}
        diff = differences({
            k: v
            for k, v in expected.items() if k not in HELPER_KEYS
        }, {
            k: v
            for k, v in actual.items() if k not in HELPER_KEYS
        })
        failed += bool(diff)
        print(f'{config}: ' + ('differs\n  ' + '\n  '.join(diff) if diff else 'equal'))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
