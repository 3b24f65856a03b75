"""The DBOT self-supervisor: teacher frozen and in eval mode, targets, masking, K masks."""
from pathlib import Path

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS

import dbot_mm  # noqa: F401
from dbot_mm.models import random_masking

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

REPO = Path(__file__).resolve().parents[3]


def tiny_dbot(teacher_depth=0,
              teacher_dims=32,
              num_masks=1,
              amp_teacher_weights=True,
              **teacher_kw):
    vit = dict(type='DBotViT', arch='tiny', embed_dims=32, num_heads=2, img_size=32, patch_size=8)
    return MODELS.build(
        dict(
            type='DBOT',
            num_masks=num_masks,
            amp_teacher_weights=amp_teacher_weights,
            backbone=dict(vit, depth=2, drop_path_rate=0.1),
            neck=dict(
                type='DBotDecoder', decoder_embed_dims=32, decoder_depth=1, decoder_num_heads=2),
            head=dict(type='DBotHead'),
            teacher=dict(vit, depth=teacher_depth, embed_dims=teacher_dims, **teacher_kw)))


def test_teacher_frozen_not_in_optimizer_and_eval():
    model = tiny_dbot(teacher_depth=2)
    model.init_weights()
    assert all(not p.requires_grad for p in model.teacher.parameters())
    optim = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
            paramwise_cfg=dict(flat_decay_mult=0.)))
    in_optim = {id(p) for g in optim.optimizer.param_groups for p in g['params']}
    assert not any(id(p) in in_optim for p in model.teacher.parameters())
    assert any(id(p) in in_optim for p in model.backbone.parameters())
    model.train()
    assert model.backbone.training and not model.teacher.training
    assert not any(m.training for m in model.teacher.modules())
    loss = model.loss(torch.randn(2, 3, 32, 32), [])['loss']
    loss.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.backbone.blocks[0].attn.qkv.weight.grad is not None


def test_stage1_teacher_is_students_init_truncated():
    model = tiny_dbot(teacher_depth=0)
    model.init_weights()
    assert len(model.teacher.blocks) == 0
    for name in ('patch_embed.proj.weight', 'cls_token', 'pos_embed'):
        assert torch.equal(model.teacher.state_dict()[name], model.backbone.state_dict()[name])
    same_depth = tiny_dbot(teacher_depth=2)
    same_depth.init_weights()
    for k, v in same_depth.teacher.state_dict().items():
        assert torch.equal(v, same_depth.backbone.state_dict()[k]), k


def test_target_is_last_block_without_final_norm_incl_cls():
    model = tiny_dbot(teacher_depth=2)
    model.init_weights()
    x = torch.randn(2, 3, 32, 32)
    target = model.compute_target(x)
    assert target.shape == (2, 17, 32) and not target.requires_grad
    t = model.teacher
    tokens = torch.cat([(t.cls_token + t.pos_embed[:, :1]).expand(2, -1, -1),
                        t.patch_embed(x).flatten(1, 2) + t.pos_embed[:, 1:]],
                       dim=1)
    for blk in t.blocks:
        tokens = blk(tokens)
    assert torch.allclose(target, tokens, atol=1e-6)
    assert not torch.allclose(target, t.norm(tokens), atol=1e-3)


def test_random_masking_as_mae():
    torch.manual_seed(0)
    ids_keep, ids_restore, mask = random_masking(4, 16, 0.75, torch.device('cpu'))
    assert ids_keep.shape == (4, 4) and mask.sum(1).tolist() == [12.] * 4
    for b in range(4):
        assert mask[b, ids_keep[b]].sum() == 0  # kept patches are the visible ones
        assert sorted(ids_restore[b].tolist()) == list(range(16))


def test_external_teacher_of_other_width():
    model = tiny_dbot(teacher_depth=3, teacher_dims=48, num_heads=3)
    assert model.neck.decoder_pred.out_features == 48
    loss = model.loss(torch.randn(2, 3, 32, 32), [])['loss']
    assert torch.isfinite(loss)


def test_num_masks_two_equals_mean_of_single_mask_losses():
    model = tiny_dbot(teacher_depth=2, num_masks=2)
    model.init_weights()
    model.eval()  # no drop path: the two passes must see the same network
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(1)
    two = model.loss(x, [])['loss']
    torch.manual_seed(1)
    ids_keep, ids_restore, mask = random_masking(4, 16, 0.75, x.device)
    target = model.compute_target(x)
    singles = []
    for k in range(2):
        rows = slice(2 * k, 2 * k + 2)
        pred = model.neck(model.backbone.forward_masked(x, ids_keep[rows]), ids_restore[rows])
        singles.append(model.head.loss(pred, target, mask[rows]))
    assert torch.allclose(two, sum(singles) / 2, atol=1e-6)


