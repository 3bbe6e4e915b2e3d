"""The whole model as one torch module: signal -> image -> backbone -> head."""

from __future__ import annotations

import torch
from torch import nn

from sigxfer.imaging import Imager


class SignalNet(nn.Module):
    """Imager, backbone and the backbone's (replaced) classifier as one module.

    One module means one ``state_dict`` for the model file, one graph for ONNX export (the imaging
    runs inside it) and the same code path for training, batch prediction and streaming.

    Parameters
    ----------
    imager : Imager
        Fitted imager; its output size and normalisation match the backbone's.
    backbone : nn.Module
        From :func:`sigxfer.backbones.create_backbone`; its ``classifier`` is the head.
    """

    def __init__(self, imager: Imager, backbone: nn.Module):
        super().__init__()
        self.imager = imager
        self.backbone = backbone

    @property
    def head(self) -> nn.Linear:
        return self.backbone.classifier

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Signals (N, C, T) -> pooled embeddings (N, d) before the head."""
        return self.backbone.forward_features(self.imager(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Signals (N, C, T) -> head outputs (N, n_outputs): logits, or standardised targets."""
        # Through backbone.forward so its dropout before the head acts while fine-tuning.
        return self.backbone(self.imager(x))
