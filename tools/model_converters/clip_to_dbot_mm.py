"""Extract the image encoder of an OpenAI CLIP checkpoint as a tensor-only teacher file.

    python tools/model_converters/clip_to_dbot_mm.py ViT-B-16.pt checkpoints/clip/B-16_visual.pth

The input is the OpenAI file (the JIT archive clip.load downloads, or its state dict); the output
is ``{'state_dict': {visual keys without 'visual.', fp32}, 'meta': {...}}``, readable with
``torch.load(weights_only=True)``; ``CLIPTeacher(checkpoint=...)`` takes either file. Converting
once avoids unpickling a TorchScript archive in every training job.
"""
import argparse
import os
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint', help='OpenAI CLIP file, e.g. ViT-B-16.pt')
    parser.add_argument('out', help='output teacher file')
    return parser.parse_args(argv)


def convert(checkpoint: str, out: str) -> dict:
    """Write the teacher file; returns what was written."""
    import torch

    from dbot_mm.models.targets.clip_teacher import load_clip_visual_state_dict
    state = load_clip_visual_state_dict(checkpoint)
    result = dict(
        state_dict=state,
        meta=dict(converted_from=osp.basename(checkpoint), source='openai-clip-visual'))
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    torch.save(result, out)
    return result


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        result = convert(args.checkpoint, args.out)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f'clip_to_dbot_mm: {e}', file=sys.stderr)
        return 1
    print(f'clip_to_dbot_mm: wrote {len(result["state_dict"])} tensors to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
