from .stage_cosine import StageCosineLR, StageCosineParamScheduler

__all__ = ['StageCosineLR', 'StageCosineParamScheduler']
