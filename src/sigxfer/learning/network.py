"""The whole model as one torch module: signal -> image(s) -> backbone -> head."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from sigxfer.errors import ParameterError
from sigxfer.imaging import Imager
from sigxfer.learning.batches import iter_batches

#: How a stage's feature map becomes a vector: ``"mean"`` over height and width; ``"bands"``:
#: the mean over height, then the means of :data:`N_BANDS` equal bands along the width (time in
#: most imagings), so coarse position survives pooling; or ``"max"`` over height and width, which
#: keeps a pattern that fills a few cells of the map as strongly as one that fills it.
POOLINGS = ("mean", "bands", "max")
N_BANDS = 3


def pool_map(maps: torch.Tensor, pooling: str = "mean") -> torch.Tensor:
    """Pool feature maps ``(N, C, H, W)`` to ``(N, C)`` (``"mean"``, ``"max"``) or ``(N, C * N_BANDS)`` (``"bands"``).

    Band values are laid out channel by channel (``c0b0, c0b1, c0b2, c1b0, ...``).

    Examples
    --------
    >>> pool_map(torch.ones(2, 4, 7, 7), "bands").shape
    torch.Size([2, 12])
    >>> pool_map(torch.arange(4.0).reshape(1, 1, 2, 2), "max").tolist()
    [[3.0]]
    """
    if pooling == "mean":
        return maps.mean(dim=(2, 3))
    if pooling == "max":
        return maps.amax(dim=(2, 3))
    if pooling == "bands":
        # adaptive_avg_pool1d's bands (start floor(i*w/n), end ceil((i+1)*w/n)) written as slices:
        # the ONNX exporter refuses adaptive pooling whose input is not a multiple of its output.
        cols, width = maps.mean(dim=2), int(maps.shape[-1])
        bands = [cols[..., (i * width) // N_BANDS:-(-(i + 1) * width // N_BANDS)].mean(dim=-1) for i in range(N_BANDS)]
        return torch.stack(bands, dim=-1).flatten(1)
    raise ParameterError(f"pooling={pooling!r} is not known; use one of {POOLINGS}")


#: Shifts (fractions of the series' length) are below this: a half-length shift leaves no overlap.
MAX_SHIFT = 0.5


def is_shift(value) -> bool:
    """Whether ``value`` is a shift :class:`SignalNet` takes: a number, ``0 <= value < MAX_SHIFT``.

    Examples
    --------
    >>> is_shift(0.05), is_shift(0), is_shift(0.5), is_shift(True), is_shift(float("nan"))
    (True, True, False, False, False)
    """
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value < MAX_SHIFT


#: The smallest power :func:`power_map` takes (a power of 0 would make every feature its sign).
MIN_POWER = 0.1
#: Added to ``|x|`` before the power (and its own power taken off again), so the map is continuous
#: at 0 and its slope there, which fine-tuning back-propagates through, is finite.
POWER_EPS = 1e-6


def is_power(value) -> bool:
    """Whether ``value`` is a power :class:`SignalNet` takes: a number, ``MIN_POWER <= value <= 1``.

    >>> is_power(0.5), is_power(1), is_power(0.0), is_power(True), is_power(float("nan"))
    (True, True, False, False, False)
    """
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and MIN_POWER <= value <= 1.0)


def power_map(x: torch.Tensor, power: float) -> torch.Tensor:
    """Signed power normalisation of features: ``sign(x) * ((|x| + eps)^power - eps^power)``
    (:data:`POWER_EPS`), i.e. the signed square root for ``power=0.5``; ``x`` itself for 1.

    A linear head on pooled CNN features is led by the few channels that fire strongly; the
    power compresses them, so many weak responses weigh more (Perronnin et al. 2010 did this
    for Fisher vectors). Element by element, so it may follow any selection of blocks.

    Examples
    --------
    >>> [round(v, 3) for v in power_map(torch.tensor([-4.0, 0.0, 0.25, 9.0]), 0.5).tolist()]
    [-1.999, 0.0, 0.499, 2.999]
    >>> torch.equal(power_map(torch.tensor([-4.0, 2.0]), 1.0), torch.tensor([-4.0, 2.0]))
    True
    """
    if power == 1.0:
        return x
    return torch.sign(x) * ((x.abs() + POWER_EPS) ** power - POWER_EPS ** power)


def shift_samples(shift: float, n_timepoints: int) -> int:
    """Samples a shift of ``shift`` (a fraction of the length) moves a series: at least one when
    ``shift`` > 0, none when it is 0.

    Examples
    --------
    >>> shift_samples(0.05, 150), shift_samples(0.05, 10), shift_samples(0.0, 150)
    (8, 1, 0)
    """
    return max(1, int(round(shift * n_timepoints))) if shift > 0 else 0


def shifted(x: torch.Tensor, samples: int) -> torch.Tensor:
    """Series ``(N, C, T)`` moved ``samples`` later in time (earlier when negative), the edge
    sample repeated where the series has no value.

    Examples
    --------
    >>> shifted(torch.arange(5.0).view(1, 1, 5), 2).tolist(), shifted(torch.arange(5.0).view(1, 1, 5), -1).tolist()
    ([[[0.0, 0.0, 0.0, 1.0, 2.0]]], [[[1.0, 2.0, 3.0, 4.0, 4.0]]])
    """
    t = int(x.shape[-1])
    source = (torch.arange(t, device=x.device) - int(samples)).clamp(0, t - 1)
    return x.index_select(-1, source)


def shift_copies(x: torch.Tensor, shift: float) -> list[torch.Tensor]:
    """``[x]``, or with ``shift`` > 0 the three copies a shift-averaged embedding reads: ``x``,
    ``x`` moved later and earlier by :func:`shift_samples` (:attr:`SignalNet.shift`)."""
    k = shift_samples(shift, int(x.shape[-1]))
    return [x] if k == 0 else [x, shifted(x, k), shifted(x, -k)]


def plane_images(imagers, x: torch.Tensor, shift: float = 0.0) -> torch.Tensor:
    """Signals (N, C, T) -> every plane's images side by side, (N, 3 * planes, H, W): copy by copy
    (:func:`shift_copies`), and within each copy view by view (``imagers`` in order)."""
    copies = shift_copies(x, shift)
    if len(copies) * len(imagers) == 1:
        return imagers[0](x)
    return torch.cat([imager(c) for c in copies for imager in imagers], dim=1)


def read_planes(read, images: torch.Tensor, n_views: int, n_copies: int = 1) -> torch.Tensor:
    """Images of :func:`plane_images` -> ``read`` of every plane as one batch (so BatchNorm sees every
    view and copy alike), shape (N, n_views * d): each view's features, averaged over the copies."""
    planes = n_views * n_copies
    if planes == 1:
        return read(images)
    n, _, height, width = images.shape
    batch = images.reshape(n, planes, 3, height, width).transpose(0, 1).reshape(planes * n, 3, height, width)
    out = read(batch).reshape(n_copies, n_views, n, -1).mean(dim=0)
    return out.transpose(0, 1).reshape(n, -1)


