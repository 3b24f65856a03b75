"""Export the ViT of a dbot_mm checkpoint to timm: a safetensors file and a JSON of how to load it.

    python tools/model_converters/dbot_to_timm.py work_dirs/dbot_vit-b/epoch_1600.pth \
        dbot_vit-b.safetensors [--source student|teacher] [--num-heads N]

    info = json.load(open('dbot_vit-b.json'))
    model = timm.create_model(info['timm_model'], pretrained=True, **info['create_model_kwargs'])

Any checkpoint ``dbot_mm.apis.read_vit`` reads: a dBOT run's student or teacher, a fine-tuned
classifier (its ``LinearClsHead`` becomes timm's ``head``, avg-pool + ``fc_norm`` or CLS token as
trained; a backbone gets ``num_classes=0``), an exported or converted backbone. MAE-style ViTs
become timm's ``VisionTransformer`` under their own key names (``DBotViT`` is one); ViTs with a
relative position bias (the CLIP-distilled students, BEiT-style fine-tuning) become
``timm.models.beit.Beit``: q and v biases (the key bias goes: it adds the same q.b_k to every
score of a query, which the softmax cancels), ``gamma_1/2`` for the layer scale, the bias table
inside ``attn``. The JSON holds the model name and kwargs, mean/std (0-1 scale), input size,
source checkpoint, stage, epoch and teacher (the run record of the checkpoint's work dir).

timm loads a ``pretrained_cfg_overlay=dict(file=...)`` strictly only while the overlay's
``num_classes`` equals the model's (else it drops the head and stops checking), so the overlay in
the JSON names both. Before anything is written the tensors are checked key by key against the
timm model (a missing, unused or misshapen key stops the tool in one line); afterwards the file
is loaded back through ``timm.create_model`` and the largest difference between its output and
DBotViT's on a random batch is printed. Tensors are written in fp32.
"""
import argparse
import json
import os
import os.path as osp

import safetensors.torch
import timm
import torch

from dbot_mm.apis import VitSpec, data_preprocessor, get_model, read_vit, run_record
from dbot_mm.models.backbones.vit import ARCH_SETTINGS
from dbot_mm.models.utils.pretrained import SOURCE_PREFIXES
from dbot_mm.utils.checkpoint import CheckpointLoadError, atomic_write, exit_on_checkpoint_errors


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint', help='dbot_mm checkpoint (pretraining, fine-tuned, backbone)')
    parser.add_argument('out', help='output .safetensors file (the JSON is written beside it)')
    parser.add_argument('--source', choices=sorted(SOURCE_PREFIXES), default='student')
    parser.add_argument(
        '--num-heads', type=int, help='attention heads, where neither file nor config says')
    return parser.parse_args(argv)


def timm_model_args(spec: VitSpec):
    """timm model name and ``create_model`` kwargs of the ViT ``spec`` describes."""
    k, state = spec.kwargs, spec.state
    beit = k['use_rel_pos_bias'] or 'pos_embed' not in state
    avg = k['out_type'] == 'avg_featmap'
    kwargs = dict(
        img_size=k['img_size'],
        patch_size=k['patch_size'],
        in_chans=k['in_channels'],
        embed_dim=k['embed_dims'],
        depth=k['depth'],
        num_heads=k['num_heads'],
        mlp_ratio=k['mlp_ratio'],
        qkv_bias=k['qkv_bias'],
        init_values=k['layer_scale_init_value'] or None,
        num_classes=spec.head['weight'].shape[0] if spec.head else 0,
        global_pool='avg' if avg else 'token')
    arch = next((a for a, v in ARCH_SETTINGS.items() if v[:2] == (k['embed_dims'], k['depth'])),
                'base')
    if beit:
        kwargs.update(
            use_abs_pos_emb='pos_embed' in state,
            use_rel_pos_bias=k['use_rel_pos_bias'],
            use_fc_norm=avg)
        name = f'beit_{arch}_patch16_224'
        return (name if name in timm.list_models() else 'beit_base_patch16_224'), kwargs
    kwargs.update(final_norm='norm.weight' in state or avg, fc_norm=avg)
    name = f"vit_{arch}_patch{k['patch_size']}_224"
    return (name if name in timm.list_models() else 'vit_base_patch16_224'), kwargs


