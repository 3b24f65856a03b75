from .dbot_decoder import DBotDecoder

__all__ = ['DBotDecoder']