class SignalNet(nn.Module):
    """Imager(s), backbone and the backbone's (replaced) classifier as one module.

    One module means one ``state_dict`` for the model file, one graph for ONNX export (the imaging
    runs inside it) and the same code path for training, batch prediction and streaming.

    Several imagers make a multi-view model: each view's images go through the same backbone
    (as one batch, so BatchNorm sees every view alike in training and in prediction) and the head
    reads the views' embeddings side by side, in the order given. The first view keeps the
    attribute name ``imager`` and the others sit in ``extra_imagers``, so a one-view model's
    ``state_dict`` keys stay ``imager.*`` and model files of earlier versions load unchanged.

    Parameters
    ----------
    imager : Imager or sequence of Imager
        Fitted imager(s); each one's output size and normalisation match the backbone's.
    backbone : nn.Module
        From :func:`sigxfer.backbones.create_backbone`; its ``classifier`` is the head.
    taps : list of int, optional
        Stages whose pooled maps make the embedding (multi-depth features,
        :meth:`~sigxfer.backbones.base.Backbone.feature_taps`); None: the backbone's own
        ``forward_features`` (the last layer).
    pooling : {"mean", "bands", "max"}
        How tapped maps are pooled (:func:`pool_map`); ``"bands"`` or ``"max"`` with ``taps=None``
        taps the last stage.
    view_names : list of str, optional
        A label per view for tables and messages; the transform names by default.
    shift : float
        0: each series is read as it is. Above 0, a shift-averaged embedding: the series is also
        read moved later and earlier by that fraction of its length (:func:`shift_copies`, the
        edge sample repeated) and each view's features are the mean over the three copies, so a
        pattern a few samples early or late gives nearly the same features. Three backbone
        passes per series, in training, prediction, the ONNX export and the stream alike.
    power : float
        1: the head reads the pooled features as they are. Below 1 (down to :data:`MIN_POWER`;
        0.5 is the signed square root), each feature goes through :func:`power_map` after
        pooling (and after the mean over shifted copies), in training, prediction, the ONNX
        export and the stream alike.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(4, 1, 64)).astype("float32")
    >>> views = [Imager(name, size=32).fit(X) for name in ("gaf", "waveform")]
    >>> net = SignalNet(views, create_backbone("tinynet"))
    >>> net.n_views, net.embedding_dim, net.embed(torch.from_numpy(X)).shape
    (2, 32, torch.Size([4, 32]))
    """

    def __init__(self, imager: Imager | Sequence[Imager], backbone: nn.Module, *, taps: Sequence[int] | None = None,
                 pooling: str = "mean", view_names: Sequence[str] | None = None, shift: float = 0.0,
                 power: float = 1.0):
        super().__init__()
        views = [imager] if isinstance(imager, Imager) else list(imager)
        if not views or not all(isinstance(v, Imager) for v in views):
            raise ParameterError("SignalNet needs one Imager or a non-empty list of Imagers")
        sizes = {tuple(v.size) for v in views}
        if len(sizes) > 1:
            raise ParameterError(f"the views make images of different sizes {sorted(sizes)}; give them one size")
        self.imager = views[0]
        self.extra_imagers = nn.ModuleList(views[1:])
        self.backbone = backbone
        names = [v.transform.name for v in views] if view_names is None else [str(n) for n in view_names]
        if len(names) != len(views):
            raise ParameterError(f"view_names has {len(names)} names for {len(views)} views")
        self.view_names = names
        self.taps: list[int] | None = None
        self.pooling = "mean"
        self.block_dims: list[int] = []
        self.set_features(taps, pooling)
        self.shift = 0.0
        self.set_shift(shift)
        self.power = 1.0
        self.set_power(power)

    # ------------------------------------------------------------------ structure
    @property
    def imagers(self) -> list[Imager]:
        """The views' imagers, first view first."""
        return [self.imager, *self.extra_imagers]

    @property
    def n_views(self) -> int:
        return 1 + len(self.extra_imagers)

    @property
    def n_copies(self) -> int:
        """Copies of each series read: 1, or 3 with a shift (:func:`shift_copies`)."""
        return 3 if self.shift > 0 else 1

    @property
    def n_planes(self) -> int:
        """Images per series that go through the backbone: one per view and copy."""
        return self.n_views * self.n_copies

    @property
    def head(self) -> nn.Linear:
        return self.backbone.classifier

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    @property
    def embedding_dim(self) -> int:
        """Length of :meth:`embed`'s vectors: the blocks of every view."""
        return self.n_views * sum(self.block_dims)

    @property
    def plain(self) -> bool:
        """One view of each series as it is, read by the backbone's own ``forward_features`` with no
        power map after it: the path of single-view models."""
        return self.n_planes == 1 and self.taps is None and self.power == 1.0

    def set_shift(self, shift: float) -> None:
        """Read each series as it is (0) or shift-averaged by ``shift``, a fraction of its length
        below 0.5 (see the class's parameters). The head is not touched."""
        if not is_shift(shift):
            raise ParameterError(f"shift={shift!r} must be a fraction of the series' length, 0 <= shift < {MAX_SHIFT}")
        self.shift = float(shift)

    def set_power(self, power: float) -> None:
        """Read the pooled features as they are (1) or through :func:`power_map` with ``power``
        (see the class's parameters). The head is not touched."""
        if not is_power(power):
            raise ParameterError(f"power={power!r} must be a number from {MIN_POWER:g} to 1 (1: no power map)")
        self.power = float(power)

    def set_features(self, taps: Sequence[int] | None = None, pooling: str = "mean") -> None:
        """Choose what the head reads: the last layer (``taps=None``) or pooled maps of several stages.

        The head is not touched: a strategy resets or fits it after changing the features.

        Raises
        ------
        ParameterError
            Unknown pooling, or taps on a backbone that does not expose its stages.
        """
        if pooling not in POOLINGS:
            raise ParameterError(f"pooling={pooling!r} is not known; use one of {POOLINGS}")
        if taps is None and pooling != "mean":
            taps = [len(self.backbone.stages()) - 1]
        if taps is None:
            self.taps, self.block_dims = None, [int(self.backbone.embedding_dim)]
        else:
            channels = self.backbone.stage_channels()  # raises for backbones without a stage chain
            taps = [int(t) + len(channels) if int(t) < 0 else int(t) for t in taps]
            if not taps or any(not 0 <= t < len(channels) for t in taps) or taps != sorted(set(taps)):
                raise ParameterError(
                    f"taps={taps} must be distinct increasing stage indices in 0..{len(channels) - 1}"
                )
            width = N_BANDS if pooling == "bands" else 1
            self.taps, self.block_dims = taps, [channels[t] * width for t in taps]
        self.pooling = pooling

    def keep_views(self, indices: Sequence[int]) -> None:
        """Keep only the views at ``indices`` (in that order), e.g. those a selection chose."""
        views, names = self.imagers, self.view_names
        indices = [int(i) for i in indices]
        if not indices or any(not 0 <= i < len(views) for i in indices) or len(set(indices)) != len(indices):
            raise ParameterError(f"views {indices} must be distinct indices in 0..{len(views) - 1}")
        self.imager = views[indices[0]]
        self.extra_imagers = nn.ModuleList([views[i] for i in indices[1:]])
        self.view_names = [names[i] for i in indices]

    def set_views(self, imagers: Sequence[Imager], names: Sequence[str]) -> None:
        """Read ``imagers`` (named ``names``) from now on, e.g. all the views again after :meth:`keep_views`."""
        if not imagers or len(imagers) != len(names):
            raise ParameterError(f"{len(imagers)} views and {len(names)} names: give one name per view")
        self.imager = imagers[0]
        self.extra_imagers = nn.ModuleList(list(imagers[1:]))
        self.view_names = list(names)

    def view_index(self, view: int | str | None) -> int:
        """Index of a view given by index or name (None: the first)."""
        if view is None:
            return 0
        if isinstance(view, str):
            if view not in self.view_names:
                raise ParameterError(f"view={view!r} is not one of this model's views {self.view_names}")
            return self.view_names.index(view)
        if isinstance(view, bool) or not isinstance(view, int) or not -self.n_views <= view < self.n_views:
            raise ParameterError(f"view={view!r} must be a view name or an index below {self.n_views}")
        return view % self.n_views

    def reset_head(self, n_outputs: int) -> None:
        """A freshly initialised head ``nn.Linear(embedding_dim, n_outputs)``."""
        if self.embedding_dim == int(self.backbone.embedding_dim):
            self.backbone.reset_classifier(n_outputs)  # any registered backbone takes this call
        else:
            self.backbone.reset_classifier(n_outputs, in_features=self.embedding_dim)

    def get_config(self) -> dict:
        """The structure beyond the imagers and backbone, as JSON values (for the model file)."""
        return {"view_names": list(self.view_names), "taps": None if self.taps is None else list(self.taps),
                "pooling": self.pooling, "embedding_dim": self.embedding_dim, "shift": self.shift,
                "power": self.power}

    # ------------------------------------------------------------------ forward
    def images(self, x: torch.Tensor) -> torch.Tensor:
        """Signals (N, C, T) -> normalised images (N, 3 * n_planes, H, W), the views' planes side by
        side, copy after copy with a shift."""
        return plane_images(self.imagers, x, self.shift)

    def view_maps(self, images: torch.Tensor) -> torch.Tensor:
        """Images of one view (N, 3, H, W) -> pooled features (N, sum(block_dims))."""
        if self.taps is None:
            return self.backbone.forward_features(images)
        maps = self.backbone.stage_features(images, self.taps)
        return torch.cat([pool_map(m, self.pooling) for m in maps], dim=1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Images from :meth:`images` -> embeddings (N, embedding_dim), view after view (each view's
        mean over the copies with a shift), through the power map when :attr:`power` is below 1."""
        return power_map(read_planes(self.view_maps, images, self.n_views, self.n_copies), self.power)

    def forward_images(self, images: torch.Tensor) -> torch.Tensor:
        """Images from :meth:`images` -> head outputs; dropout before the head acts in training."""
        if self.plain:
            return self.backbone(images)
        return self.head_outputs(self.features(images))

    def head_outputs(self, features: torch.Tensor) -> torch.Tensor:
        """Embeddings (N, embedding_dim) -> head outputs, through the backbone's dropout (active in training)."""
        dropout = getattr(self.backbone, "dropout", None)
        return self.head(dropout(features) if isinstance(dropout, nn.Module) else features)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Signals (N, C, T) -> embeddings (N, embedding_dim) before the head."""
        return self.features(self.images(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Signals (N, C, T) -> head outputs (N, n_outputs): logits, or standardised targets."""
        # Through backbone.forward (in forward_images) so its dropout before the head acts while fine-tuning.
        return self.forward_images(self.images(x))

    def iter_images(self, X, batch_size: int = 32, *, progress: bool | None = False,
                    desc: str | None = None) -> Iterator[torch.Tensor]:
        """Images (k, 3 * n_planes, H, W) of successive batches of signals, channels_last, on the net's device.

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
        for _, images in iter_batches(X, batch_size, device=self.device, transform=self.images,
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
        parts = [self.forward_images(images).float().cpu().numpy()
                 for images in self.iter_images(X, batch_size, progress=progress, desc="predicting")]
        if not parts:
            return np.zeros((0, self.head.out_features), dtype=np.float32)
        return np.concatenate(parts)
