"""The base class of sigxfer's own networks: a body that pools to an embedding, then a classifier.

Subclasses (:mod:`.efficientnet_lite`, :mod:`.tiny`, the state_dict files of :mod:`.files`)
build their layers and say which modules are their stages; this class gives them multi-depth
features, stage widths, feature taps and a replaceable classifier. The registry
(:mod:`.registry`) never needs it: it checks a built module only for the members it uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from sigxfer.errors import DataError, ParameterError

if TYPE_CHECKING:
    from sigxfer.backbones.registry import BackboneConfig


class Backbone(nn.Module):
    """Base class of sigxfer's networks: a body that pools to an embedding, then a linear classifier.

    Subclasses build their layers, then implement :meth:`forward_features` and :meth:`stages`.

    Parameters
    ----------
    embedding_dim : int
        Length of the pooled embedding.
    n_classes : int
        Outputs of the classifier.
    drop_rate : float
        Dropout before the classifier (active in training mode only).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> class Pool(Backbone):
    ...     def __init__(self, n_classes=10):
    ...         super().__init__(embedding_dim=3, n_classes=n_classes)
    ...     def forward_features(self, x):
    ...         return x.mean(dim=(2, 3))
    ...     def stages(self):
    ...         return []
    >>> Pool()(torch.zeros(2, 3, 8, 8)).shape
    torch.Size([2, 10])
    """

    #: Whether :meth:`stages` run one after the other make the whole body (then
    #: :meth:`stage_features` works and multi-depth embeddings are available).
    sequential_stages: bool = False

    def __init__(self, embedding_dim: int, n_classes: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.config: BackboneConfig | None = None  # create_backbone fills it in
        self.dropout = nn.Dropout(drop_rate)
        self.classifier = nn.Linear(embedding_dim, n_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(N, 3, H, W)`` to pooled embeddings ``(N, embedding_dim)``."""
        raise NotImplementedError

    def stages(self) -> list[nn.Module]:
        """Blocks of the body from input to output, for unfreezing the last few."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(N, 3, H, W)`` to classifier outputs ``(N, n_outputs)``."""
        return self.classifier(self.dropout(self.forward_features(x)))

    def stage_features(self, x: torch.Tensor, stages: list[int] | None = None) -> list[torch.Tensor]:
        """Feature maps ``(N, C_i, H_i, W_i)`` after the stages ``stages`` (indices into :meth:`stages`).

        The default runs :meth:`stages` one after the other, which is the body of networks that
        set ``sequential_stages = True`` (their :meth:`forward_features` is the spatial mean of the
        last stage's map). It stops after the deepest stage asked for, and keeps only the maps
        asked for, so early high-resolution maps cost no memory.

        Parameters
        ----------
        x : Tensor, shape (N, 3, H, W)
            Normalised images.
        stages : list of int, optional
            Stage indices, in any order; all stages when None. Negative indices count from the end.

        Returns
        -------
        list of Tensor
            One map per requested index, in the order asked.

        Raises
        ------
        ParameterError
            The backbone does not expose its stages as a chain, or an index is out of range.

        Examples
        --------
        >>> import torch
        >>> from sigxfer.backbones import create_backbone
        >>> net = create_backbone("tinynet")
        >>> [m.shape[1:] for m in net.stage_features(torch.zeros(1, 3, 32, 32))]
        [torch.Size([8, 32, 32]), torch.Size([16, 16, 16]), torch.Size([16, 8, 8])]
        """
        if not self.sequential_stages:
            name = getattr(self.config, "name", type(self).__name__)
            raise ParameterError(
                f"backbone {name!r} does not expose intermediate stages; use features='last'"
            )
        self._check_images(x)
        chain = self.stages()
        wanted = list(range(len(chain))) if stages is None else [int(s) for s in stages]
        resolved = [s + len(chain) if s < 0 else s for s in wanted]
        if any(not 0 <= s < len(chain) for s in resolved):
            raise ParameterError(f"stages={wanted} must lie in 0..{len(chain) - 1} (the backbone's stages)")
        keep = {}
        for index, stage in enumerate(chain[:max(resolved) + 1]):
            x = stage(x)
            if index in resolved:
                keep[index] = x
        return [keep[s] for s in resolved]

    @torch.no_grad()
    def stage_channels(self) -> list[int]:
        """Channels of each stage's output map, input first (measured once on a small blank image).

        Examples
        --------
        >>> from sigxfer.backbones import create_backbone
        >>> create_backbone("tinynet").stage_channels()
        [8, 16, 16]
        """
        if getattr(self, "_stage_channels", None) is None:
            param = next(self.parameters())
            modes = [(m, m.training) for m in self.modules()]
            self.eval()  # a probe in training mode would move BatchNorm running statistics
            try:
                probe = torch.zeros(1, 3, 64, 64, device=param.device, dtype=param.dtype)
                self._stage_channels = [int(m.shape[1]) for m in self.stage_features(probe)]
            finally:
                for module, mode in modes:
                    module.training = mode
        return list(self._stage_channels)

    def feature_taps(self, n_depths: int = 6) -> list[int]:
        """Stage indices whose pooled maps make the multi-depth embedding (``features="multi"``).

        The ends of the last ``n_depths`` groups of consecutive stages with equal output
        channels: one tap per width of the network, deepest last (for EfficientNet-Lite0 the
        40, 80, 112, 192, 320 and 1280-channel maps, 2024 values in all).

        Examples
        --------
        >>> from sigxfer.backbones import create_backbone
        >>> create_backbone("tinynet").feature_taps()
        [0, 2]
        """
        channels = self.stage_channels()
        ends = [i for i in range(len(channels)) if i == len(channels) - 1 or channels[i + 1] != channels[i]]
        return ends[-n_depths:]

    def reset_classifier(self, n_outputs: int, in_features: int | None = None) -> None:
        """Replace the classifier by a freshly initialised ``nn.Linear(in_features, n_outputs)``.

        ``in_features`` defaults to ``embedding_dim``; a network reading several views or depths
        (:class:`~sigxfer.learning.network.SignalNet`) gives its own width.
        """
        if isinstance(n_outputs, bool) or not isinstance(n_outputs, int) or n_outputs <= 0:
            raise ParameterError(
                f"n_outputs={n_outputs!r} must be a positive integer (the number of classes or targets)"
            )
        old = self.classifier.weight
        width = self.embedding_dim if in_features is None else int(in_features)
        self.classifier = nn.Linear(width, n_outputs, device=old.device, dtype=old.dtype)

    def translate_state_dict(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename the keys of a weights file to this module's names (identity unless overridden)."""
        return dict(state)

    @staticmethod
    def _check_images(x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3:
            raise DataError(
                f"images must be shaped (N, 3, H, W); got {tuple(x.shape)}: turn signals into images with an Imager first"
            )
