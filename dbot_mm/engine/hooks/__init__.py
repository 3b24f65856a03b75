from .bootstrap_hook import DBotBootstrapHook
from .random_state_hook import RandomStateHook

__all__ = ['DBotBootstrapHook', 'RandomStateHook']
