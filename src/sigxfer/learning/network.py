"""The whole model as one torch module: signal -> image -> backbone -> head."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from sigxfer.imaging import Imager
from sigxfer.learning.batches import iter_batches


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

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Signals (N, C, T) -> pooled embeddings (N, d) before the head."""
        return self.backbone.forward_features(self.imager(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Signals (N, C, T) -> head outputs (N, n_outputs): logits, or standardised targets."""
        # Through backbone.forward so its dropout before the head acts while fine-tuning.
        return self.backbone(self.imager(x))

    def iter_images(self, X, batch_size: int = 32, *, progress: bool | None = False,
                    desc: str | None = None) -> Iterator[torch.Tensor]:
        """Images (k, 3, H, W) of successive batches of signals, channels_last, on the net's device.

        ``X`` is an array (n_cases, n_channels, n_timepoints) or an iterable of such chunks; the
        next batch is imaged in a producer thread while the caller uses this one.

        Examples
        --------
        >>> import numpy as np
        >>> from sigxfer.backbones import create_backbone
        >>> X = np.zeros((5, 1, 256), dtype=np.float32)
        >>> net = SignalNet(Imager("spectrum", size=32).fit(X), create_backbone("tinynet"))
        >>> [tuple(images.shape) for images in net.iter_images(X, 4)]
        [(4, 3, 32, 32), (1, 3, 32, 32)]
        """
        for _, images in iter_batches(X, batch_size, device=self.device, transform=self.imager,
                                      memory_format="channels_last", progress=progress, desc=desc):
            yield images

    @torch.no_grad()
    def outputs(self, X, batch_size: int = 32, *, progress: bool | None = False) -> np.ndarray:
        """Head outputs of signals ``X`` in eval mode, float32, shape (n_cases, n_outputs).

        Examples
        --------
        >>> import numpy as np
        >>> from sigxfer.backbones import create_backbone
        >>> X = np.zeros((5, 1, 256), dtype=np.float32)
        >>> net = SignalNet(Imager("spectrum", size=32).fit(X), create_backbone("tinynet"))
        >>> net.outputs(X, 4).shape
        (5, 10)
        """
        self.eval()
        parts = [self.backbone(images).float().cpu().numpy()
                 for images in self.iter_images(X, batch_size, progress=progress, desc="predicting")]
        if not parts:
            return np.zeros((0, self.head.out_features), dtype=np.float32)
        return np.concatenate(parts)
