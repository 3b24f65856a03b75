"""Mean attention distance and singular-value percentage of ViT checkpoints, overlaid in one plot.

The paper's property analysis (official ``analysis/analysis.py``; definitions and deliberate
differences in ``dbot_mm/analysis/representations.py``) for any of our checkpoints: the student
(``--source student``, default) or teacher (``--source teacher``) of a dBOT run, a fine-tuned
model's backbone, an exported backbone, or an official dBOT / MAE / timm ViT file; any width,
depth, patch and input size (architecture inferred from the weights; ``--arch`` / ``--num-heads``
where the width is not a standard one).

    python tools/analysis_tools/analyze_representations.py \\
        work_dirs/dbot_vit-b/epoch_1600.pth work_dirs/dbot_vit-b/epoch_1600.pth mae_vit-b.pth \\
        --source student teacher student --labels dBOT dBOT-teacher MAE \\
        --data data/imagenet/val --num-images 5000 --device cuda --out-dir work_dirs/repr

Writes to ``--out-dir``: ``attention_distance.png`` (every head of every block, one colour per
checkpoint), ``singular_values.png`` (top-k / sum for k = 1..5 per block), ``representations.json``
(the numbers per checkpoint: ``attention_distance`` [block][head] in pixels,
``singular_value_percentage`` [block][k-1]) and ``representations.csv`` (the same, one row each).
"""
import argparse
import csv
import gc
import json
import os
import os.path as osp

SOURCES = ('student', 'teacher')  # representations.SOURCE_PREFIXES (kept light for --help)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoints', nargs='+', help='checkpoint files (or URLs)')
    parser.add_argument(
        '--data',
        required=True,
        help='folder of images, searched at any depth (e.g. data/imagenet/val)')
    parser.add_argument(
        '--labels',
        nargs='+',
        help='legend label per checkpoint (default: file name, "(teacher)" for a teacher)')
    parser.add_argument(
        '--source',
        nargs='+',
        choices=SOURCES,
        default=['student'],
        help='dBOT encoder: one for all checkpoints or one each (a bare backbone is a student)')
    parser.add_argument(
        '--arch', help='tiny, small, base, large or huge (default: inferred from the weights)')
    parser.add_argument(
        '--num-heads', type=int, help='attention heads, for a width that is not a standard arch')
    parser.add_argument(
        '--img-size',
        type=int,
        nargs='+',
        default=[224],
        help='input size S or H W (default: 224); the patch size is the checkpoint\'s')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument(
        '--num-images', type=int, help='evenly spaced subset of the images (default: all)')
    parser.add_argument('--num-workers', type=int, default=4, help='data loading processes')
    parser.add_argument(
        '--device', help="'cpu', 'cuda', 'cuda:1', ... (default: cuda if available)")
    parser.add_argument('--out-dir', default='work_dirs/analyze_representations')
    args = parser.parse_args(argv)
    n = len(args.checkpoints)
    if args.labels is not None and len(args.labels) != n:
        parser.error(f'--labels: {len(args.labels)} labels for {n} checkpoints')
    if len(args.source) not in (1, n):
        parser.error(f'--source: give one value or one per checkpoint ({n}), '
                     f'got {len(args.source)}')
    if len(args.img_size) not in (1, 2) or min(args.img_size) < 1:
        parser.error(f'--img-size: S or H W (positive), got {args.img_size}')
    if args.batch_size < 1 or (args.num_images is not None and args.num_images < 1):
        parser.error('--batch-size and --num-images must be positive')
    return args


def default_label(checkpoint, source):
    name = osp.splitext(osp.basename(checkpoint.split('?')[0]))[0]
    return f'{name} (teacher)' if source == 'teacher' else name


