"""tools/misc/check_images.py: every kind of bad file listed with its reason, in parallel, the
exit code, and an output file that ``ImageFolder(exclude_file=...)`` reads."""
import json
import sys

import numpy as np
import pytest
from PIL import Image

from dbot_mm.datasets import ImageFolder
from tests.helpers.tools import import_tool
from tests.test_datasets.test_image_folder import write_bad_files, write_images


@pytest.fixture
def tool(monkeypatch):
    module = import_tool('misc/check_images.py')
    monkeypatch.setitem(sys.modules, module.__name__, module)  # its workers unpickle `problem`
    return module


def _run(tool, capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        tool.main([str(a) for a in argv])
    return exit_.value.code, capsys.readouterr().out.splitlines()


@pytest.mark.parametrize('out_name', ['bad.json', 'bad.txt'])
def test_lists_each_bad_file_and_writes_an_exclude_file(tool, tmp_path, capsys, out_name):
    folder = tmp_path / 'images'
    write_images(folder, [f'c{i % 3}/{i}.jpg' for i in range(12)] + ['x/a.png', 'y.tif'])
    bad = write_bad_files(folder)
    png = (folder / 'x/a.png').read_bytes()
    (folder / 'x/cut.png').write_bytes(png[:len(png) // 2])
    Image.fromarray(np.zeros((6, 40, 3), np.uint8)).save(folder / 'thin.png')
    (folder / 'readme.txt').write_text('not read')
    out = tmp_path / out_name
    code, lines = _run(tool, capsys, folder, '--workers', 2, '--min-size', 8, '--out', out)
    assert code == 1
    reasons = dict(line.split(': ', 1) for line in lines[:-1])
    assert reasons.pop('empty.png') == 'zero-byte file'
    assert reasons.pop('bad/page.jpg') == 'not an image'
    assert reasons.pop('bad/deep/truncated.jpg').startswith('truncated (OSError: ')
    assert reasons.pop('x/cut.png').startswith('truncated (OSError: ')
    assert reasons.pop('thin.png') == '40x6 px, below --min-size 8'
    assert not reasons
    assert lines[-1].startswith(f'5 bad of 19 image files in {folder} (')
    assert lines[-1].endswith('2 workers); 1 files of other extensions not read: readme.txt')
    listed = json.loads(out.read_text()) if out.suffix == '.json' else out.read_text().split()
    assert sorted(listed) == sorted(bad + ['x/cut.png', 'thin.png'])
    dataset = ImageFolder(
        data_root=str(folder), exclude_file=str(out), pipeline=[dict(type='LoadImageFromFile')])
    assert len(dataset) == 14
    assert all(dataset.prepare_data(i)['img'] is not None for i in range(len(dataset)))


def test_clean_folder_exits_0_and_a_missing_one_is_one_line(tool, tmp_path, capsys):
    write_images(tmp_path / 'ok', ['a.jpg', 'b/c.png'])
    code, lines = _run(tool, capsys, tmp_path / 'ok', '--workers', 1)
    assert code == 0 and lines[-1].startswith(f'0 bad of 2 image files in {tmp_path}/ok (')
    code, _ = _run(tool, capsys, tmp_path / 'nope')
    assert code == f"check_images.py: error: image folder '{tmp_path}/nope/' does not exist"
