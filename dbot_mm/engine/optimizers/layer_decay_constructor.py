"""Layer-wise lr decay for a DBotViT backbone inside any OpenMMLab model.

The official fine-tuning (dBOT ``util/lr_decay.py``: ``param_groups_lrd``, after BEiT's
``optim_factory.py``) trains block ``i`` of a depth-``D`` ViT at ``base_lr * rate ** (D - i)``,
the embeddings at ``base_lr * rate ** (D + 1)`` and everything after the blocks at ``base_lr``.
mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` computes exactly that from
``DBotViT.get_layer_depth`` (``rate ** (num_layers - 1 - layer_id)``, ``num_layers = D + 2``);
the weight-decay exemptions come from its ``flat_decay_mult`` / ``custom_keys`` in the config.
"""
from functools import partial
from typing import Callable, List, Optional

import torch.nn as nn
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor

from dbot_mm.models.backbones.vit import DBotViT

from .merged_groups_constructor import merge_param_groups, regroup_saved_state

BACKBONE_NAME = 'backbone'
# what mmpretrain's add_params reads; anything else would be ignored without a word
SUPPORTED_KEYS = ('layer_decay_rate', 'flat_decay_mult', 'norm_decay_mult', 'bias_decay_mult',
                  'custom_keys')


def find_backbone(model: nn.Module) -> nn.Module:
    """The ``DBotViT`` registered as ``model.backbone``; a one-line TypeError otherwise."""
    backbone = getattr(model, BACKBONE_NAME, None)
    if isinstance(backbone, DBotViT):
        return backbone
    what = type(backbone).__name__ if backbone is not None else 'none'
    raise TypeError(
        f'LayerDecayOptimWrapperConstructor: {type(model).__name__}.{BACKBONE_NAME} is {what}; '
        "layer-wise lr decay needs the dbot_mm ViT there (type='DBotViT' / 'mmpretrain.DBotViT')")


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(LearningRateDecayOptimWrapperConstructor):
    """mmpretrain's layer-decay constructor, with each parameter's layer taken from
    ``model.backbone`` (a :class:`~dbot_mm.models.DBotViT`); parameters outside it get ``base_lr``.

    Ours only because mmpretrain's asks the top-level model for ``get_layer_depth``, which mmdet
    detectors and mmseg segmentors do not have; it is registered in mmengine's root registry so
    that the mmpretrain, mmdet and mmseg default scopes all find it. ``paramwise_cfg`` is
    mmpretrain's; keys it would silently ignore and a rate outside (0, 1] are refused. Its
    per-parameter groups are merged into one per (layer, weight decay), as the official
    ``param_groups_lrd`` (:func:`~.merged_groups_constructor.merge_param_groups`).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - set(SUPPORTED_KEYS))
        if unknown:
            raise ValueError(f'LayerDecayOptimWrapperConstructor: unsupported paramwise_cfg keys '
                             f'{unknown}; it takes {list(SUPPORTED_KEYS)}')
        for key, custom in paramwise_cfg.get('custom_keys', {}).items():
            if set(custom) - {'decay_mult'}:
                raise ValueError(f'LayerDecayOptimWrapperConstructor: custom_keys[{key!r}] = '
                                 f'{dict(custom)}; only decay_mult applies (lr follows the layer)')
        # always set: an empty paramwise_cfg would make mmengine put model.parameters() (frozen
        # ones included) into one group instead of calling add_params
        rate = float(paramwise_cfg.setdefault('layer_decay_rate', 1.0))
        if not 0. < rate <= 1.:
            raise ValueError(f'LayerDecayOptimWrapperConstructor: layer_decay_rate must be in '
                             f'(0, 1], got {rate}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        if self.base_lr is None or self.base_wd is None:  # mmpretrain's fails on a missing wd
            raise ValueError('LayerDecayOptimWrapperConstructor: the optimizer config needs an '
                             f'explicit lr and weight_decay, got {dict(self.optimizer_cfg)}')

    def __call__(self, model):
        wrapper = super().__call__(model)
        wrapper.optimizer.register_load_state_dict_pre_hook(regroup_saved_state)
        return wrapper

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   get_layer_depth: Optional[Callable] = None,
                   **kwargs) -> None:
        if get_layer_depth is not None:  # mmpretrain's recursion over the children
            super().add_params(params, module, prefix, get_layer_depth=get_layer_depth, **kwargs)
            return
        # the top-level call: the layer of 'backbone.*' parameters, then one group per setting
        get_layer_depth = partial(find_backbone(module).get_layer_depth, prefix=BACKBONE_NAME + '.')
        super().add_params(params, module, prefix, get_layer_depth=get_layer_depth, **kwargs)
        params[:] = merge_param_groups(params, self.optimizer_cfg)
