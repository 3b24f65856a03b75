"""MAE's weight initialisation, shared by the ViT and the dBOT decoder."""
import torch.nn as nn


def mae_init_(module: nn.Module) -> None:
    """Xavier-uniform Linear weights, zero biases, LayerNorm (1, 0) - in place, for all children."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
