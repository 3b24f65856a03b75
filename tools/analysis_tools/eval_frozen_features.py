"""k-NN and linear-probe top-1 of frozen backbone features (or raw pixels) on a cls config's data.

    python tools/analysis_tools/eval_frozen_features.py \\
        configs/cls/vit-tiny-p8_1xb16-demo_in1k.py \\
        --checkpoint work_dirs/dbot_vit-tiny_demo/epoch_6.pth --work-dir work_dirs/frozen/dbot

The backbone is the config's ``model.backbone`` (random init, seeded, without ``--checkpoint``);
images go through the config's test pipeline and ``model.data_preprocessor``, for the train set
too. The feature is the mean of the last block's patch tokens after the final norm; protocols in
``dbot_mm/evaluation/frozen_protocols.py``. Writes ``frozen_eval.json`` and ``frozen_eval.log``.
"""
import argparse
import json
import os
import os.path as osp
import time

TEMPERATURE, MAX_ITER = 0.07, 500  # DINO's k-NN temperature; L-BFGS iterations per fit
FEATURE_DESC = {
    'backbone': "mean of the last block's patch tokens after the final norm",
    'raw_pixels': 'the normalised test-pipeline image, flattened (C*H*W)',
}


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='mmpretrain ImageClassifier config of this repo')
    feats = parser.add_mutually_exclusive_group()
    feats.add_argument('--checkpoint', help='backbone weights (default: random init)')
    feats.add_argument('--raw-pixels', action='store_true', help='raw-pixel reference features')
    parser.add_argument('--prefix', default='backbone.', help="key prefix ('' for none)")
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--knn-k', type=int, default=20)
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--num-workers', type=int, default=2, help='data loading processes')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='key=value overrides')
    return parser.parse_args(argv)


def build_backbone(cfg, args):
    """``cfg.model.backbone`` returning every token of the last block after the final norm."""
    from mmengine.runner import set_random_seed
    from mmpretrain.registry import MODELS
    backbone_cfg = dict(cfg.model.backbone)
    if str(backbone_cfg.get('type', '')).split('.')[-1] != 'DBotViT':
        raise ValueError(f"model.backbone must be a DBotViT, got {backbone_cfg.get('type')}")
    # 'raw' + final_norm: the fine-tuning configs pool without the norm ('avg_featmap' adds an
    # untrained fc_norm); out_indices=-1 is the last block
    backbone_cfg.update(out_type='raw', out_indices=-1, final_norm=True, init_cfg=None)
    if args.checkpoint:
        backbone_cfg['init_cfg'] = dict(
            type='Pretrained', checkpoint=args.checkpoint, prefix=args.prefix)
    set_random_seed(args.seed)
    backbone = MODELS.build(backbone_cfg)  # MAE init (DBotViT.reset_parameters)
    if args.checkpoint:
        backbone.init_weights()  # strict loader; without a checkpoint it only logs the init
    return backbone


def build_loader(cfg, split, args):
    """Dataset of ``split`` with the test pipeline, in a plain sequential DataLoader."""
    from mmpretrain.registry import DATASETS

    from dbot_mm.evaluation.frozen_protocols import feature_loader
    test = cfg.get('test_dataloader') or cfg.get('val_dataloader')
    dataset_cfg = dict((cfg.get(split) or test).dataset, pipeline=test.dataset.pipeline)
    return feature_loader(DATASETS.build(dataset_cfg), args.batch_size, args.num_workers)


