# ViT-B/16 classifier of the official transfer classification (evaluation/eval_cls.py with run.sh's
# default AVGPOOL=0: `--avgpool_patchtokens 0`): the CLS token after the final norm -> Linear,
# head initialised by the model's _init_weights (trunc normal std 0.02, bias 0), drop path 0.1
# (eval_cls.py default). Mixup 0.8, CutMix 1.0 and label smoothing 0.1 as the ImageNet model.
_base_ = './vit-b-p16_avgpool.py'
model = dict(
    backbone=dict(out_type='cls_token', final_norm=True),
    head=dict(init_cfg=[dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.)]))
