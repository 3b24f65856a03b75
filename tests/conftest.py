"""Session-wide fixtures: each synthetic dataset is generated once per test session.

``*_data`` fixtures give the generator's summary dict (paths and counts); ``*_root`` fixtures give
the ``data_root`` a config would use: ``.../imagenet``, ``.../coco``,
``.../ade/ADEChallengeData2016``.
Sizes are the generators' defaults: tiny, a second or two each on CPU.
"""
import pytest


@pytest.fixture(scope='session')
def synthetic_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('synthetic_data')


@pytest.fixture(scope='session')
def imagenet_data(synthetic_dir):
    from dbot_mm.testing import make_imagenet
    return make_imagenet(synthetic_dir / 'imagenet')


@pytest.fixture(scope='session')
def coco_data(synthetic_dir):
    from dbot_mm.testing import make_coco
    return make_coco(synthetic_dir / 'coco')


@pytest.fixture(scope='session')
def ade_data(synthetic_dir):
    from dbot_mm.testing import make_ade20k
    return make_ade20k(synthetic_dir / 'ade')


@pytest.fixture(scope='session')
def imagenet_root(imagenet_data):
    return imagenet_data['data_root']


@pytest.fixture(scope='session')
def coco_root(coco_data):
    return coco_data['data_root']


@pytest.fixture(scope='session')
def ade_root(ade_data):
    return ade_data['data_root']


@pytest.fixture
def mmpretrain_scope():
    """mmpretrain as the default scope: registries build in the current scope, and an earlier
    test of the same worker may have left mmdet's or mmseg's current (a file-level
    ``pytestmark = pytest.mark.usefixtures('mmpretrain_scope')`` for tests that build DBOT models
    through a registry)."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')


def _managed_classes(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _managed_classes(sub)


@pytest.fixture(autouse=True)
def fresh_mmengine_instances():
    """After each test, forget mmengine's global logger, visualizer and message-hub instances.

    mmengine keys them by experiment name, i.e. config name + the second the Runner was built: two
    tests of one worker that build the same config within a second would share them, and one run's
    log file and ``scalars.json`` would land in the other's work dir. Default scopes are kept
    (tests set them at module level)."""
    yield
    from mmengine.registry import DefaultScope
    from mmengine.utils import ManagerMixin
    for cls in _managed_classes(ManagerMixin):
        if not issubclass(cls, DefaultScope):
            cls._instance_dict.clear()
