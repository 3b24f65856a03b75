from .seeded import SeededDataset, SeededSampler

__all__ = ['SeededDataset', 'SeededSampler']
