"""Convert an official dBOT / MAE checkpoint (main branch of github.com/liuxingbin/dbot:
``{'model': state_dict, ...}``, timm key names) to dbot_mm's layout, so released weights start
downstream runs, continue pretraining (``load_from``) or load as a teacher.

    python tools/model_converters/official_dbot_to_dbot_mm.py 84.5_dbot_base_pre.pth \
        dbot_vit-b_official.pth [--teacher checkpoint-teacher-1600.pth]

SRC may be a file or an http(s) URL. It is read with ``torch.load(weights_only=True)``: the
official ``misc.save_model`` layout (``model``, ``optimizer``, ``epoch``, ``scaler``, ``args``)
loads as data. The output is ``{'state_dict': ..., 'meta': ...}``, tensors only, with the keys
``backbone.*`` (encoder), ``neck.*`` (decoder, ``decoder_predp`` -> ``neck.decoder_pred``),
``head.fc.*`` (fine-tuned head) and, with ``--teacher`` (the official teacher file, saved apart
from the student), ``teacher.*``. The optimizer, loss scaler and arguments are not carried over.
"""
import argparse
import os
import os.path as osp
from typing import Optional, Tuple


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official checkpoint (.pth file or URL)')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--teacher',
        help="official teacher checkpoint (checkpoint-teacher-N.pth; "
        "its encoder becomes 'teacher.*')")
    return parser.parse_args(argv)


def _official_state(src: str) -> Tuple[dict, dict]:
    """The checkpoint and its state dict (``model``, ``state_dict`` or the file itself)."""
    from dbot_mm.models.utils.pretrained import (
        CheckpointLoadError,
        extract_state_dict,
        read_checkpoint,
    )
    ckpt = read_checkpoint(src)
    if not isinstance(ckpt, dict):
        raise CheckpointLoadError(
            f"'{src}' holds a {type(ckpt).__name__}, not an official checkpoint dict "
            "({'model': state_dict, ...})")
    return ckpt, extract_state_dict(ckpt, src)


def convert(src: str, dst: str, teacher: Optional[str] = None) -> dict:
    """Write the converted file; returns what was written. Raises one-line errors (see main)."""
    import torch

    from dbot_mm.models.utils.official_keys import (
        convert_official_state_dict,
        convert_official_teacher,
    )
    ckpt, state = _official_state(src)
    converted = convert_official_state_dict(state, source=src)
    meta = dict(converted_from=osp.basename(src))
    if isinstance(ckpt.get('epoch'), int):
        meta['official_epoch'] = ckpt['epoch']
    if teacher:
        _, teacher_state = _official_state(teacher)
        teacher_keys, left_out = convert_official_teacher(teacher_state, source=teacher)
        converted.update(teacher_keys)
        meta.update(teacher_from=osp.basename(teacher), teacher_keys_left_out=len(left_out))
    result = dict(state_dict=converted, meta=meta)
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save(result, dst)
    return result


def main(argv=None):
    args = parse_args(argv)
    from dbot_mm.models.utils.official_keys import OfficialCheckpointError
    from dbot_mm.models.utils.pretrained import exit_on_checkpoint_errors
    with exit_on_checkpoint_errors(OfficialCheckpointError):
        result = convert(args.src, args.dst, args.teacher)
    state, meta = result['state_dict'], result['meta']
    counts = {
        p: sum(k.startswith(p) for k in state)
        for p in ('backbone.', 'neck.', 'head.fc.', 'teacher.')
    }
    parts = ', '.join(f'{n} {p[:-1]}' for p, n in counts.items() if n)
    note = (f" ({meta['teacher_keys_left_out']} decoder keys of the teacher file left out)"
            if meta.get('teacher_keys_left_out') else '')
    print(f'converted {len(state)} tensors ({parts}) from {args.src} to {args.dst}{note}')


if __name__ == '__main__':
    main()
