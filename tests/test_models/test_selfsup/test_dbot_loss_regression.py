"""A seeded tiny dBOT training step against an independent plain-torch recomputation of its loss.

The reference follows the official code (models_mae.py: ``forward_teacher`` with
``tlayernorm=0``, ``random_masking``, ``forward_encoder``, ``forward_decoder``, ``forward_loss``)
in float64, one image and one mask at a time, from a snapshot of the weights, the same uint8
batch and the same masking noise. It shares no code with dbot_mm: a change to the preprocessing,
the target, the masking, the encoder, the decoder or the loss makes the two disagree.
"""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import dbot_mm  # noqa: F401  (registers DBOT)

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
BATCH, IMG, PATCH, DIMS, HEADS, DEPTH, DEC_DIMS, DEC_HEADS = 2, 32, 8, 32, 2, 2, 16, 2
NUM_PATCHES = (IMG // PATCH)**2


def tiny_dbot(num_masks: int):
    vit = dict(
        type='DBotViT',
        embed_dims=DIMS,
        depth=DEPTH,
        num_heads=HEADS,
        img_size=IMG,
        patch_size=PATCH)
    return MODELS.build(
        dict(
            type='DBOT',
            num_masks=num_masks,
            backbone=vit,
            teacher=vit,
            data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=MEAN, std=STD, to_rgb=True),
            neck=dict(
                type='DBotDecoder',
                decoder_embed_dims=DEC_DIMS,
                decoder_depth=1,
                decoder_num_heads=DEC_HEADS),
            head=dict(type='DBotHead', beta=2.0)))


def layer_norm(x, w, name):
    return F.layer_norm(x, x.shape[-1:], w[name + '.weight'], w[name + '.bias'], eps=1e-6)


def linear(x, w, name):
    return x @ w[name + '.weight'].T + w[name + '.bias']


def block(x, w, name, heads):
    """Pre-norm ViT block: softmax attention written out, exact-erf GELU MLP."""
    n, c = x.shape
    qkv = linear(layer_norm(x, w, name + '.norm1'), w, name + '.attn.qkv')
    q, k, v = qkv.view(n, 3, heads, c // heads).permute(1, 2, 0, 3)
    attn = (q @ k.transpose(-2, -1) / (c // heads)**0.5).softmax(-1)
    x = x + linear((attn @ v).transpose(0, 1).reshape(n, c), w, name + '.attn.proj')
    h = F.gelu(linear(layer_norm(x, w, name + '.norm2'), w, name + '.mlp.fc1'))
    return x + linear(h, w, name + '.mlp.fc2')


def tokens(image, w, prefix):
    """CLS + patch tokens with their position embedding, (1 + L, C)."""
    patches = F.conv2d(
        image[None],
        w[prefix + 'patch_embed.proj.weight'],
        w[prefix + 'patch_embed.proj.bias'],
        stride=PATCH)[0]
    patches = patches.flatten(1).T + w[prefix + 'pos_embed'][0, 1:]
    return torch.cat([w[prefix + 'cls_token'][0] + w[prefix + 'pos_embed'][0, :1], patches])


def reference_loss(w, imgs, noise, num_masks):
    images = imgs.double()[:, [2, 1, 0]]  # to_rgb, then normalise
    images = (images - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    total, count = 0., 0
    for row in range(num_masks * BATCH):  # rows are mask-major: row = k * BATCH + image
        image = images[row % BATCH]
        target = tokens(image, w, 'teacher.')
        for i in range(DEPTH):
            target = block(target, w, f'teacher.blocks.{i}', HEADS)  # no final norm
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1) + 1e-6)[:, None]**.5
        visible = noise[row].argsort()[:NUM_PATCHES // 4]  # the lowest noise is kept, as MAE
        x = tokens(image, w, 'backbone.')
        x = x[torch.cat([torch.zeros(1, dtype=torch.long), visible + 1])]
        for i in range(DEPTH):
            x = block(x, w, f'backbone.blocks.{i}', HEADS)
        x = linear(layer_norm(x, w, 'backbone.norm'), w, 'neck.decoder_embed')
        full = w['neck.mask_token'][0].repeat(NUM_PATCHES, 1)
        full[visible] = x[1:]
        x = torch.cat([x[:1], full]) + w['neck.decoder_pos_embed'][0]
        x = block(x, w, 'neck.decoder_blocks.0', DEC_HEADS)
        pred = linear(layer_norm(x, w, 'neck.decoder_norm'), w, 'neck.decoder_pred')
        per_token = F.smooth_l1_loss(pred, target, beta=2.0, reduction='none').mean(-1)
        counted = torch.ones(1 + NUM_PATCHES, dtype=torch.bool)  # CLS + masked patches
        counted[visible + 1] = False
        total += per_token[counted].sum().item()
        count += int(counted.sum())
    return total / count


@pytest.mark.parametrize('num_masks', [1, 2])
def test_train_step_loss_equals_independent_reference(num_masks):
    torch.manual_seed(0)
    model = tiny_dbot(num_masks)
    model.init_weights()
    with torch.no_grad():  # off the init (zero biases, unit norms, teacher = student), as after
        gen = torch.Generator().manual_seed(2)  # a bootstrap, so that every term shows
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    model.train()
    optim_wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=1e-2)))
    imgs = torch.randint(
        0, 256, (BATCH, 3, IMG, IMG), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    data = dict(inputs=imgs, data_samples=[DataSample() for _ in range(BATCH)])
    snapshots = []
    for step in range(2):  # the second step sees the updated student and the same teacher
        snapshots.append({k: v.detach().double().clone() for k, v in model.state_dict().items()})
        torch.manual_seed(100 + step)
        loss = model.train_step(data, optim_wrapper)['loss'].item()
        torch.manual_seed(100 + step)  # the masking noise the model drew
        noise = torch.rand(num_masks * BATCH, NUM_PATCHES)
        assert loss == pytest.approx(
            reference_loss(snapshots[-1], imgs, noise, num_masks), rel=1e-5, abs=0)
    before, after = snapshots
    assert torch.equal(before['teacher.blocks.0.attn.qkv.weight'],
                       after['teacher.blocks.0.attn.qkv.weight'])
    assert not torch.equal(before['backbone.blocks.0.attn.qkv.weight'],
                           after['backbone.blocks.0.attn.qkv.weight'])
