from .autocast_optim_wrapper import AutocastOptimWrapper
from .layer_decay_constructor import LayerDecayOptimWrapperConstructor
from .merged_groups_constructor import (
    MergedGroupsOptimWrapperConstructor,
    merge_param_groups,
    regroup_saved_state,
)

__all__ = [
    'AutocastOptimWrapper', 'LayerDecayOptimWrapperConstructor',
    'MergedGroupsOptimWrapperConstructor', 'merge_param_groups', 'regroup_saved_state'
]
