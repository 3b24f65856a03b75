# Schedule of the official transfer classification (run.sh cifar10_cls / cifar_cls / cars_cls /
# flwrs_cls: `--lr 7.5e-6 --epochs 1000 --batch-size 96` on 8 GPUs; evaluation/eval_cls.py
# defaults for the rest). eval_cls.py scales lr x total_batch / 512: 7.5e-6 x 768 / 512 =
# 1.125e-5 at the official batch of 768 (auto_scale_lr base 768 rescales it to the real batch).
# AdamW betas (0.9, 0.999), eps 1e-8, wd 0.05 on every parameter: eval_cls.py calls
# create_optimizer(args, model) of evaluation/optim_factory.py (BEiT's, not timm's), whose defaults
# filter_bias_and_bn=False and an empty skip list give AdamW(model.parameters(), weight_decay=0.05),
# which is mmengine's default constructor without paramwise_cfg; no layer decay (no
# LayerDecayValueAssigner); no gradient clip (--clip-grad None); AMP (NativeScaler).
# timm cosine stepped per epoch: warm-up 5 epochs from warmup_lr 1e-6, then cosine to min_lr 1e-5
# (eval_cls.py defaults; min_lr is close to the peak lr, so after warm-up the lr barely decays).
base_lr = 7.5e-6 * 768 / 512
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05))

warmup_epochs = 5
max_epochs = 1000
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / base_lr, by_epoch=True, begin=0, end=warmup_epochs),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs),
]

train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)  # eval_cls.py: every epoch
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=768)
