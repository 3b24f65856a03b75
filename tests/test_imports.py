"""The package imports cleanly: every module on its own in a fresh interpreter, and no import cycle
between its modules or between its subpackages (imports inside functions count: deferring an
import hides a cycle, it does not remove it)."""
import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = 'dbot_mm'


def package_modules() -> Dict[str, Path]:
    """``{dotted name: file}`` of every module of the package (a package by its ``__init__``)."""
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob('*.py')):
        parts = path.relative_to(ROOT).with_suffix('').parts
        modules['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    return modules


def import_graph() -> Dict[str, Set[str]]:
    """``{module: package modules it imports}``; ``from X import n`` counts as ``X.n`` where that
    is a module, else ``X``."""
    modules = package_modules()
    graph = {}
    for name, path in modules.items():
        is_package = path.name == '__init__.py'
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ''
                if node.level:
                    anchor = name.split('.')[:len(name.split('.')) - node.level + is_package]
                    base = '.'.join(anchor + ([base] if base else []))
                targets = [
                    f'{base}.{a.name}' if f'{base}.{a.name}' in modules else base
                    for a in node.names
                ]
            edges.update(t for t in targets if t in modules and t != name)
        graph[name] = edges
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or [] (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 'done'
        stack.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def subpackage_graph() -> Dict[str, Set[str]]:
    """Which first-level subpackages (``dbot_mm.engine``...) import which."""
    graph = {}
    for name, targets in import_graph().items():
        if name.count('.') >= 1:
            src = '.'.join(name.split('.')[:2])
            graph.setdefault(src, set()).update('.'.join(t.split('.')[:2]) for t in targets
                                                if t.count('.') >= 1)
    return {k: v - {k} for k, v in graph.items()}


def test_no_import_cycle_between_modules():
    cycle = find_cycle(import_graph())
    assert not cycle, 'import cycle: ' + ' -> '.join(cycle)


def test_no_import_cycle_between_subpackages():
    cycle = find_cycle(subpackage_graph())
    assert not cycle, 'subpackages import each other: ' + ' -> '.join(cycle)


def test_cycle_finder_finds_a_cycle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a', 'd'}, 'd': set()}
    assert find_cycle(graph) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) == []


# Forks one child per module from a process that imported the third-party libraries only: each
# child imports its module first thing, with no dbot_mm module loaded (a fresh interpreter but
# for torch and OpenMMLab, whose import would otherwise cost ~10 s a module).
_IMPORT_EACH = r'''
import importlib, json, os, sys, traceback
import numpy, torch, mmengine.runner, mmcv, mmpretrain.models, mmdet.models, mmseg.models, timm
assert not any(m == 'dbot_mm' or m.startswith('dbot_mm.') for m in sys.modules)
failures = {}
for name in json.loads(sys.argv[1]):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            importlib.import_module(name)
            message = ''
        except BaseException:
            message = traceback.format_exc(limit=-3)
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        message = f.read()
    _, status = os.waitpid(pid, 0)
    if message or status:
        failures[name] = message or f'child exited with status {status}'
print(json.dumps(failures))
'''


def test_every_module_imports_on_its_own():
    names = sorted(package_modules())
    proc = subprocess.run(
        [sys.executable, '-c', _IMPORT_EACH, json.dumps(names)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, '\n'.join(f'{k}:\n{v}' for k, v in failures.items())
