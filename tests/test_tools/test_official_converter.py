"""tools/model_converters/official_dbot_to_dbot_mm.py on files laid out as the official code
writes them (main branch of liuxingbin/dbot: models_mae.MaskedAutoencoderViT saved by
util/misc.save_model, the teacher by misc.save_teacher_model): the converted file gives timm's
features, the official decoder's predictions, continues pretraining and loads downstream."""
import argparse
import math
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from timm.layers import PatchEmbed
from timm.models.beit import Beit
from timm.models.vision_transformer import Block, VisionTransformer

import dbot_mm  # noqa: F401
from dbot_mm.models import DBotViT
from dbot_mm.models.necks.dbot_decoder import DBotDecoder
from dbot_mm.models.utils.pretrained import load_backbone_checkpoint
from tests.helpers.tools import import_tool

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools/model_converters/official_dbot_to_dbot_mm.py'
TINY_CONFIG = REPO / 'configs/pretrain/dbot_vit-tiny_demo.py'
# the tiny pretraining config's ViT: 64 px, 8 px patches, 64 wide, 4 blocks, decoder 64 x 2
TINY = dict(img_size=64, patch_size=8, embed_dim=64, depth=4, num_heads=4)
TINY_DECODER = dict(decoder_embed_dim=64, decoder_depth=2, decoder_num_heads=4)


def load_tool():
    return import_tool(TOOL)


