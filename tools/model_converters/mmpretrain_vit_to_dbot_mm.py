"""Convert an mmpretrain checkpoint with a ViT backbone (``MAE`` / ``MAEViT``, or any model with a
``VisionTransformer`` backbone) to dbot_mm's layout, so that mmpretrain's MAE is evaluated through
the same downstream ``DBotViT`` as dBOT.

    python tools/model_converters/mmpretrain_vit_to_dbot_mm.py \
        work_dirs/mae_vit-base-p16/epoch_1600.pth checkpoints/mae_vit-b_dbot_mm.pth

SRC may be a file or an http(s) URL, read with ``torch.load(weights_only=True)``. The output is
``{'state_dict': {'backbone.<timm key>': ...}, 'meta': {...}}``, written atomically; the keys
outside ``backbone.`` (MAE's decoder ``neck.*``, ``head.*``, a target generator) are left out and
counted. Load it with ``init_cfg=dict(type='Pretrained', checkpoint=DST, prefix='backbone.')``.
"""
import argparse
import io
from collections import Counter


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='mmpretrain / mmengine checkpoint (.pth file or URL)')
    parser.add_argument('dst', help='output file')
    return parser.parse_args(argv)


def convert(src: str, dst: str) -> dict:
    """Write the converted file; returns what was written and the keys left out (``dropped``).
    Raises one-line errors (see main)."""
    import torch

    from dbot_mm.models.utils.mmpretrain_keys import mmpretrain_vit_to_timm, split_backbone
    from dbot_mm.models.utils.pretrained import extract_state_dict
    from dbot_mm.utils.checkpoint import atomic_write, load_checkpoint
    # logger='silent': the summary line of main() says what was read
    state = extract_state_dict(load_checkpoint(src, logger='silent'), src)
    converted = mmpretrain_vit_to_timm(state, source=src)
    _, dropped = split_backbone(state)
    state_dict = {f'backbone.{k}': v for k, v in converted.items()}
    result = dict(
        state_dict=state_dict, meta=dict(converted_from=src, source_format='mmpretrain ViT'))
    buffer = io.BytesIO()
    torch.save(result, buffer)
    atomic_write(buffer.getvalue(), dst)
    return dict(result, dropped=dropped)


def main(argv=None):
    args = parse_args(argv)
    from dbot_mm.models.utils.pretrained import exit_on_checkpoint_errors
    with exit_on_checkpoint_errors(ValueError):
        result = convert(args.src, args.dst)
    dropped = Counter(k.split('.', 1)[0] for k in result['dropped'])
    left_out = ', '.join(f'{n} {p}.*' for p, n in dropped.items())
    note = f' (left out: {left_out})' if dropped else ''
    print(f"converted {len(result['state_dict'])} backbone tensors from {args.src} "
          f'to {args.dst}{note}')


if __name__ == '__main__':
    main()
