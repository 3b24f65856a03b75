from .dbot_head import DBotHead, normalize_target

__all__ = ['DBotHead', 'normalize_target']
