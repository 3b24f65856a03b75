"""Convert an official dBOT / MAE checkpoint (``{'model': state_dict}``, timm key names) to
dbot_mm's layout, so released weights start downstream runs or load as a teacher.

    python tools/model_converters/official_dbot_to_dbot_mm.py dbot_base_pre.pth dbot_vit-b.pth

The output is tensor-only (``torch.load(weights_only=True)`` reads it) with the keys
``backbone.*`` (encoder), ``neck.*`` (decoder, when present) and ``head.fc.*`` (fine-tuned head).
"""
import argparse
import os
import os.path as osp
import sys

import torch

from dbot_mm.models.utils.official_keys import convert_official_state_dict


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='output file')
    return parser.parse_args()


def main():
    args = parse_args()
    if not osp.isfile(args.src):
        sys.exit(f'error: checkpoint file not found: {args.src}')
    # Official files hold tensors, numbers and an argparse.Namespace ('args'): load them without
    # executing pickled code, allowing that one plain class.
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(args.src, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - report the file, not a pickle traceback
        sys.exit(f'error: {args.src} is not a tensor-only checkpoint ({str(e).splitlines()[0]}); '
                 'if you trust it, re-save its state dict with torch.save(ckpt["model"], path)')
    state_dict = ckpt.get('model', ckpt.get('state_dict', ckpt))
    try:
        converted = convert_official_state_dict(state_dict, source=args.src)
    except KeyError as e:
        sys.exit(f'error: {e.args[0]}')
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(dict(state_dict=converted, meta=dict(converted_from=osp.basename(args.src))),
               args.dst)
    print(f'converted {len(converted)} tensors from {args.src} to {args.dst}')


if __name__ == '__main__':
    main()