def extract(loader, preprocessor, backbone, logger, name):
    """Features and labels of ``loader`` (``frozen_protocols.extract_features``), logged."""
    from dbot_mm.evaluation.frozen_protocols import extract_features

    def log(done, total):
        if done % max(1, total // 10) == 0 or done == total:
            logger.info(f'{name}: batch {done}/{total}')

    return extract_features(loader, preprocessor, backbone, log)


def run(args):
    import torch
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import dbot_mm  # noqa: F401  (registers DBotViT)
    from dbot_mm.evaluation.frozen_protocols import knn_accuracy, linear_probe_accuracy
    from dbot_mm.utils.data_root import check_data_root

    start = time.time()
    if args.checkpoint and '://' not in args.checkpoint and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f"checkpoint '{args.checkpoint}' does not exist")
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = cfg.get('model') or {}
    if not args.raw_pixels and 'backbone' not in model:
        raise ValueError(f'{args.config} has no model.backbone')
    if not (cfg.get('test_dataloader') or cfg.get('val_dataloader')) \
            or not cfg.get('train_dataloader'):
        raise ValueError(f'{args.config} needs train_dataloader and test_dataloader (or val)')
    test_split = 'test_dataloader' if cfg.get('test_dataloader') else 'val_dataloader'
    check_data_root(cfg, ('train_dataloader', test_split))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    os.makedirs(args.work_dir, exist_ok=True)
    logger = MMLogger.get_instance(
        f'frozen_eval_{time.time_ns()}', log_file=osp.join(args.work_dir, 'frozen_eval.log'))
    logger.info(f'{vars(args)}')
    device = torch.device(args.device)

    preprocessor = dict(model.get('data_preprocessor') or {})
    preprocessor.setdefault('type', 'ClsDataPreprocessor')  # as ImageClassifier
    preprocessor = MODELS.build(preprocessor).to(device)
    backbone = None if args.raw_pixels else build_backbone(cfg, args).to(device).eval()
    loaders = {
        name: build_loader(cfg, split, args)
        for name, split in (('train', 'train_dataloader'), ('val', test_split))
    }
    if not 1 <= args.knn_k <= len(loaders['train'].dataset):
        raise ValueError(f"--knn-k {args.knn_k}: must be in [1, {len(loaders['train'].dataset)}] "
                         '(the number of training images)')
    logger.info(f"{args.config}: {'raw pixels' if backbone is None else 'backbone'} features of "
                f"{len(loaders['train'].dataset)} train / {len(loaders['val'].dataset)} val "
                f'images on {device}')
    (xt, yt), (xv, yv) = (extract(loader, preprocessor, backbone, logger, name)
                          for name, loader in loaders.items())
    dataset = loaders['train'].dataset
    num_classes = int(max(yt.max(), yv.max())) + 1  # of the data (mmpretrain ImageNet lists 1000)

    knn = knn_accuracy(xt, yt, xv, yv, args.knn_k, TEMPERATURE, num_classes)
    # float32 for raw pixels: thousands of dimensions, float64 L-BFGS took ~8 min for 5k images
    linear = linear_probe_accuracy(
        xt,
        yt,
        xv,
        yv,
        max_iter=MAX_ITER,
        seed=args.seed,
        num_classes=num_classes,
        dtype=torch.float32 if args.raw_pixels else torch.float64)
    features = 'raw_pixels' if args.raw_pixels else 'backbone'
    result = dict(
        type='FrozenFeatureEval',
        config=osp.abspath(args.config),
        checkpoint=osp.abspath(args.checkpoint) if args.checkpoint else None,
        prefix=args.prefix if args.checkpoint else '',
        features=features,
        feature_desc=FEATURE_DESC[features],
        seed=args.seed,
        dataset=type(dataset).__name__,
        num_train=len(yt),
        num_val=len(yv),
        num_classes=num_classes,
        knn=dict(k=args.knn_k, temperature=TEMPERATURE, top1=knn),
        linear=dict(
            top1=linear['top1'],
            weight_decay=linear['weight_decay'],
            solver='L-BFGS',
            max_iter=MAX_ITER),
        time_s=round(time.time() - start, 1))
    with open(osp.join(args.work_dir, 'frozen_eval.json'), 'w') as f:
        json.dump(result, f, indent=2)
    logger.info(f"{features} ({result['checkpoint'] or 'no checkpoint'}): k-NN top-1 {knn:.2f}, "
                f"linear top-1 {linear['top1']:.2f} (wd {linear['weight_decay']:g}), "
                f"{result['time_s']} s -> {args.work_dir}/frozen_eval.json")
    return result


def main(argv=None):
    args = parse_args(argv)
    from dbot_mm.utils.checkpoint import exit_on_checkpoint_errors
    with exit_on_checkpoint_errors(ValueError):
        return run(args)


if __name__ == '__main__':
    main()
