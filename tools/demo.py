"""`make demo`: the whole dbot_mm pipeline on data it generates, on CPU.

1. generate small datasets in the real layouts (ImageNet folder, COCO json, ADE20K tree);
2. pretrain a tiny ViT with dBOT through three bootstrapping stages;
3. fine-tune classification, Mask R-CNN and UperNet from that checkpoint and from random init;
4. print the benchmark table and write it (markdown, CSV, plots) under WORK_DIR/tables.

Every step is its own `tools/train.py` run in its own work dir: a finished step is skipped and an
interrupted one resumes from its last checkpoint, so re-running `make demo` continues. The two
runs of a task (dBOT init, random init) run side by side with one thread each: on a small CPU two
single-threaded processes beat one two-threaded one (OpenMP threads spin when cores are shared).
"""
import argparse
import os
import os.path as osp
import signal
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
    parser.add_argument(
        '--only',
        nargs='+',
        choices=[d[0] for d in DOWNSTREAM],
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


def start_training(config, work_dir, options):
    """Start one tools/train.py run (returns None when it already finished); an interrupted
    run resumes from its last checkpoint. Its output goes to WORK_DIR/train.out."""
    done = osp.join(work_dir, 'DONE')
    if osp.isfile(done):
        log(f'{work_dir}: already finished, skipped')
        return None
    cmd = [
        sys.executable,
        osp.join(REPO, 'tools/train.py'),
        osp.join(REPO, config), '--work-dir', work_dir
    ]
    if last_epoch_or_iter_done(work_dir):
        cmd.append('--resume')
        log(f'{work_dir}: resuming an interrupted run')
    cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]
    os.makedirs(work_dir, exist_ok=True)
    log(f'{work_dir}: training {config} (log: {work_dir}/train.out)')
    out = open(osp.join(work_dir, 'train.out'), 'a')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
    return proc, work_dir, time.time()


def wait_all(runs):
    """Wait for the started runs, printing their progress; stop at the first failure. If the
    demo itself is interrupted (Ctrl-C, SIGTERM) its training runs are stopped too, so that the
    next `make demo` resumes them from their last checkpoints."""
    runs = [r for r in runs if r is not None]
    try:
        _wait(runs)
    except BaseException:
        for proc, _, _ in runs:
            proc.terminate()
        for proc, _, _ in runs:
            proc.wait()
        raise


def _wait(runs):
    polls = 0
    while runs:
        time.sleep(5)
        polls += 1
        for run in list(runs):
            proc, work_dir, start = run
            if proc.poll() is None:
                if polls % 6 == 0:  # every 30 s
                    log(f'{osp.basename(work_dir)}: {progress(work_dir)}')
                continue
            runs.remove(run)
            if proc.returncode:
                for other, _, _ in runs:
                    other.terminate()
                sys.exit(f'demo: {work_dir} failed (exit {proc.returncode}); see '
                         f'{work_dir}/train.out, then run `make demo` again to resume')
            with open(osp.join(work_dir, 'DONE'), 'w') as f:
                f.write(f'{time.time() - start:.1f}\n')
            log(f'{osp.basename(work_dir)}: done in {time.time() - start:.0f} s')


def progress(work_dir):
    """The last 'Epoch(...)' / 'Iter(...)' line of the run's output, shortened."""
    try:
        with open(osp.join(work_dir, 'train.out'), errors='replace') as f:
            lines = [ln for ln in f.readlines()[-50:] if '(train)' in ln or '(val)' in ln]
    except OSError:
        return 'starting'
    if not lines:
        return 'starting'
    line = lines[-1].split(' - INFO - ')[-1].strip()
    return line[:110]


def make_data(root):
    from dbot_mm.testing import make_ade20k, make_coco, make_imagenet
    log(f'generating datasets under {root}')
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
    roots = make_data(osp.abspath(args.data_root))

    pre_dir = osp.join(work_dir, 'pretrain_dbot_vit-tiny')
    wait_all([
        start_training(PRETRAIN, pre_dir,
                       {'train_dataloader.dataset.dataset.data_root': roots['imagenet']})
    ])
    pretrained = last_epoch_or_iter_done(pre_dir)

    for name, config, data in DOWNSTREAM:
        if args.only and name not in args.only:
            continue
        runs = []
        for init in ('dbot', 'random'):
            options = data_options(data, roots)
            if init == 'dbot':
                options['model.backbone.init_cfg.checkpoint'] = pretrained
            else:
                options['model.backbone.init_cfg'] = None
            runs.append(start_training(config, osp.join(work_dir, f'{name}_{init}'), options))
        wait_all(runs)

    log('writing the benchmark tables')
    subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools/analysis_tools/benchmark_tables.py'), work_dir, '--out',
        osp.join(work_dir, 'tables')
    ],
                   check=True,
                   cwd=REPO)
    log(f'demo finished in {(time.time() - t0) / 60:.1f} min; tables in '
        f'{osp.join(work_dir, "tables")}')


if __name__ == '__main__':
    main()
