"""dbot_mm.apis.get_model: any checkpoint (student, teacher, fine-tuned, exported backbone) as a
strictly loaded mmpretrain ImageClassifier that mmpretrain's FeatureExtractor runs on files."""
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain import FeatureExtractor
from mmpretrain.registry import MODELS
from PIL import Image

from dbot_mm.apis import get_model
from dbot_mm.models.backbones.vit import DBotViT
from dbot_mm.utils.checkpoint import CheckpointLoadError
from tests.helpers.tools import import_tool

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

TINY = dict(arch='tiny', embed_dims=32, depth=2, num_heads=2, img_size=32, patch_size=8)
MEAN, STD = [10., 20., 30.], [40., 50., 60.]


def randomise(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return module.eval()


def save(path, model_cfg, state):
    meta = dict(cfg=Config(dict(model=model_cfg)).pretty_text, epoch=1)
    torch.save(dict(meta=meta, state_dict=state), path)
    return str(path)


@pytest.fixture
def pretrain(tmp_path):
    student, teacher = randomise(DBotViT(**TINY), 1), randomise(DBotViT(**TINY), 2)
    state = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teacher.{k}': v for k, v in teacher.state_dict().items()})
    cfg = dict(
        type='DBOT',
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=MEAN, std=STD, to_rgb=True),
        backbone=dict(TINY, type='DBotViT'),
        teacher=dict(TINY, type='DBotViT'))
    return save(tmp_path / 'epoch_1.pth', cfg, state), student, teacher


def x():
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_student_teacher_and_exported(pretrain, tmp_path):
    ckpt, student, teacher = pretrain
    with torch.no_grad():
        for source, vit in (('student', student), ('teacher', teacher)):
            model = get_model(ckpt, source)
            assert model.head is None
            assert torch.equal(model.extract_feat(x())[0], vit(x())[0])
        assert model.data_preprocessor.mean.flatten().tolist() == MEAN
        backbone = str(tmp_path / 'teacher.pth')
        import_tool('model_converters/dbot_to_backbone.py').export_backbone(
            ckpt, backbone, 'teacher')
        with pytest.raises(CheckpointLoadError, match='pass num_heads'):
            get_model(backbone)  # no config and a width no standard ViT has
        feats = get_model(backbone, num_heads=2, out_type='featmap').extract_feat(x())[0]
    ref = DBotViT(**TINY, out_type='featmap').eval()
    ref.load_state_dict(teacher.state_dict())
    assert feats.shape == (2, 32, 4, 4) and torch.equal(feats, ref(x())[0])


def test_finetuned_head(tmp_path):
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(TINY, type='DBotViT', out_type='avg_featmap', final_norm=False),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=32))
    classifier = randomise(MODELS.build(cfg), 3)
    model = get_model(save(tmp_path / 'ft.pth', cfg, classifier.state_dict()))
    with torch.no_grad():
        expected = classifier.head(classifier.extract_feat(x()))
        assert torch.equal(model.head(model.extract_feat(x())), expected)
        scores = torch.stack([s.pred_score for s in model.predict(x())])
    assert torch.allclose(scores, expected.softmax(-1))


def test_missing_weight_is_refused(pretrain, tmp_path):
    ckpt = torch.load(pretrain[0], weights_only=False)
    del ckpt['state_dict']['backbone.blocks.1.mlp.fc1.weight']
    torch.save(ckpt, tmp_path / 'bad.pth')
    with pytest.raises(CheckpointLoadError, match='blocks.1.mlp.fc1.weight'):
        get_model(str(tmp_path / 'bad.pth'))


def test_feature_extractor_on_files(pretrain, tmp_path):
    """mmpretrain's FeatureExtractor reads a file through the model's pipeline (a 36 px image:
    short edge resized to 36 = unchanged, centre crop 32) and its mean/std, BGR -> RGB."""
    ckpt, student, _ = pretrain
    pixels = np.random.default_rng(0).integers(0, 256, (36, 36, 3), dtype=np.uint8)  # RGB
    Image.fromarray(pixels).save(tmp_path / 'a.png')
    model = get_model(ckpt, out_type='featmap')
    feats = FeatureExtractor(model)(str(tmp_path / 'a.png'))[0]
    crop = torch.from_numpy(pixels[2:34, 2:34]).permute(2, 0, 1).float()
    inputs = (crop - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    ref = DBotViT(**TINY, out_type='featmap').eval()
    ref.load_state_dict(student.state_dict())
    with torch.no_grad():
        assert torch.allclose(feats[0], ref(inputs[None])[0][0], atol=1e-5)


def test_converted_official_without_config(tmp_path):
    """official_dbot_to_dbot_mm.py's output: ``backbone.*`` keys, no config; a standard width
    (ViT-Ti, 192) gives the head count (3)."""
    vit = randomise(DBotViT(arch='tiny', depth=1, img_size=32, patch_size=16), 4)
    state = {f'backbone.{k}': v for k, v in vit.state_dict().items()}
    torch.save(dict(state_dict=state), tmp_path / 'official.pth')
    model = get_model(str(tmp_path / 'official.pth'))
    assert model.backbone.num_heads == 3
    with torch.no_grad():
        assert torch.equal(model.extract_feat(x())[0], vit(x())[0])


def test_stage_snapshot_config_from_run_record(pretrain, tmp_path):
    """Stage snapshots have no config in their meta: the run record beside them has it."""
    ckpt = torch.load(pretrain[0], weights_only=False)
    del ckpt['meta']['cfg']
    torch.save(ckpt, tmp_path / 'dbot_stage1_epoch_1.pth')
    with pytest.raises(CheckpointLoadError, match='pass num_heads'):
        get_model(str(tmp_path / 'dbot_stage1_epoch_1.pth'))
    record = dict(config=dict(model=dict(backbone=dict(TINY, type='DBotViT'))))
    (tmp_path / 'run_record.json').write_text(json.dumps(record))
    assert get_model(str(tmp_path / 'dbot_stage1_epoch_1.pth')).backbone.num_heads == 2