class OfficialMAE(nn.Module):
    """The parameters (names, shapes) of the official ``models_mae.MaskedAutoencoderViT`` and its
    ``forward_decoder``; ``decoder_depth=0`` is the official teacher."""

    def __init__(self,
                 img_size,
                 patch_size,
                 embed_dim,
                 depth,
                 num_heads,
                 decoder_embed_dim=64,
                 decoder_depth=0,
                 decoder_num_heads=4):
        super().__init__()
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.patch_embed = PatchEmbed(img_size, patch_size, 3, embed_dim)
        num_patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, embed_dim), requires_grad=False)
        self.blocks = nn.ModuleList(
            [Block(embed_dim, num_heads, 4., qkv_bias=True, norm_layer=norm) for _ in range(depth)])
        self.norm = norm(embed_dim)
        if decoder_depth > 0:
            self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
            self.decoder_pos_embed = nn.Parameter(
                torch.zeros(1, num_patches + 1, decoder_embed_dim), requires_grad=False)
            self.decoder_blocks = nn.ModuleList([
                Block(decoder_embed_dim, decoder_num_heads, 4., qkv_bias=True, norm_layer=norm)
                for _ in range(decoder_depth)
            ])
            self.decoder_norm = norm(decoder_embed_dim)
            self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
            self.decoder_predp = nn.Linear(decoder_embed_dim, embed_dim)
        gen = torch.Generator().manual_seed(decoder_depth * 10 + depth)
        with torch.no_grad():  # every tensor random: a mixed-up key cannot go unnoticed
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)

    def forward_decoder(self, x, ids_restore):
        """models_mae.py ``forward_decoder``, line for line."""
        x = self.decoder_embed(x)
        mask_tokens = self.mask_token.repeat(x.shape[0], ids_restore.shape[1] + 1 - x.shape[1], 1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
        x_ = torch.gather(x_, dim=1, index=ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = torch.cat([x[:, :1, :], x_], dim=1)
        x = x + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_norm(x)
        return self.decoder_predp(x)


def official_save_model(model, path, epoch=799):
    """What util/misc.py ``save_model`` writes: student state (encoder + decoder), AdamW state,
    epoch, the GradScaler's state and the command line."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=1e-4,
                                  betas=(0.9, 0.95))
    sum(p.sum() for p in model.parameters() if p.requires_grad).backward()
    optimizer.step()
    args = argparse.Namespace(
        batch_size=128,
        epochs=1600,
        model='mae_vit_base_patch16',
        input_size=64,
        mask_ratio=0.75,
        depth=[4, 4, 4],
        init_teacher_encoder_depth=4,
        stage_epochs=[0, 800, 1600],
        tlayernorm=0,
        norm_feature_loss=True,
        clip_grad=3.0,
        blr=1.5e-4,
        lr=2.4e-3,
        output_dir='./output_dir',
        resume='',
        teacher_resume='',
        distributed=True,
        gpu=0,
        dist_backend='nccl',
        teacher_encoder_depth=[4, 4, 4])
    torch.save(
        {
            'model': model.state_dict(),
            'optimizer': optimizer.state_dict(),
            'epoch': epoch,
            'scaler': {
                'scale': 65536.0,
                'growth_factor': 2.0,
                'backoff_factor': 0.5,
                'growth_interval': 2000,
                '_growth_tracker': 17
            },
            'args': args,
        }, path)


@pytest.fixture(scope='module')
def official(tmp_path_factory):
    """checkpoint-800.pth (student) and checkpoint-teacher-800.pth of a tiny official run,
    converted with the teacher."""
    root = tmp_path_factory.mktemp('official')
    student = OfficialMAE(**TINY, **TINY_DECODER)
    teacher = OfficialMAE(**TINY)
    official_save_model(student, root / 'checkpoint-800.pth')
    torch.save({'model': teacher.state_dict()}, root / 'checkpoint-teacher-800.pth')
    out = root / 'converted.pth'
    load_tool().main([
        str(root / 'checkpoint-800.pth'),
        str(out), '--teacher',
        str(root / 'checkpoint-teacher-800.pth')
    ])
    return dict(
        root=root,
        student=student,
        teacher=teacher,
        converted=out,
        state=torch.load(out, weights_only=True)['state_dict'])


def tiny_vit(**kwargs):
    return DBotViT(
        arch='tiny', embed_dims=64, depth=4, num_heads=4, img_size=64, patch_size=8, **kwargs)


# ------------------------------------------------------------------------------ conversion
def test_converted_features_equal_timm(tmp_path, capsys):
    torch.manual_seed(0)
    timm_vit = VisionTransformer(
        img_size=32,
        patch_size=8,
        embed_dim=64,
        depth=2,
        num_heads=4,
        qkv_bias=True,
        num_classes=0,
        global_pool='').eval()
    with torch.no_grad():
        for p in timm_vit.parameters():
            p.normal_(0, 0.2)
    decoder = {
        'decoder_embed.weight': torch.randn(32, 64),
        'mask_token': torch.randn(1, 1, 32),
        'decoder_predp.weight': torch.randn(64, 32)
    }
    torch.save({
        'model': {
            **timm_vit.state_dict(),
            **decoder
        },
        'epoch': 799
    }, tmp_path / 'official.pth')
    load_tool().main([str(tmp_path / 'official.pth'), str(tmp_path / 'converted.pth')])
    assert 'converted 33 tensors (30 backbone, 3 neck)' in capsys.readouterr().out
    converted = torch.load(tmp_path / 'converted.pth', weights_only=True)
    assert converted['meta'] == dict(converted_from='official.pth', official_epoch=799)
    state = converted['state_dict']
    assert torch.equal(state['neck.mask_token'], decoder['mask_token'])
    assert torch.equal(state['neck.decoder_pred.weight'], decoder['decoder_predp.weight'])

    ours = DBotViT(
        arch='tiny',
        embed_dims=64,
        depth=2,
        num_heads=4,
        img_size=32,
        patch_size=8,
        out_type='raw',
        freeze_pos_embed=False).eval()
    ours.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in state.items() if k.startswith('backbone.')
        },
        strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = timm_vit.forward_features(x)
        got = ours(x)[0]
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_official_save_model_layout_converts(official):
    state, student, teacher = official['state'], official['student'], official['teacher']
    assert {k.split('.')[0] for k in state} == {'backbone', 'neck', 'teacher'}
    expected = {
        'backbone.' + k
        for k in student.state_dict() if not k.startswith(('decoder_', 'mask_token'))
    }
    expected |= {
        'neck.' + k.replace('decoder_predp.', 'decoder_pred.')
        for k in student.state_dict() if k.startswith(('decoder_', 'mask_token'))
    }
    expected |= {'teacher.' + k for k in teacher.state_dict()}
    assert set(state) == expected
    assert torch.equal(state['neck.decoder_pred.bias'], student.decoder_predp.bias)
    assert torch.equal(state['teacher.blocks.3.mlp.fc2.weight'], teacher.blocks[3].mlp.fc2.weight)
    assert not torch.equal(state['teacher.blocks.3.mlp.fc2.weight'],
                           state['backbone.blocks.3.mlp.fc2.weight'])


def test_decoder_predicts_as_official(official):
    """The converted neck is the official decoder: same prediction for the same tokens."""
    student = official['student'].eval()
    decoder = DBotDecoder(
        grid_size=8,
        embed_dims=64,
        target_dims=64,
        decoder_embed_dims=64,
        decoder_depth=2,
        decoder_num_heads=4).eval()
    decoder.load_state_dict(
        {
            k[len('neck.'):]: v
            for k, v in official['state'].items() if k.startswith('neck.')
        },
        strict=True)
    gen = torch.Generator().manual_seed(3)
    ids_restore = torch.stack([torch.randperm(64, generator=gen) for _ in range(2)])
    latent = torch.randn(2, 1 + 16, 64, generator=gen)  # CLS + 16 visible of 64 patches
    with torch.no_grad():
        expected = student.forward_decoder(latent, ids_restore)
        got = decoder(latent, ids_restore)
    assert got.shape == (2, 65, 64)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------ use downstream
def test_loads_downstream_strictly(official):
    """The converted file (prefix 'backbone.' / 'teacher.') and the official file itself
    (prefix '', its ``args`` Namespace loads as data) through the strict backbone loader."""
    student, teacher = official['student'], official['teacher']
    for path, prefix, source in ((official['converted'], 'backbone.',
                                  student), (official['root'] / 'checkpoint-800.pth', '', student),
                                 (official['converted'], 'teacher.', teacher)):
        vit = tiny_vit(out_type='avg_featmap', freeze_pos_embed=False)
        report = load_backbone_checkpoint(vit, path, prefix=prefix)
        assert sorted(report.missing) == ['fc_norm.bias', 'fc_norm.weight'], (path, prefix)
        for k, v in source.state_dict().items():
            if not k.startswith(('decoder_', 'mask_token')):
                assert torch.equal(vit.state_dict()[k], v), (path, prefix, k)


def test_continue_pretraining(official, imagenet_root, tmp_path):
    """load_from=the converted file in the tiny dBOT config (teacher as deep as the official
    one): every key loads strictly, training runs, the frozen teacher stays the official one."""
    cfg = Config.fromfile(str(TINY_CONFIG))
    cfg.merge_from_dict({
        'work_dir': str(tmp_path),
        'log_level': 'WARNING',
        'load_from': str(official['converted']),
        'experiment_name': 'continue_official',
        'model.teacher.depth': 4,
        'train_dataloader.dataset.dataset.data_root': str(imagenet_root),
        'train_dataloader.dataset.dataset.indices': 32,
        'train_cfg.max_epochs': 1,
        'param_scheduler.0.stage_epochs': [0, 1],
        'param_scheduler.0.warmup_epochs': 0.5,
        'custom_hooks.0.stage_epochs': [0, 1],
        'default_hooks.checkpoint.interval': 10,
    })
    # what is tested is the loading: a plain AdamW, whatever the config's layer-decay options
    cfg.optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=1.5e-3, betas=(0.9, 0.95), weight_decay=0.05))
    runner = Runner.from_cfg(cfg)
    load_checkpoint(runner.model, str(official['converted']), strict=True)  # no key left over
    assert torch.equal(runner.model.neck.decoder_pred.weight,
                       official['student'].decoder_predp.weight)
    runner.train()
    model, teacher = runner.model, official['teacher']
    assert runner.iter == 2
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0, loss
    for k, v in teacher.state_dict().items():
        assert torch.equal(model.teacher.state_dict()[k], v), k
    moved = model.backbone.blocks[0].attn.qkv.weight
    assert not torch.equal(moved, official['student'].blocks[0].attn.qkv.weight)
    torch.testing.assert_close(
        moved, official['student'].blocks[0].attn.qkv.weight, atol=0.02,
        rtol=0)  # continued, not re-initialised


# ---------------------------------------------------------------------------------- errors
def convert_error(tmp_path, payload, name='odd.pth', raw=None, argv=()):
    path = tmp_path / name
    if raw is not None:
        path.write_bytes(raw)
    else:
        torch.save(payload, path)
    with pytest.raises(SystemExit) as err:
        load_tool().main([str(path), str(tmp_path / 'out.pth'), *argv])
    message = str(err.value.code)
    assert '\n' not in message and str(path) in message, message
    assert not (tmp_path / 'out.pth').exists()
    return message


def test_unknown_keys_named(tmp_path):
    message = convert_error(tmp_path, {
        'model': {
            'patch_embed.proj.weight': torch.zeros(1),
            'backbone.layers.0.w': torch.zeros(1)
        }
    })
    assert 'backbone.layers.0.w' in message and 'unofficial' not in message


def test_beit_branch_unknown_and_bad_index_named(tmp_path):
    base = {'patch_embed.proj.weight': torch.zeros(1), 'blocks.0.gamma_1': torch.zeros(1)}
    message = convert_error(tmp_path, {'model': dict(base, **{'decoder.w': torch.zeros(1)})})
    assert 'beit-branch' in message and 'decoder.w' in message
    table = torch.zeros(7 * 7 + 3, 2)  # a 4 x 4 window
    index = beit_relative_position_index(4).flip(0)
    message = convert_error(
        tmp_path, {
            'model':
            dict(
                base, **{
                    'rel_pos_bias.relative_position_bias_table': table,
                    'rel_pos_bias.relative_position_index': index
                })
        })
    assert 'rel_pos_bias.relative_position_index' in message and '4x4 window' in message


def test_already_converted_named(tmp_path, official):
    message = convert_error(tmp_path, torch.load(official['converted'], weights_only=True))
    assert 'already in the dbot_mm layout' in message


def test_not_a_dict(tmp_path):
    message = convert_error(tmp_path, [torch.zeros(2)], name='list.pth')
    assert 'holds a list' in message


@pytest.mark.parametrize(
    'raw,needle', [
        (b'', 'empty'),
        (b'<!DOCTYPE html><html><body>Sign in</body></html>', 'HTML page'),
    ],
    ids=['empty', 'html'])
def test_unreadable_file(tmp_path, raw, needle):
    assert needle in convert_error(tmp_path, None, raw=raw)


def test_truncated_file(tmp_path, official):
    data = (official['root'] / 'checkpoint-800.pth').read_bytes()
    message = convert_error(tmp_path, None, name='cut.pth', raw=data[:len(data) // 2])
    assert 'truncated' in message


def test_bad_teacher_file_named(tmp_path, official):
    teacher = tmp_path / 'teacher.pth'
    teacher.write_bytes(b'')
    with pytest.raises(SystemExit) as err:
        load_tool().main([
            str(official['root'] / 'checkpoint-800.pth'),
            str(tmp_path / 'out.pth'), '--teacher',
            str(teacher)
        ])
    assert str(teacher) in str(err.value.code) and 'empty' in str(err.value.code)


def test_model_zoo_metafile():
    """configs/pretrain/metafile.yml: configs exist, downstream entries resolve, weights are the
    official README's links, results match docs/model_zoo.md."""
    import yaml
    meta = yaml.safe_load((REPO / 'configs/pretrain/metafile.yml').read_text())
    models = {m['Name']: m for m in meta['Models']}
    zoo = (REPO / 'docs/model_zoo.md').read_text()
    pretrained = [m for m in meta['Models'] if 'Converted From' in m]
    assert len(pretrained) == 6
    for model in pretrained:
        url = model['Converted From']['Weights']
        assert url.startswith('https://lf3-nlp-opensource.bytetos.com/') and f'({url})' in zoo
        for name in model['Downstream']:
            down = models[name]
            assert (REPO / down['Config']).is_file(), down['Config']
            value = list(down['Results'][0]['Metrics'].values())[0]
            row = next(line for line in zoo.splitlines() if f'({url})' in line)
            assert f'| {value} ' in row, (name, value, row)
    for model in meta['Models']:
        if 'Config' in model:
            assert (REPO / model['Config']).is_file(), model['Config']


# ----------------------------------------------------------------------------- beit branch
BEIT_TINY = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4)
# what the beit branch builds: run.sh pretraining (shared table, no pos_embed); the COCO note
# "pre-trained with absolute position embedding"; both tables and a pos_embed
BEIT_LAYOUTS = {
    'shared': dict(use_abs_pos_emb=False, use_shared_rel_pos_bias=True),
    'abs': dict(use_abs_pos_emb=True),
    'abs+shared+block':
    dict(use_abs_pos_emb=True, use_rel_pos_bias=True, use_shared_rel_pos_bias=True),
}


def beit_relative_position_index(side):
    """modeling_finetune.py RelativePositionBias.__init__, restated."""
    coords = torch.stack(torch.meshgrid([torch.arange(side)] * 2, indexing='ij')).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += side - 1
    rel[:, :, 1] += side - 1
    rel[:, :, 0] *= 2 * side - 1
    num = (2 * side - 1)**2 + 3
    index = torch.zeros((side * side + 1, ) * 2, dtype=rel.dtype)
    index[1:, 1:] = rel.sum(-1)
    index[0, 0:] = num - 3
    index[0:, 0] = num - 2
    index[0, 0] = num - 1
    return index


def beit_save_model(path, num_classes=0, key='model', **layout):
    """A timm Beit (the beit branch's key layout) with random weights, written as the branch's
    utils.save_model does: the model's state dict, with its persistent relative_position_index
    buffers, plus mask_token and lm_head for a pretraining file (modeling_pretrain.py)."""
    beit = Beit(
        **BEIT_TINY,
        num_classes=num_classes,
        global_pool='avg' if num_classes else '',
        init_values=0.1,
        **layout).eval()
    gen = torch.Generator().manual_seed(len(path.name))
    with torch.no_grad():
        for p in beit.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    state = dict(beit.state_dict())
    index = beit_relative_position_index(BEIT_TINY['img_size'] // BEIT_TINY['patch_size'])
    for k in [k for k in state if k.endswith('relative_position_bias_table')]:
        state[k.replace('_bias_table', '_index')] = index.clone()
    if not num_classes:
        state.update({
            'mask_token': torch.randn(1, 1, 64, generator=gen),
            'lm_head.weight': torch.randn(48, 64, generator=gen),
            'lm_head.bias': torch.randn(48, generator=gen)
        })
    args = argparse.Namespace(model='beit_base_patch16_224_8k_vocab', layer_scale_init_value=0.1)
    torch.save({key: state, 'optimizer': {}, 'epoch': 1599, 'args': args}, path)
    return beit, state


def beit_vit(layout, **kwargs):
    return DBotViT(
        arch='tiny',
        embed_dims=64,
        depth=2,
        num_heads=4,
        img_size=32,
        patch_size=8,
        use_abs_pos_emb=layout.get('use_abs_pos_emb', True),
        use_rel_pos_bias=layout.get('use_rel_pos_bias', False)
        or layout.get('use_shared_rel_pos_bias', False),
        layer_scale_init_value=0.1,
        **kwargs).eval()


@pytest.mark.parametrize('name', sorted(BEIT_LAYOUTS))
def test_beit_pretraining_file_gives_beits_features(tmp_path, capsys, name):
    """A beit-branch pretraining file converts; DBotViT with the options the tool prints gives
    timm Beit's tokens on the same weights, and mask_token / lm_head go where DBOTCLIP has them."""
    layout = BEIT_LAYOUTS[name]
    src, dst = tmp_path / 'checkpoint-1599.pth', tmp_path / 'converted.pth'
    beit, state = beit_save_model(src, **layout)
    load_tool().main([str(src), str(dst)])
    out = capsys.readouterr().out
    rel_pos = name != 'abs'
    assert f"its DBotViT: use_abs_pos_emb={layout['use_abs_pos_emb']}, " \
        f'use_rel_pos_bias={rel_pos}, layer scale yes' in out
    vit = beit_vit(
        layout,
        out_type='raw',
        init_cfg=dict(type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    vit.init_weights()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(vit(x)[0], beit.forward_features(x), rtol=1e-5, atol=1e-5)
    converted = torch.load(dst, weights_only=True)['state_dict']
    for k in ('mask_token', 'lm_head.weight', 'lm_head.bias'):
        assert torch.equal(converted[k], state[k]), k
    assert converted['backbone.blocks.0.attn.qkv.bias'][64:128].eq(0).all()
    assert not any(k.endswith('_index') or k.startswith('backbone.rel_pos_bias') for k in converted)


def test_beit_finetuned_file_gives_the_same_logits(tmp_path):
    """A fine-tuned beit-branch classifier (modeling_finetune.py, a DeepSpeed ``module`` file)
    through the ViT-H/14-448 config's model (backbone and head from the one file), at tiny size:
    the logits of timm's Beit on the same weights."""
    layout = dict(use_abs_pos_emb=False, use_rel_pos_bias=True)
    src, dst = tmp_path / 'checkpoint-best.pth', tmp_path / 'converted.pth'
    beit, _ = beit_save_model(src, num_classes=5, key='module', **layout)
    load_tool().main([str(src), str(dst)])
    cfg = Config.fromfile(
        str(REPO / 'configs/cls/vit-huge-p14_dbot-clip_32xb32-coslr-10e_in1k-448px.py'))
    backbone = dict(
        cfg.model.backbone,
        arch='tiny',
        embed_dims=64,
        depth=2,
        num_heads=4,
        img_size=32,
        patch_size=8,
        init_cfg=dict(cfg.model.backbone.init_cfg, checkpoint=str(dst)))
    head = dict(
        cfg.model.head,
        num_classes=5,
        in_channels=64,
        init_cfg=[dict(cfg.model.head.init_cfg[0], checkpoint=str(dst))])
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(cfg.model, backbone=backbone, head=head)).eval()
    model.init_weights()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x, mode='tensor'), beit(x), rtol=1e-5, atol=1e-5)


def test_model_zoo_clip_releases():
    """docs/model_zoo.md, the CLIP-distilled releases: every beit-branch link of the official
    README has a row; a pretraining file converts to its configs' `pretrained` (the 224 px
    fine-tuned ViT-H to the 448 px config's); the numbers are paper_results.json's."""
    from dbot_mm.reporting.paper import load_paper_results
    lines = (REPO / 'docs/model_zoo.md').read_text().splitlines()
    start = lines.index('| release | converted file | config | reproduces |')
    paper = {
        (e['pretrain_config'], e['metric'], e['match'].get('input_size')): e['value']
        for e in load_paper_results()['results'] if not e.get('baseline')
    }
    pretrain = {
        'base': 'dbot-clip_vit-b-p16_clip-b16.py',
        'large': 'dbot-clip_vit-l-p16_clip-l14.py',
        'huge': 'dbot-clip_vit-h-p14_clip-l14.py'
    }
    releases, converted = [], None
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        release, target, config, value = (c.strip() for c in line.strip('|').split('|'))
        if release:
            releases.append(release[1:release.index(']')])
            converted = target.strip('`')
        name, note = config.split('`')[1], config.split('`')[2].strip()
        cfg = Config.fromfile(str(REPO / 'configs' / name))
        if note != '(test)':
            assert cfg.pretrained == converted, (name, converted)
        arch = cfg.model.backbone.arch
        metric = {'cls': 'top1', 'det': 'APbox', 'seg': 'mIoU'}[name.split('/')[0]]
        size = cfg.model.backbone.img_size if metric == 'top1' else None
        assert float(value) == paper[(pretrain[arch], metric, size)], line
    assert releases == [
        f'{n}_clip_{a}_{kind}.pth'
        for n, a in (('85.7', 'base'), ('87.8', 'large'), ('88.5', 'huge'))
        for kind in ('pre', 'finetune')
    ] + ['89.1_clip_huge_448_finetune.pth']
