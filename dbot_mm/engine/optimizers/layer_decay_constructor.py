"""Layer-wise learning-rate decay for the one ViT, in any OpenMMLab model.

Every downstream recipe of dBOT (DESIGN §4) fine-tunes with layer-wise lr decay: the parameters
of block ``i`` of a depth-``D`` ViT train at ``base_lr * rate ** (D + 1 - (i + 1))``, the
embeddings at ``base_lr * rate ** (D + 1)``, and everything after the blocks (final norms, heads,
necks, decoders) at ``base_lr``. The three libraries' own constructors cannot do this for our
backbone inside their models (DESIGN §6): mmpretrain's needs ``get_layer_depth`` on the top-level
model (detectors/segmentors lack it), mmdet's accepts only ConvNeXt, mmseg's matches class names.
This one finds the :class:`~dbot_mm.models.DBotViT` registered as ``backbone`` of whatever model
it is given and asks it for each parameter's layer.

It is registered once in mmengine's root ``OPTIM_WRAPPER_CONSTRUCTORS``; the registries of
mmpretrain, mmdet and mmseg are children of it, so
``optim_wrapper=dict(constructor='LayerDecayOptimWrapperConstructor', ...)`` works under every
default scope.
"""
from typing import Dict, List, Optional, Tuple

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

DEFAULT_NO_DECAY_NAMES = ('pos_embed', 'cls_token', 'mask_token', 'relative_position_bias_table')
BACKBONE_NAME = 'backbone'
SUPPORTED_KEYS = ('layer_decay_rate', 'no_decay_names')


def find_backbone(model: nn.Module) -> nn.Module:
    """The first ``DBotViT`` among ``model.named_modules()`` whose name is ``'backbone'``."""
    from dbot_mm.models.backbones.vit import DBotViT  # models import the whole stack
    for name, module in model.named_modules():
        if name == BACKBONE_NAME and isinstance(module, DBotViT):
            return module
    found = [name or '<model>' for name, m in model.named_modules() if isinstance(m, DBotViT)]
    where = f' (DBotViT found at {found}, but not as the backbone)' if found else ''
    backbone = getattr(model, BACKBONE_NAME, None)
    what = f'its backbone is {type(backbone).__name__}' if backbone is not None else \
        'it has no backbone'
    raise TypeError(
        f'LayerDecayOptimWrapperConstructor: {type(model).__name__} has no DBotViT registered '
        f"as '{BACKBONE_NAME}' ({what}){where}; layer-wise lr decay needs the dbot_mm ViT as "
        f"model.backbone (type='DBotViT' / 'mmpretrain.DBotViT')")


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Parameter groups by (layer, weight decay yes/no) for a model whose backbone is a DBotViT.

    ``paramwise_cfg``:

    - ``layer_decay_rate`` (float, default 1.0 = no decay): a backbone parameter at layer
      ``layer_id`` of ``num_layers`` (``backbone.get_layer_depth``: embeddings 0, block ``i`` ->
      ``i + 1``, final norms ``depth + 1``) gets ``lr = base_lr * rate ** (num_layers - 1 -
      layer_id)``; every parameter outside the backbone (heads, necks, decoders) gets ``base_lr``.
    - ``no_decay_names`` (tuple of str, default ``('pos_embed', 'cls_token', 'mask_token',
      'relative_position_bias_table')``): parameters whose name contains one of these, and every
      parameter with ``ndim <= 1`` (biases, norms, layer-scale gammas), get ``weight_decay=0``;
      the others keep the optimizer's ``weight_decay``.

    Frozen parameters (``requires_grad=False``: a dBOT teacher, a frozen position embedding) are
    left out of the optimizer. Other ``paramwise_cfg`` keys of mmengine's default constructor
    (``custom_keys``, ``*_decay_mult``, ...) are refused rather than silently ignored.
    Each group also carries ``layer_id`` and ``lr_scale`` (informational).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - set(SUPPORTED_KEYS))
        if unknown:
            raise ValueError(
                f'LayerDecayOptimWrapperConstructor: unsupported paramwise_cfg keys {unknown}; '
                f'it takes only {list(SUPPORTED_KEYS)}')
        rate = float(paramwise_cfg.get('layer_decay_rate', 1.0))
        if not 0. < rate <= 1.:
            raise ValueError(
                f'LayerDecayOptimWrapperConstructor: layer_decay_rate must be in (0, 1], got '
                f'{rate}')
        names = paramwise_cfg.get('no_decay_names', DEFAULT_NO_DECAY_NAMES)
        if isinstance(names, str):
            names = (names, )
        # Never empty, so that the parent's __call__ always goes through add_params.
        paramwise_cfg = dict(layer_decay_rate=rate, no_decay_names=tuple(names))
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        if self.base_lr is None:
            raise ValueError('LayerDecayOptimWrapperConstructor: the optimizer config needs an '
                             'explicit lr')
        self.layer_decay_rate = rate
        self.no_decay_names = tuple(names)

    def is_no_decay(self, name: str, param: nn.Parameter) -> bool:
        return param.ndim <= 1 or any(key in name for key in self.no_decay_names)

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '',
                   **kwargs) -> None:
        """Append one group per (layer_id, decay / no decay) of ``module`` to ``params``."""
        backbone = find_backbone(module)
        bb_prefix = BACKBONE_NAME + '.'
        num_layers = backbone.get_layer_depth('', bb_prefix)[1]
        groups: Dict[Tuple[int, bool], dict] = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if name.startswith(bb_prefix):
                layer_id, num_layers = backbone.get_layer_depth(name, bb_prefix)
            else:
                layer_id = num_layers - 1
            no_decay = self.is_no_decay(name, param)
            key = (layer_id, no_decay)
            if key not in groups:
                scale = self.layer_decay_rate ** (num_layers - 1 - layer_id)
                group = dict(params=[], lr=self.base_lr * scale, lr_scale=scale,
                             layer_id=layer_id)
                if no_decay:
                    group['weight_decay'] = 0.
                elif self.base_wd is not None:
                    group['weight_decay'] = self.base_wd
                groups[key] = group
            groups[key]['params'].append(param)
        if not groups:
            raise ValueError(f'LayerDecayOptimWrapperConstructor: {type(module).__name__} has '
                             'no trainable parameters')
        ordered = [groups[k] for k in sorted(groups)]
        params.extend(ordered)
        scales = [g['lr_scale'] for g in ordered]
        n_decay = sum(len(g['params']) for k, g in groups.items() if not k[1])
        n_no_decay = sum(len(g['params']) for k, g in groups.items() if k[1])
        print_log(
            f'LayerDecayOptimWrapperConstructor: {type(module).__name__} with DBotViT backbone '
            f'({num_layers} layers), layer_decay_rate {self.layer_decay_rate}: {len(ordered)} '
            f'param groups, lr scale {min(scales):.4g}..{max(scales):.4g} of base lr '
            f'{self.base_lr:g}; {n_decay} tensors with weight decay {self.base_wd}, '
            f'{n_no_decay} without', logger='current')
