"""Tiny CLIP-shaped checkpoints for tests: OpenAI key names (visual + text tower), tiny sizes."""
import torch
from mmpretrain.models.utils.clip_generator_helper import CLIP


def make_tiny_clip(path,
                   width=64,
                   layers=2,
                   patch_size=8,
                   image_size=64,
                   embed_dim=48,
                   seed=0,
                   jit=False):
    """Write a randomly initialised CLIP with OpenAI's key names to ``path``: a state dict, or
    with ``jit=True`` a TorchScript archive of it (like OpenAI's files). Returns the state dict."""
    torch.manual_seed(seed)
    model = CLIP(
        embed_dim=embed_dim,
        image_resolution=image_size,
        vision_layers=layers,
        vision_width=width,
        vision_patch_size=patch_size,
        context_length=8,
        vocab_size=32,
        transformer_width=32,
        transformer_heads=1,
        transformer_layers=1)
    with torch.no_grad():  # non-trivial LayerNorm affine parameters
        for name, p in model.named_parameters():
            if 'ln_' in name:
                p.add_(0.1 * torch.randn_like(p))
    model.eval()
    if jit:
        image = torch.randn(1, 3, image_size, image_size)
        traced = torch.jit.trace(_Visual(model), image, check_trace=False)
        traced.save(str(path))
    else:
        torch.save(model.state_dict(), str(path))
    return model.state_dict()


class _Visual(torch.nn.Module):
    """Holds the CLIP under its own names so a traced archive keeps the 'visual.' keys."""

    def __init__(self, clip):
        super().__init__()
        self.visual = clip.visual
        self.text_projection = clip.text_projection

    def forward(self, x):
        return self.visual(x)[0]
