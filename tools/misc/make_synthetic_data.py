"""Write synthetic ImageNet / COCO / ADE20K in the real on-disk layouts.

    python tools/misc/make_synthetic_data.py all --out data/ --size demo

writes ``data/imagenet``, ``data/coco`` and ``data/ade/ADEChallengeData2016``: the paths the
standard configs use. Re-running with the same arguments returns at once; an interrupted run is
rewritten. Directories holding real data (no generator marker) are never overwritten.
"""
import argparse
import os.path as osp

from dbot_mm.testing import make_ade20k, make_coco, make_imagenet

# 'small' = the library defaults (what the tests use); 'demo' = enough for the CPU demos to learn.
SIZES = {
    'small':
    dict(imagenet={}, coco={}, ade20k={}),
    'demo':
    dict(
        imagenet=dict(num_classes=4, train_per_class=200, val_per_class=50, img_size=64),
        coco=dict(num_train=200, num_val=50, img_size=(96, 128)),
        ade20k=dict(num_train=200, num_val=50, img_size=128)),
}
MAKERS = {
    'imagenet': (make_imagenet, 'imagenet'),
    'coco': (make_coco, 'coco'),
    'ade20k': (make_ade20k, 'ade')
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dataset', choices=[*MAKERS, 'all'])
    parser.add_argument('--out', default='data', help='parent folder (default: data)')
    parser.add_argument('--size', choices=sorted(SIZES), default='small')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    names = list(MAKERS) if args.dataset == 'all' else [args.dataset]
    for name in names:
        maker, folder = MAKERS[name]
        summary = maker(
            osp.join(args.out, folder), seed=args.seed, verbose=True, **SIZES[args.size][name])
        counts = ', '.join(f'{k}={v}' for k, v in summary.items() if k.startswith('num_'))
        print(f'[{name}] {summary["data_root"]}: {counts}', flush=True)


if __name__ == '__main__':
    main()
