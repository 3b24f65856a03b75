"""Export the ViT of a dBOT pretraining checkpoint as a tensor-only backbone file.

    python tools/model_converters/dbot_to_backbone.py work_dirs/dbot_vit-b/epoch_1600.pth \
        dbot_vit-b_student.pth [--source student|teacher]

``--source student`` (default) takes the keys under ``backbone.`` (the student encoder, what the
paper fine-tunes; also works for any mmengine model with a backbone), ``--source teacher`` those
under ``teacher.``. The output is ``{'state_dict': {backbone keys without prefix}, 'meta':
{'source', 'prefix', 'converted_from', 'epoch'?}}``: no optimizer, no message hub, nothing but
tensors, strings and numbers, so ``torch.load(weights_only=True)`` reads it and a downstream
config loads it with ``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='')``.
Floating-point tensors are written in fp32: a teacher trained under AMP holds its matmul weights
in fp16/bf16 (``DBOT.amp_teacher_weights``), and every backbone file gets one dtype.
"""
import argparse
import os
import os.path as osp
from collections import OrderedDict

import torch

from dbot_mm.models.utils.pretrained import SOURCE_PREFIXES, key_prefixes, strip_prefix
from dbot_mm.utils.checkpoint import (
    CheckpointLoadError,
    exit_on_checkpoint_errors,
    extract_state_dict,
    load_checkpoint,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint', help='dBOT (mmengine) checkpoint, e.g. epoch_1600.pth')
    parser.add_argument('out', help='output backbone file')
    parser.add_argument(
        '--source',
        choices=sorted(SOURCE_PREFIXES),
        default='student',
        help='which encoder to export (default: student)')
    return parser.parse_args(argv)


def export_backbone(checkpoint: str, out: str, source: str = 'student') -> dict:
    """Write the backbone file; returns what was written. Raises one of
    ``dbot_mm.utils.checkpoint.CHECKPOINT_ERRORS``, with a one-line message naming the file."""
    prefix = SOURCE_PREFIXES[source]
    ckpt = load_checkpoint(checkpoint)
    state = extract_state_dict(ckpt, checkpoint)
    backbone = strip_prefix(state, prefix)
    if not backbone:
        raise CheckpointLoadError(
            f"checkpoint '{checkpoint}' has no keys under '{prefix}' (--source {source}); the "
            f'prefixes in the file are {key_prefixes(state)}')
    meta = dict(source=source, prefix=prefix, converted_from=osp.basename(checkpoint))
    epoch = ckpt.get('meta', {}).get('epoch') if isinstance(ckpt.get('meta'), dict) else None
    if isinstance(epoch, int):
        meta['epoch'] = epoch
    result = dict(
        state_dict=OrderedDict(
            (k, (v.float() if v.is_floating_point() else v).detach().clone().contiguous())
            for k, v in backbone.items()),
        meta=meta)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(result, out)
    return result


def main(argv=None):
    args = parse_args(argv)
    with exit_on_checkpoint_errors():
        result = export_backbone(args.checkpoint, args.out, args.source)
    print(f"exported {len(result['state_dict'])} tensors of the {args.source} "
          f"('{SOURCE_PREFIXES[args.source]}') from {args.checkpoint} to {args.out}")


if __name__ == '__main__':
    main()
