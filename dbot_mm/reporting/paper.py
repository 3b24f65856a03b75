"""The paper's numbers (``paper_results.json``, their one home; the README and the model zoo page
are checked against it by tests/test_reporting/test_paper_results.py)."""
import json
import os.path as osp
from typing import Optional, Tuple

PAPER_RESULTS = osp.join(osp.dirname(__file__), 'paper_results.json')


def load_paper_results(path: str = PAPER_RESULTS) -> dict:
    """The reference numbers, each with its source."""
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def lookup(paper: dict, metric: str, attrs: dict) -> Tuple[Optional[dict], Optional[dict]]:
    """(dBOT entry, baseline entry) whose ``match`` fits ``attrs`` (every key equal)."""
    ours = base = None
    for e in paper.get('results', []):
        if e['metric'] == metric and all(attrs.get(k) == v for k, v in e['match'].items()):
            if e.get('baseline'):
                base = base or e
            else:
                ours = ours or e
    return ours, base
