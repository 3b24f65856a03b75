"""mmengine's default optimizer-wrapper constructor, with one param group per distinct setting.

With a ``paramwise_cfg``, mmengine's ``DefaultOptimWrapperConstructor`` (and mmpretrain's
layer-decay constructor built on it) gives every parameter a group of its own: 150 groups for a
ViT-B, and torch's optimizers pay their per-group Python and kernel-launch cost on each
(``tools/analysis_tools/benchmark_optimizer.py``). The official code builds one group per weight
decay in pretraining (timm ``add_weight_decay`` in ``main_pretrain.py``) and one per (layer,
weight decay) in fine-tuning (``util/lr_decay.py: param_groups_lrd``): merging the groups whose
settings are equal gives exactly those, with the same lr and weight decay for every parameter.
"""
from typing import List, Optional

from mmengine.logging import print_log
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

# per-parameter labels that mmpretrain's layer-decay constructor puts in each group (for its log)
_LABELS = ('params', 'param_name')


def merge_param_groups(groups: List[dict], optimizer_cfg: dict) -> List[dict]:
    """The groups with equal settings (each group's keys over the optimizer config's defaults)
    merged into one, in the order of their first parameter."""
    defaults = {k: v for k, v in optimizer_cfg.items() if k not in ('type', ) + _LABELS}
    merged = {}
    for group in groups:
        setting = {**defaults, **{k: v for k, v in group.items() if k not in _LABELS}}
        key = repr(sorted(setting.items()))
        if key not in merged:
            merged[key] = {k: v for k, v in group.items() if k not in _LABELS}
            merged[key]['params'] = []
        merged[key]['params'] += list(group['params'])
    return list(merged.values())


def regroup_saved_state(optimizer, saved: dict) -> Optional[dict]:
    """``optimizer.load_state_dict`` pre-hook: a state saved with one group per parameter (before
    the groups were merged) is merged the same way (both follow the parameters' construction
    order) so that it loads; None (load as saved) if it has as many groups or does not fit. The
    per-parameter state is kept as it is (torch maps it by position)."""
    groups = saved.get('param_groups')
    if not groups or len(groups) == len(optimizer.param_groups):
        return None
    merged = merge_param_groups(groups, {})
    if [len(g['params']) for g in merged] != [len(g['params']) for g in optimizer.param_groups]:
        return None
    print_log(
        f'optimizer state of {len(groups)} per-parameter groups merged into the '
        f'{len(merged)} groups of this optimizer',
        logger='current')
    return dict(saved, param_groups=merged)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MergedGroupsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmengine's default constructor (same ``paramwise_cfg``, same lr and weight decay per
    parameter) whose per-parameter groups are merged by :func:`merge_param_groups`."""

    def __call__(self, model):
        wrapper = super().__call__(model)
        wrapper.optimizer.register_load_state_dict_pre_hook(regroup_saved_state)
        return wrapper

    def add_params(self, params: List[dict], module, prefix: str = '', **kwargs) -> None:
        super().add_params(params, module, prefix, **kwargs)
        if prefix == '':  # the top-level call, after mmengine's recursion over the children
            params[:] = merge_param_groups(params, self.optimizer_cfg)