def to_timm_state(spec: VitSpec, beit: bool) -> dict:
    """DBotViT keys -> timm's (Beit: q/v bias, gamma_1/2, the table inside attn), fp32."""
    out = {f'head.{n}': v for n, v in spec.head.items()}
    for key, v in spec.state.items():
        if beit and key.endswith('attn.qkv.bias'):
            q, _, v_bias = v.chunk(3)
            out[key[:-8] + 'q_bias'], out[key[:-8] + 'v_bias'] = q, v_bias
            continue
        if beit:
            key = key.replace('.rel_pos_bias.', '.attn.')
            key = key.replace('.ls1.gamma', '.gamma_1').replace('.ls2.gamma', '.gamma_2')
        out[key] = v
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in out.items()}


def check_keys(model: torch.nn.Module, state: dict, checkpoint: str, name: str) -> None:
    target = model.state_dict()
    missing = [k for k in target if k not in state]
    unused = [k for k in state if k not in target]
    shapes = [
        f'{k} {tuple(state[k].shape)} vs {tuple(target[k].shape)}' for k in target
        if k in state and state[k].shape != target[k].shape
    ]
    if missing or unused or shapes:
        raise CheckpointLoadError(
            f"checkpoint '{checkpoint}' does not fill timm's {name} ({type(model).__name__}): "
            f'missing {missing[:6]}, not in timm {unused[:6]}, shape {shapes[:4]}; nothing written')


def _teacher(checkpoint: str):
    """The teacher of the run that wrote ``checkpoint``, from the run record beside it."""
    record = run_record(checkpoint)
    if not record:
        return None
    return dict(
        config=record.get('config_name'),
        checkpoint=record.get('teacher'),
        model=(record.get('model') or {}).get('teacher'))


def export_timm(checkpoint: str, out: str, source: str = 'student', num_heads=None) -> dict:
    """Write ``out`` and its JSON; returns the JSON's content. Raises one of
    ``dbot_mm.utils.checkpoint.CHECKPOINT_ERRORS`` with a one-line message."""
    spec = read_vit(checkpoint, source, num_heads)
    name, kwargs = timm_model_args(spec)
    model = timm.create_model(name, pretrained=False, **kwargs)
    state = to_timm_state(spec, name.startswith('beit'))
    check_keys(model, state, checkpoint, name)
    out = osp.abspath(out)
    os.makedirs(osp.dirname(out), exist_ok=True)
    atomic_write(safetensors.torch.save(state), out)
    prep = data_preprocessor(spec)
    mean, std = [[round(c / 255, 6) for c in prep[key]] for key in ('mean', 'std')]
    size = (kwargs['in_chans'], kwargs['img_size'], kwargs['img_size'])
    overlay = dict(file=out, num_classes=kwargs['num_classes'], mean=mean, std=std, input_size=size)
    info = dict(
        timm_model=name,
        create_model_kwargs=dict(kwargs, pretrained_cfg_overlay=overlay),
        mean=mean,
        std=std,
        input_size=size,
        source_checkpoint=osp.abspath(checkpoint),
        source=source,
        prefix=spec.prefix,
        stage=spec.meta.get('dbot_stage'),
        epoch=spec.meta.get('epoch'),
        teacher=_teacher(checkpoint))
    atomic_write(json.dumps(info, indent=2), osp.splitext(out)[0] + '.json')
    return info


@torch.no_grad()
def max_difference(info: dict, num_heads=None) -> float:
    """Largest |timm output - DBotViT output| (pooled features, or logits with a head) on two
    random images, the timm model loaded from the written file."""
    model = timm.create_model(info['timm_model'], pretrained=True, **info['create_model_kwargs'])
    ref = get_model(info['source_checkpoint'], info['source'], num_heads)
    x = torch.randn(2, *info['input_size'], generator=torch.Generator().manual_seed(0))
    feats = ref.extract_feat(x)
    expected = ref.head(feats) if ref.with_head else feats[-1]
    return (model.eval()(x) - expected).abs().max().item()


def main(argv=None):
    args = parse_args(argv)
    with exit_on_checkpoint_errors():
        info = export_timm(args.checkpoint, args.out, args.source, args.num_heads)
        diff = max_difference(info, args.num_heads)
    kwargs = info['create_model_kwargs']
    print(f"wrote {kwargs['pretrained_cfg_overlay']['file']} and its .json "
          f"({args.source} '{info['prefix']}' of {args.checkpoint})\n"
          f"timm.create_model({info['timm_model']!r}, pretrained=True, **{kwargs})\n"
          f"max |timm - DBotViT| on 2 random images: {diff:.3g}")


if __name__ == '__main__':
    main()
