"""`make demo`: what dbot_mm does, end to end on CPU.

1. the mini benchmark on real images (``tools/analysis_tools/mini_benchmark.py --quick``,
   Fashion-MNIST from the Debian package): one-stage dBOT vs random init and raw pixels, k-NN and
   linear probe with the seed spread: the part that shows whether dBOT learns something
   transferable;
2. the detection and segmentation pipelines on generated COCO / ADE20K data: a tiny dBOT
   pretrained on a generated ImageNet folder initialises Mask R-CNN and UperNet, next to the same
   recipes from random init, and the benchmark tables are written under WORK_DIR/tables. These
   runs show the pipelines working; at this size their numbers say nothing about dBOT.

Every step is its own tool run in its own work dir (``tools/job_runner.py``): a finished
step is skipped and an interrupted one resumes from its last checkpoint, so re-running
`make demo` continues.
"""
import argparse
import os
import os.path as osp
import signal
import subprocess
import sys
import time

from job_runner import last_checkpoint, log, run_jobs, train_job  # tools/job_runner.py

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

PRETRAIN = 'configs/pretrain/dbot_vit-tiny_demo.py'
# (name, config, data option); the same recipe runs from dBOT and from random init
DOWNSTREAM = [
    ('det', 'configs/det/mask-rcnn_vit-tiny-p8-fpn_1xb4-demo_coco.py', 'coco'),
    ('seg', 'configs/seg/upernet_vit-tiny-p8_1xb4-demo_ade20k.py', 'ade'),
]


def parse_args():
    parser = argparse.ArgumentParser(description='Run the dbot_mm demo end to end on CPU')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/demo', help='where the datasets are written')
    parser.add_argument(
        '--only',
        nargs='+',
        choices=[d[0] for d in DOWNSTREAM],
        help='only these pipeline demos, without the mini benchmark (default: everything)')
    return parser.parse_args()


def make_data(root):
    from dbot_mm.testing import make_ade20k, make_coco, make_imagenet
    log(f'generating datasets under {root}', 'demo')
    roots = dict(
        imagenet=osp.join(root, 'imagenet'), coco=osp.join(root, 'coco'), ade=osp.join(root, 'ade'))
    make_imagenet(
        roots['imagenet'], num_classes=4, train_per_class=48, val_per_class=12, img_size=64)
    make_coco(roots['coco'], num_train=64, num_val=16, img_size=(96, 128))
    make_ade20k(roots['ade'], num_train=64, num_val=16, img_size=96)
    return roots


def data_options(kind, roots):
    if kind == 'imagenet':
        root = roots['imagenet']
        return {
            'train_dataloader.dataset.data_root': root,
            'val_dataloader.dataset.data_root': root,
            'test_dataloader.dataset.data_root': root
        }
    if kind == 'coco':
        root = roots['coco'] + '/'
        ann = osp.join(root, 'annotations/instances_val2017.json')
        return {
            'train_dataloader.dataset.data_root': root,
            'val_dataloader.dataset.data_root': root,
            'test_dataloader.dataset.data_root': root,
            'val_evaluator.ann_file': ann,
            'test_evaluator.ann_file': ann
        }
    root = osp.join(roots['ade'], 'ADEChallengeData2016')
    return {
        'train_dataloader.dataset.data_root': root,
        'val_dataloader.dataset.data_root': root,
        'test_dataloader.dataset.data_root': root
    }


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('demo: terminated'))
    args = parse_args()
    t0 = time.time()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    if not args.only:
        log('1/2: dBOT vs random init on real images (mini benchmark, --quick)', 'demo')
        subprocess.run([
            sys.executable,
            osp.join(REPO, 'tools/analysis_tools/mini_benchmark.py'), '--quick', '--work-dir',
            osp.join(work_dir, 'mini_benchmark'), '--data-root',
            osp.abspath(osp.join(args.data_root, 'fashion_mnist'))
        ],
                       check=True,
                       cwd=REPO)
    log('2/2: the detection / segmentation pipelines on generated data', 'demo')
    roots = make_data(osp.abspath(args.data_root))
    pre_dir = osp.join(work_dir, 'pretrain_dbot_vit-tiny')
    run_jobs([
        train_job('pretrain_dbot_vit-tiny', REPO, PRETRAIN, pre_dir,
                  {'train_dataloader.dataset.dataset.data_root': roots['imagenet']})
    ],
             tag='demo')
    pretrained = last_checkpoint(pre_dir)
    for name, config, data in DOWNSTREAM:
        if args.only and name not in args.only:
            continue
        jobs = []
        for init in ('dbot', 'random'):
            options = data_options(data, roots)
            if init == 'dbot':
                options['model.backbone.init_cfg.checkpoint'] = pretrained
            else:
                options['model.backbone.init_cfg'] = None
            jobs.append(
                train_job(f'{name}_{init}', REPO, config, osp.join(work_dir, f'{name}_{init}'),
                          options))
        run_jobs(jobs, slots=2, tag='demo')

    log('writing the benchmark tables of the pipeline runs', 'demo')
    subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools/analysis_tools/benchmark_tables.py'),
        *[osp.join(work_dir, d) for d in os.listdir(work_dir) if d != 'mini_benchmark'], '--out',
        osp.join(work_dir, 'tables')
    ],
                   check=True,
                   cwd=REPO)
    log(
        f'demo finished in {(time.time() - t0) / 60:.1f} min; mini benchmark report in '
        f'{osp.join(work_dir, "mini_benchmark", "report.md")}, pipeline tables in '
        f'{osp.join(work_dir, "tables")}', 'demo')


if __name__ == '__main__':
    main()
