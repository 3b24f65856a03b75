"""The paper's numbers live in ``dbot_mm/reporting/paper_results.json``; every other place that
quotes them (README.md, docs/model_zoo.md, configs/pretrain/metafile.yml, config comments) must
agree with it. The JSON's own values come from the official README's 'Pre-Trained and Fine-Tuned
Models' table (github.com/liuxingbin/dbot) and the baselines' papers, each entry naming its
source."""
import re
from pathlib import Path

import pytest
import yaml

from dbot_mm.reporting.paper import load_paper_results

ROOT = Path(__file__).resolve().parents[2]
PAPER = load_paper_results()
MATCH_KEYS = {'task', 'arch', 'teacher', 'protocol', 'detector', 'input_size'}
# metric of a table column, and the input size of a top-1
COLUMNS = {
    'cls': ('top1', 224),
    'cls 448 px': ('top1', 448),
    'det': ('APbox', None),
    'seg': ('mIoU', None)
}


def _by_config():
    """{(pretraining config, metric, input size): value} of the dBOT entries."""
    return {
        (e['pretrain_config'], e['metric'], e['match'].get('input_size')): e['value']
        for e in PAPER['results'] if not e.get('baseline')
    }


def _table(path: Path, first: str):
    """Cells of the markdown table whose header starts with ``| first |``."""
    lines = path.read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f'| {first} |'))
    header = [c.strip() for c in lines[start].strip('|').split('|')]
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith('|'):
            break
        rows.append(dict(zip(header, (c.strip() for c in ln.strip('|').split('|')))))
    return rows


def _number(cell: str):
    return None if cell == '-' else float(cell)


def test_entries_have_sources_known_keys_and_configs():
    for e in PAPER['results']:
        assert e['source'] in PAPER['sources']
        # a key the rows never set would make the entry unreachable
        assert set(e['match']) <= MATCH_KEYS
        if not e.get('baseline'):
            assert (ROOT / 'configs/pretrain' / e['pretrain_config']).is_file()
    assert len(_by_config()) == sum(not e.get('baseline') for e in PAPER['results'])


def test_model_zoo_page():
    paper, seen = _by_config(), set()
    for row in _table(ROOT / 'docs/model_zoo.md', 'student'):
        config = row['pretraining config (`configs/pretrain/`)'].strip('`')
        for column, (metric, size) in COLUMNS.items():
            key = (config, metric, size if metric == 'top1' else None)
            assert _number(row[column]) == paper.get(key), key
            seen.add(key)
    assert set(paper) <= seen  # every dBOT number has its row


def test_readme_distilled_students():
    paper = _by_config()
    rows = _table(ROOT / 'README.md', 'config (`configs/pretrain/`)')
    assert len(rows) == 6
    for row in rows:
        config = row['config (`configs/pretrain/`)'].strip('`')
        cls, det, seg = row['IN-1k / COCO APbox / ADE mIoU (paper)'].split(' / ')
        m = re.fullmatch(r'([\d.]+)(?: \(([\d.]+) at 448 px\))?', cls)
        assert float(m.group(1)) == paper[(config, 'top1', 224)]
        assert (m.group(2) and float(m.group(2))) == paper.get((config, 'top1', 448))
        assert _number(det) == paper.get((config, 'APbox', None))
        assert _number(seg) == paper.get((config, 'mIoU', None))


def test_metafile():
    paper, found = _by_config(), {}
    meta = yaml.safe_load((ROOT / 'configs/pretrain/metafile.yml').read_text())
    models = {m['Name']: m for m in meta['Models']}
    names = {'Top 1 Accuracy': 'top1', 'box AP': 'APbox', 'mIoU': 'mIoU'}
    for pre in (m for m in meta['Models'] if 'Downstream' in m):
        config = Path(pre['Config']).name
        for name in pre['Downstream']:
            down = models[name]
            size = 448 if '448px' in down['Config'] else 224
            for result in down['Results']:
                for metric, value in result['Metrics'].items():
                    metric = names[metric]
                    found[(config, metric, size if metric == 'top1' else None)] = value
    assert found == paper


def _head_comment(path: Path) -> str:
    lines = path.read_text().splitlines()
    return ' '.join(ln[1:].strip() for ln in lines[:next(i for i, ln in enumerate(lines)
                                                         if not ln.startswith('#'))])


@pytest.mark.parametrize(
    'path', sorted((ROOT / 'configs/pretrain').glob('dbot-*.py')), ids=lambda p: p.name)
def test_pretraining_config_comments(path):
    text, paper = _head_comment(path), _by_config()
    quoted = {
        (path.name, metric, size): float(m.group(1))
        for pattern, metric, size in ((r'IN-1k (\d+\.\d)', 'top1',
                                       224), (r'\((\d+\.\d) fine-tuned at 448', 'top1', 448),
                                      (r'COCO (\d+\.\d)', 'APbox', None), (r'ADE (\d+\.\d)', 'mIoU',
                                                                           None))
        if (m := re.search(pattern, text))
    }
    assert quoted == {k: v for k, v in paper.items() if k[0] == path.name}


QUOTING = [p for p in sorted(ROOT.glob('configs/[cds]*/*.py')) if 'Paper:' in p.read_text()]


def test_downstream_configs_quoting_the_paper():
    assert len(QUOTING) == 8  # cls B, L, H, H 448 px; Cascade det B, L; seg B, L


@pytest.mark.parametrize('path', QUOTING, ids=lambda p: p.name)
def test_downstream_config_comments(path):
    quoted = float(re.search(r'Paper: (\d+\.\d)', _head_comment(path)).group(1))
    arch = re.search(r'vit-(base|large|huge)', path.name).group(1)
    metric = {'cls': 'top1', 'det': 'APbox', 'seg': 'mIoU'}[path.parent.name]
    size = (448 if '448px' in path.name else 224) if metric == 'top1' else None
    assert quoted == _by_config()[(f'dbot_vit-{arch[0]}.py', metric, size)]
