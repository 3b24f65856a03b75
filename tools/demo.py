"""`make demo`: the whole dbot_mm pipeline on data it generates, on CPU.

1. generate small datasets in the real layouts (ImageNet folder, COCO json, ADE20K tree);
2. pretrain a tiny ViT with dBOT through three bootstrapping stages;
3. fine-tune classification, Mask R-CNN and UperNet from that checkpoint and from random init;
4. print the benchmark table and write it (markdown, CSV, plots) under WORK_DIR/tables.

Every step is its own `tools/train.py` run in its own work dir: a finished step is skipped and an
interrupted one resumes from its last checkpoint, so re-running `make demo` continues.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

PRETRAIN = 'configs/pretrain/dbot_vit-tiny_demo.py'
# (name, config, data option); the same recipe runs from dBOT and from random init
DOWNSTREAM = [
    ('cls', 'configs/cls/vit-tiny-p8_1xb16-demo_in1k.py', 'imagenet'),
    ('det', 'configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py', 'coco'),
    ('seg', 'configs/seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py', 'ade'),
]


def parse_args():
    parser = argparse.ArgumentParser(description='Run the dbot_mm demo end to end on CPU')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo', help='where the datasets are written')
    parser.add_argument('--only', nargs='+', choices=[d[0] for d in DOWNSTREAM],
                        help='downstream tasks to run (default: all)')
    return parser.parse_args()


def log(msg):
    print(f'[demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def last_epoch_or_iter_done(work_dir):
    """The checkpoint named in `last_checkpoint`, or None."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def train(config, work_dir, options):
    """One tools/train.py run; skipped when finished, resumed when interrupted."""
    done = osp.join(work_dir, 'DONE')
    if osp.isfile(done):
        log(f'{work_dir}: already finished, skipped')
        return
    cmd = [sys.executable, osp.join(REPO, 'tools/train.py'), osp.join(REPO, config),
           '--work-dir', work_dir]
    if last_epoch_or_iter_done(work_dir):
        cmd.append('--resume')
        log(f'{work_dir}: resuming an interrupted run')
    cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]
    start = time.time()
    log(f'{work_dir}: training {config}')
    subprocess.run(cmd, check=True, cwd=REPO)
    with open(done, 'w') as f:
        f.write(f'{time.time() - start:.1f}\n')
    log(f'{work_dir}: done in {time.time() - start:.0f} s')


def make_data(root):
    from dbot_mm.datasets import make_ade20k, make_coco, make_imagenet
    log(f'generating datasets under {root}')
    roots = dict(imagenet=osp.join(root, 'imagenet'), coco=osp.join(root, 'coco'),
                 ade=osp.join(root, 'ade'))
    make_imagenet(roots['imagenet'], num_classes=4, train_per_class=48, val_per_class=12,
                  img_size=64)
    make_coco(roots['coco'], num_train=64, num_val=16, img_size=(96, 128))
    make_ade20k(roots['ade'], num_train=64, num_val=16, img_size=96)
    return roots


def data_options(kind, roots):
    if kind == 'imagenet':
        root = roots['imagenet']
        return {'train_dataloader.dataset.data_root': root,
                'val_dataloader.dataset.data_root': root,
                'test_dataloader.dataset.data_root': root}
    if kind == 'coco':
        root = roots['coco'] + '/'
        ann = osp.join(root, 'annotations/instances_val2017.json')
        return {'train_dataloader.dataset.data_root': root,
                'val_dataloader.dataset.data_root': root,
                'test_dataloader.dataset.data_root': root,
                'val_evaluator.ann_file': ann, 'test_evaluator.ann_file': ann}
    root = osp.join(roots['ade'], 'ADEChallengeData2016')
    return {'train_dataloader.dataset.data_root': root,
            'val_dataloader.dataset.data_root': root,
            'test_dataloader.dataset.data_root': root}


def main():
    args = parse_args()
    t0 = time.time()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    roots = make_data(osp.abspath(args.data_root))

    pre_dir = osp.join(work_dir, 'pretrain_dbot_vit-tiny')
    train(PRETRAIN, pre_dir, {'train_dataloader.dataset.data_root': roots['imagenet']})
    pretrained = last_epoch_or_iter_done(pre_dir)

    for name, config, data in DOWNSTREAM:
        if args.only and name not in args.only:
            continue
        for init in ('dbot', 'random'):
            options = data_options(data, roots)
            if init == 'dbot':
                options['model.backbone.init_cfg.checkpoint'] = pretrained
            else:
                options['model.backbone.init_cfg'] = None
            train(config, osp.join(work_dir, f'{name}_{init}'), options)

    log('writing the benchmark tables')
    subprocess.run([sys.executable, osp.join(REPO, 'tools/analysis_tools/benchmark_tables.py'),
                    work_dir, '--out', osp.join(work_dir, 'tables')], check=True, cwd=REPO)
    log(f'demo finished in {(time.time() - t0) / 60:.1f} min; tables in '
        f'{osp.join(work_dir, "tables")}')


if __name__ == '__main__':
    main()