def test_bootstrap_copies_student_and_reinitialises_in_place():
    model = tiny_dbot(teacher_depth=0)
    model.init_weights()
    with torch.no_grad():
        for p in model.backbone.parameters():
            p.add_(0.5)  # pretend training moved the student
    trained = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    params_before = [id(p) for p in model.backbone.parameters()]
    model.bootstrap()
    assert len(model.teacher.blocks) == 2 and not model.teacher.training
    assert all(not p.requires_grad for p in model.teacher.parameters())
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, trained[k]), k
    assert not torch.equal(model.backbone.blocks[0].attn.qkv.weight,
                           trained['blocks.0.attn.qkv.weight'])
    assert [id(p) for p in model.backbone.parameters()] == params_before
    # the fixed sin-cos position embedding is re-created identically
    assert torch.allclose(model.backbone.pos_embed, trained['pos_embed'] - 0.5, atol=1e-6)


def test_vit_b_forward_backward_at_224():
    from mmengine.config import Config
    cfg = Config.fromfile(REPO / 'configs/pretrain/dbot_vit-b.py')
    model = MODELS.build(cfg.model)
    model.init_weights()
    x = torch.randn(1, 3, 224, 224)
    loss = model.loss(x, [])['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert model.neck.decoder_pred.out_features == 768
    assert model.backbone.patch_embed.proj.weight.grad is not None


def _matmul_weight_dtypes(module):
    return {
        p.dtype
        for m in module.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
        for p in m.parameters(recurse=False)
    }


def test_amp_teacher_weights_give_a_bit_identical_target():
    """Under autocast the teacher's Linear/Conv weights are stored in the autocast dtype: the
    target (and the loss) are bit-identical to an fp32-weight teacher cast at every forward, the
    norms / position / CLS stay fp32, and bootstrap + checkpoint round trip keep it exact."""
    torch.manual_seed(0)
    amp, ref = tiny_dbot(teacher_depth=2), tiny_dbot(teacher_depth=2, amp_teacher_weights=False)
    amp.init_weights()
    ref.load_state_dict(amp.state_dict())
    amp.eval(), ref.eval()  # no drop path
    x = torch.randn(3, 3, 32, 32)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        t_amp, t_ref = amp.compute_target(x), ref.compute_target(x)
        assert torch.equal(t_amp, t_ref)
        torch.manual_seed(1)
        loss_amp = amp.loss(x, [])['loss']
        torch.manual_seed(1)
        loss_ref = ref.loss(x, [])['loss']
    assert torch.equal(loss_amp, loss_ref)
    assert _matmul_weight_dtypes(amp.teacher) == {torch.bfloat16}
    assert _matmul_weight_dtypes(ref.teacher) == {torch.float32}
    for name in ('cls_token', 'pos_embed', 'blocks.0.norm1.weight', 'norm.weight'):
        assert amp.teacher.state_dict()[name].dtype == torch.float32, name
    assert all(not p.requires_grad and not p.is_inference() for p in amp.teacher.parameters())

    # stage boundary: teacher <- fp32 student, rounded once as autocast would
    with torch.no_grad():
        for model in (amp, ref):
            for p in model.backbone.parameters():
                p.add_(0.01)
    amp.bootstrap(), ref.bootstrap()
    ref.backbone.load_state_dict(amp.backbone.state_dict())
    ref.neck.load_state_dict(amp.neck.state_dict())
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.equal(amp.compute_target(x), ref.compute_target(x))

    # checkpoint (bf16 teacher weights) -> fresh fp32 model: same target under autocast
    resumed = tiny_dbot(teacher_depth=2)
    resumed.load_state_dict(amp.state_dict())
    assert _matmul_weight_dtypes(resumed.teacher) == {torch.float32}
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.equal(resumed.compute_target(x), ref.compute_target(x))


def test_amp_teacher_weights_need_autocast_for_the_whole_run():
    model = tiny_dbot(teacher_depth=2)
    model.init_weights()
    x = torch.randn(2, 3, 32, 32)
    model.compute_target(x)  # fp32 run: nothing changes
    assert _matmul_weight_dtypes(model.teacher) == {torch.float32}
    with torch.autocast('cpu', dtype=torch.bfloat16):
        model.compute_target(x)
    with pytest.raises(RuntimeError, match='amp_teacher_weights'):
        model.compute_target(x)