def write_results(results, out_dir):
    """``representations.json`` (everything) and ``representations.csv`` (one value a row)."""
    with open(osp.join(out_dir, 'representations.json'), 'w') as f:
        json.dump(results, f, indent=1)
    with open(osp.join(out_dir, 'representations.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['label', 'checkpoint', 'source', 'metric', 'layer', 'index', 'value'])
        for m in results['models']:
            key = [m['label'], m['checkpoint'], m['source']]
            for layer, heads in enumerate(m['attention_distance']):
                for head, value in enumerate(heads):
                    writer.writerow(key + ['attention_distance', layer, head, value])
            for layer, ks in enumerate(m['singular_value_percentage']):
                for k, value in enumerate(ks, 1):
                    writer.writerow(key + ['singular_value_percentage', layer, k, value])


def plot(results, out_dir):
    """The two figures, every checkpoint overlaid (one colour each)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    models = results['models']
    colors = plt.get_cmap('tab10').colors
    markers = 'osD^vP*X'
    h, w = results['img_size']
    subtitle = f"{results['num_images']} images, {h}x{w} input"

    # Attention distance: one dot per head, one column per block (as the official scatter),
    # checkpoints side by side within the column, and their mean over heads as a line.
    fig, ax = plt.subplots(figsize=(9, 6))
    offsets = np.linspace(-0.25, 0.25, len(models)) if len(models) > 1 else [0.]
    for i, m in enumerate(models):
        dist = np.asarray(m['attention_distance'])
        layers = np.arange(dist.shape[0]) + offsets[i]
        color = colors[i % len(colors)]
        ax.scatter(
            np.repeat(layers, dist.shape[1]),
            dist.ravel(),
            s=16,
            alpha=0.75,
            color=color,
            marker=markers[i % len(markers)],
            label=m['label'])
        ax.plot(layers, dist.mean(axis=1), color=color, lw=1.2, alpha=0.7)
    ax.set_xlabel('layer (block index)')
    ax.set_ylabel('mean attention distance (pixels)')
    ax.set_title(f'Mean attention distance per head; line: mean over heads ({subtitle})')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.grid(linestyle='--', alpha=0.5)
    ax.legend()
    fig.savefig(osp.join(out_dir, 'attention_distance.png'), dpi=150, bbox_inches='tight')
    plt.close(fig)

    # Singular values: one colour per checkpoint, one line style and marker per k.
    styles = ['-', '--', '-.', ':', (0, (6, 2, 1, 2, 1, 2))]
    k_markers = 'os^Dv'
    fig, ax = plt.subplots(figsize=(9, 6))
    num_k = 0
    for i, m in enumerate(models):
        pct = np.asarray(m['singular_value_percentage'])
        num_k = max(num_k, pct.shape[1])
        for k in range(pct.shape[1]):
            ax.plot(
                np.arange(pct.shape[0]),
                pct[:, k],
                color=colors[i % len(colors)],
                linestyle=styles[k % len(styles)],
                marker=k_markers[k % len(k_markers)],
                markersize=4,
                lw=1.3)
    handles = [
        Line2D([], [], color=colors[i % len(colors)], lw=3, label=m['label'])
        for i, m in enumerate(models)
    ]
    handles += [
        Line2D([], [],
               color='0.3',
               linestyle=styles[k % len(styles)],
               marker=k_markers[k % len(k_markers)],
               markersize=4,
               label=f'top-{k + 1}') for k in range(num_k)
    ]
    ax.legend(handles=handles, loc='upper left', bbox_to_anchor=(1.01, 1), fontsize=9)
    ax.set_xlabel('layer (block index)')
    ax.set_ylabel('sum of top-k singular values / sum of all')
    ax.set_title(f'Singular values of the L2-normalised patch tokens ({subtitle})')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(linestyle='--', alpha=0.5)
    fig.savefig(osp.join(out_dir, 'singular_values.png'), dpi=150, bbox_inches='tight')
    plt.close(fig)


def summarize(model):
    """Two lines for the log: the per-block mean distance over heads and top-1 percentage."""
    dist = ' '.join(f'{sum(h) / len(h):.1f}' for h in model['attention_distance'])
    top1 = ' '.join(f"{ks[0]:.3f}" for ks in model['singular_value_percentage'])
    return (f"{model['label']}: mean attention distance per block (px): {dist}\n"
            f"{' ' * len(model['label'])}  top-1 singular value percentage per block: {top1}")


def run(args):
    import torch
    from mmengine.utils import ProgressBar

    from dbot_mm.analysis.representations import ImageFiles, analyze_model, find_images, load_vit

    img_size = tuple(args.img_size) if len(args.img_size) == 2 else (args.img_size[0], ) * 2
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    files = find_images(args.data, args.num_images)
    loader = torch.utils.data.DataLoader(
        ImageFiles(files, img_size),
        batch_size=args.batch_size,
        shuffle=False,
        num_workers=args.num_workers,
        pin_memory=device.type == 'cuda')
    sources = args.source * (len(args.checkpoints) if len(args.source) == 1 else 1)
    labels = args.labels or [default_label(c, s) for c, s in zip(args.checkpoints, sources)]
    results = dict(data=args.data, num_images=len(files), img_size=list(img_size), models=[])
    os.makedirs(args.out_dir, exist_ok=True)
    for checkpoint, source, label in zip(args.checkpoints, sources, labels):
        model, info = load_vit(checkpoint, source, img_size, args.arch, args.num_heads)
        print(f"{label}: {info['depth']} blocks, {info['embed_dims']} wide, {info['num_heads']} "
              f"heads, patch {info['patch_size']} ('{info['prefix']}' of {checkpoint}) on "
              f'{device}, {len(files)} images')
        out = analyze_model(model, loader, device, progress=ProgressBar(len(files)))
        print()
        results['models'].append(
            dict(
                label=label,
                checkpoint=checkpoint,
                source=source,
                prefix=info['prefix'],
                arch={k: info[k]
                      for k in ('embed_dims', 'depth', 'num_heads', 'patch_size')},
                grid=list(out['grid']),
                attention_distance=out['attention_distance'].tolist(),
                singular_value_percentage=out['singular_value_percentage'].tolist()))
        del model
        gc.collect()
        if device.type == 'cuda':
            torch.cuda.empty_cache()
    write_results(results, args.out_dir)
    plot(results, args.out_dir)
    for model in results['models']:
        print(summarize(model))
    print(f'wrote attention_distance.png, singular_values.png, representations.json and '
          f'representations.csv to {args.out_dir}')
    return results


def main(argv=None):
    args = parse_args(argv)
    from dbot_mm.utils.checkpoint import exit_on_checkpoint_errors
    with exit_on_checkpoint_errors(ValueError):
        return run(args)


if __name__ == '__main__':
    main()
