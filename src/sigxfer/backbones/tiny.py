"""``tinynet``: a three-layer CNN for tests and smoke runs. It has no pretrained weights.

``create_backbone("tinynet", pretrained=True)`` gives the fixed initialisation drawn with
:data:`sigxfer.backbones.registry.FIXED_INIT_SEED`: the same network in every process, which is
all a test needs. Nothing it computes says anything about transfer learning.
"""

from __future__ import annotations

import torch
from torch import nn

from sigxfer.backbones.base import Backbone
from sigxfer.backbones.registry import BackboneConfig, register_backbone

EMBEDDING_DIM = 16


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class TinyNet(Backbone):
    """Three conv-BN-ReLU layers (8, 16, 16 channels; strides 1, 2, 2), average pool, Linear(16, n_classes).

    Examples
    --------
    >>> import torch
    >>> TinyNet(n_classes=3)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 3])
    """

    sequential_stages = True  # the three layers are the body; forward_features pools the last

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__(EMBEDDING_DIM, n_classes)
        self.layers = nn.ModuleList(
            [_conv_bn_relu(3, 8, 1), _conv_bn_relu(8, 16, 2), _conv_bn_relu(16, EMBEDDING_DIM, 2)]
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(N, 3, H, W)`` to ``(N, 16)``."""
        self._check_images(x)
        for layer in self.layers:
            x = layer(x)
        return x.mean(dim=(2, 3))

    def stages(self) -> list[nn.Module]:
        """The three conv-BN-ReLU layers, input first."""
        return list(self.layers)


TINYNET_CONFIG = BackboneConfig(
    name="tinynet",
    input_size=32,
    mean=(0.5, 0.5, 0.5),  # maps [0, 1] to [-1, 1]
    std=(0.5, 0.5, 0.5),
    embedding_dim=EMBEDDING_DIM,
    weights="none: pretrained=True gives a fixed seeded initialisation, for tests",
    licence="MIT (part of sigxfer)",
    classifier="classifier",
    builder=TinyNet,
    weights_path=None,
)
register_backbone(TINYNET_CONFIG, overwrite=True)  # overwrite: importlib.reload must not fail
