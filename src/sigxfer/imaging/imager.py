"""The Imager: signals in, normalised image tensors out, at one scale fitted on training data."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sigxfer._checks import as_signals
from sigxfer.errors import DataError, NotFittedError, ParameterError
from sigxfer.imaging import functional as Fn
from sigxfer.imaging.transforms import Transform, create_transform

CHANNEL_MODES = ("auto", "grey", "rgb", "mean", "tile")
COLORMAPS = (None, "viridis", "jet", "magma", "gray")
DERIVATIVES = (0, 1)
# Enough values for stable 1st/99.9th percentiles; more only costs memory.
_MAX_FIT_VALUES = 2_000_000


def _colormap_lut(name: str) -> torch.Tensor:
    from matplotlib import colormaps  # imported lazily: only users of colour maps pay for it

    return torch.tensor(colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3], dtype=torch.float32)


class Imager(nn.Module):
    """Turn signals into images a pretrained CNN can read, at one fixed, fitted scale.

    ``forward`` runs: transform (physical units, e.g. dB) -> global scale fitted by :meth:`fit`
    (values between the fitted low and high map to [0, 1], clipped outside) -> picture of
    ``size`` -> channel mapping to 3 planes -> optional colour map -> the backbone's mean/std.
    It is a torch module: batched, on whatever device it is moved to, and exportable to ONNX
    (no data-dependent Python branches; Fourier transforms are matrix products). Input is not
    checked for NaN here (that would be a data-dependent branch); :meth:`fit` checks it.
    There is deliberately no per-image min-max: the same recording must give the same image in
    training, batch prediction and streaming, and loudness is information.

    Parameters
    ----------
    transform : str
        One of :func:`~sigxfer.imaging.list_transforms`: ``"spectrum"``, ``"spectrogram"``,
        ``"mel"``, ``"scalogram"``, ``"gaf"``, ``"recurrence"``, ``"waveform"``.
    sr : float, optional
        Sample rate in Hz (needed by transforms with parameters in Hz).
    size : int or (int, int)
        Output image height and width in pixels, normally the backbone's input size.
    channel_mode : {"auto", "grey", "rgb", "mean", "tile"}
        How signal channels become the 3 image planes. ``auto``: 1 channel -> grey replicated to
        R, G, B; 3 channels -> R, G, B (seed 001's accelerometer axes); any other count -> ``tile``.
        ``mean``: channel images averaged into one grey picture. ``tile``: channel pictures laid
        out in a near-square grid (row-major) in one grey picture; empty tiles are 0.
    channels : sequence of int, optional
        Read only these signal channels (indices into the signals' channels), e.g. ``(3, 4, 5)``
        for the second group of three: each group of a many-channel signal can then be its own
        view (the estimators' ``channel_mode="groups"``). ``channel_mode`` applies to the
        channels read. None: all of them.
    derivative : {0, 1}
        1: picture the series' first difference (sample to sample change, the first repeated so
        the length stays) instead of the series itself, before the transform. A slope, a kink or
        a change of rate stands out where the level hides it, as in derivative DTW or
        MultiRocket's difference series. 0 (default): the series as given.
    colormap : str, optional
        Paint grey pictures with a matplotlib colour map (``"viridis"``, ``"jet"``); off by default
        because colour adds nothing a network needs and, for curves, invites it to learn styling.
    mean, std : 3 floats
        Per-plane normalisation applied last (the backbone's).
    scale_percentiles : (float, float), optional
        Percentiles of the training values mapped to 0 and 1; the transform's default otherwise.
    **params
        Parameters of the transform (``n_fft``, ``hop_length``, ``fmax``, ...).
    """

    def __init__(self, transform: str = "spectrogram", *, sr: float | None = None,
                 size: int | tuple[int, int] = 224, channel_mode: str = "auto",
                 channels=None, derivative: int = 0, colormap: str | None = None,
                 mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                 scale_percentiles: tuple[float, float] | None = None, **params):
        super().__init__()
        if isinstance(derivative, bool) or derivative not in DERIVATIVES:
            raise ParameterError(f"derivative={derivative!r} is not known; use 0 (the series) or 1 (its first "
                                 "difference)")
        self.derivative = int(derivative)
        self.transform: Transform = create_transform(transform, sr=sr, **params)
        size = (size, size) if isinstance(size, int) else tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 8:
            raise ParameterError(f"size={size} must be one int or (height, width), each at least 8")
        if channel_mode not in CHANNEL_MODES:
            raise ParameterError(f"channel_mode={channel_mode!r} is not known; use one of {CHANNEL_MODES}")
        if channels is not None:
            channels = [int(c) for c in channels] if not isinstance(channels, (str, bytes)) else None
            if not channels or min(channels) < 0 or len(set(channels)) != len(channels):
                raise ParameterError("channels must list distinct non-negative channel indices, e.g. (0, 1, 2)")
        self.channels: list[int] | None = channels
        if colormap not in COLORMAPS:
            raise ParameterError(f"colormap={colormap!r} is not known; use one of {COLORMAPS[1:]} or None")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ParameterError("mean and std must hold 3 numbers each, std positive")
        pct = scale_percentiles or self.transform.scale_percentiles
        if not 0 <= pct[0] < pct[1] <= 100:
            raise ParameterError(f"scale_percentiles={pct} must satisfy 0 <= low < high <= 100")
        self.size, self.channel_mode, self.colormap = size, channel_mode, colormap
        self.scale_percentiles = (float(pct[0]), float(pct[1]))
        self.transform.image_size = size
        # mean/std come back from the config; only the fitted scale is state for the model file.
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        # The fitted scale travels in the model file with the weights; NaN until fit().
        self.register_buffer("scale", torch.full((2,), float("nan")))
        if colormap is not None:
            self.register_buffer("lut", _colormap_lut(colormap), persistent=False)
        if channels is not None:
            self.register_buffer("channel_index", torch.tensor(channels, dtype=torch.long), persistent=False)
        self.n_channels: int | None = None

    # ------------------------------------------------------------------ config
    @property
    def is_fitted(self) -> bool:
        return bool(torch.isfinite(self.scale).all())

    def get_config(self) -> dict:
        """Everything needed to rebuild this imager, as plain JSON values."""
        return {
            "transform": self.transform.name,
            "params": self.transform.get_params(),
            "sr": self.transform.sr,
            "size": list(self.size),
            "channel_mode": self.channel_mode,
            **({"channels": list(self.channels)} if self.channels is not None else {}),
            **({"derivative": self.derivative} if self.derivative else {}),
            "colormap": self.colormap,
            "mean": self.mean.flatten().tolist(),
            "std": self.std.flatten().tolist(),
            "scale_percentiles": list(self.scale_percentiles),
            "scale": self.scale.tolist() if self.is_fitted else None,
            "n_channels": self.n_channels,
        }

    @classmethod
    def from_config(cls, config: dict) -> Imager:
        """Rebuild an imager written by :meth:`get_config` (the fitted scale included)."""
        imager = cls(config["transform"], sr=config.get("sr"), size=tuple(config["size"]),
                     channel_mode=config["channel_mode"], channels=config.get("channels"),
                     derivative=config.get("derivative", 0), colormap=config.get("colormap"),
                     mean=config["mean"], std=config["std"],
                     scale_percentiles=tuple(config["scale_percentiles"]), **config["params"])
        if config.get("scale") is not None:
            imager.scale.copy_(torch.tensor(config["scale"], dtype=torch.float32))
        imager.n_channels = config.get("n_channels")
        return imager

    # ------------------------------------------------------------------ fitting
    @torch.no_grad()
    def fit(self, X, *, batch_size: int = 64) -> Imager:
        """Fit the global scale: chosen percentiles of the transform's values on ``X``.

        Transforms whose values have a known range (a Gramian field lies in [-1, 1]) take that
        range instead. Percentiles are computed on at most two million values drawn at fixed
        random positions, so the same data gives the same scale whatever ``batch_size``.

        Parameters
        ----------
        X : array or Tensor, shape (n_cases, n_channels, n_timepoints)
            Training signals only (fitting on test data would leak).
        batch_size : int
            Cases transformed at a time (memory only; the result does not depend on it).

        Raises
        ------
        DataError
            ``X`` is not 3-D, is empty, or holds NaN or infinite values.
        """
        from sigxfer._checks import as_signals

        return self._fit(torch.from_numpy(as_signals(X).X), batch_size=batch_size)

    @torch.no_grad()
    def _fit(self, x: torch.Tensor, *, batch_size: int = 64) -> Imager:
        """:meth:`fit` on signals already checked by :func:`sigxfer._checks.as_signals`."""
        x = self._as_tensor(x, check_channels=False)
        if batch_size < 1:
            raise ParameterError(f"batch_size={batch_size} must be a positive integer")
        n_channels = int(x.shape[1])
        if self.channels is not None and max(self.channels) >= n_channels:
            raise DataError(f"the imager reads channels {self.channels} but the signals have {n_channels}; "
                            "pass signals with the training channel layout")
        x = self._select(x)
        self._channel_rule(int(x.shape[1]))  # a channel_mode that cannot apply fails now, not later
        if self.transform.value_range is not None:
            lo, hi = self.transform.value_range
        else:
            lo, hi = np.percentile(self._fit_sample(x, batch_size), self.scale_percentiles)
            if not hi > lo:
                # Constant inputs (all zeros, say): any fixed, non-empty range keeps images defined.
                hi = lo + 1.0
        self.scale.copy_(torch.tensor([lo, hi], dtype=torch.float32))
        self.n_channels = n_channels
        return self

    def _fit_sample(self, x: torch.Tensor, batch_size: int) -> np.ndarray:
        """The transform's values on ``x``, or a fixed random sample of them when there are many."""
        first = self.transform(x[:batch_size])
        per_case = first[0].numel()
        total = x.shape[0] * per_case
        pick = None
        if total > _MAX_FIT_VALUES:
            generator = torch.Generator().manual_seed(0)
            pick = torch.randint(total, (_MAX_FIT_VALUES,), generator=generator).sort().values
        chunks = []
        for start in range(0, x.shape[0], batch_size):
            values = first if start == 0 else self.transform(x[start:start + batch_size])
            values = values.reshape(-1).float().cpu()
            if pick is not None:
                lo, hi = start * per_case, start * per_case + values.numel()
                a, b = torch.searchsorted(pick, torch.tensor([lo, hi])).tolist()
                values = values[pick[a:b] - lo]
            chunks.append(values.numpy())
        return np.concatenate(chunks)

    # ------------------------------------------------------------------ forward
    def _as_tensor(self, X, *, check_channels: bool = True) -> torch.Tensor:
        # Contiguous: torch refuses numpy views with negative strides (X[::-1]).
        x = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32) if not torch.is_tensor(X) else X)
        x = x.to(self.mean.device, torch.float32)
        if x.ndim != 3:
            raise DataError(
                f"signals must be shaped (n_cases, n_channels, n_timepoints); got shape {tuple(x.shape)}"
            )
        if check_channels and self.n_channels is not None and x.shape[1] != self.n_channels:
            raise DataError(
                f"signals have {x.shape[1]} channels but the imager was fitted on {self.n_channels}; "
                "pass signals with the training channel layout"
            )
        return x

    def _select(self, x: torch.Tensor) -> torch.Tensor:
        """The series this imager pictures: the channels it reads (all of them without ``channels``;
        their range is checked by :meth:`fit`, later signals by their channel count), or their
        first difference with ``derivative=1``."""
        x = x if self.channels is None else x.index_select(1, self.channel_index)
        if self.derivative:  # one sample: no change to picture
            step = x[..., 1:] - x[..., :-1]
            x = torch.cat([step[..., :1], step], dim=-1) if x.shape[-1] > 1 else torch.zeros_like(x)
        return x

    def values(self, x: torch.Tensor) -> torch.Tensor:
        """Transform values of the channels read, mapped to [0, 1] by the fitted scale, shape (N, C, ...)."""
        if not self.is_fitted:
            raise NotFittedError("this Imager is not fitted; call fit(X_train) first")
        x = self._select(x)
        return self.transform.normalize(self.transform(x), self.scale[0], self.scale[1])

    def pictures(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] before normalisation, shape (N, 3, H, W): what ``render`` saves."""
        u = self.values(x)
        n_ch = int(u.shape[1])
        mode = self._channel_rule(n_ch)
        if mode == "tile" and n_ch > 1:
            grey = self._tile(u, n_ch)
        else:
            # Interpolation weights sum to 1 only up to rounding: keep pictures inside [0, 1].
            img = self.transform.render(u, self.size).clamp(0.0, 1.0)  # (N, C, H, W)
            if mode == "rgb":
                return img
            grey = img if n_ch == 1 else img.mean(dim=1, keepdim=True)
        if self.colormap is not None:
            index = (grey[:, 0] * 255).round().long().clamp(0, 255)
            return self.lut[index].permute(0, 3, 1, 2)
        return grey.expand(-1, 3, -1, -1)

    def _channel_rule(self, n_ch: int) -> str:
        mode = self.channel_mode
        if mode == "auto":
            mode = "grey" if n_ch == 1 else "rgb" if n_ch == 3 else "tile"
        if mode == "grey" and n_ch != 1:
            raise ParameterError(f"channel_mode='grey' needs 1 channel, got {n_ch}; use 'mean' or 'tile'")
        if mode == "rgb" and n_ch != 3:
            raise ParameterError(f"channel_mode='rgb' needs 3 channels, got {n_ch}; use 'mean' or 'tile'")
        return mode

    def _tile(self, u: torch.Tensor, n_ch: int) -> torch.Tensor:
        rows = math.ceil(math.sqrt(n_ch))
        cols = math.ceil(n_ch / rows)
        height, width = self.size
        th, tw = height // rows, width // cols
        tiles = self.transform.render(u, (th, tw)).clamp(0.0, 1.0)  # (N, C, th, tw)
        n = tiles.shape[0]
        blank = tiles.new_zeros(n, rows * cols - n_ch, th, tw)
        grid = torch.cat([tiles, blank], dim=1).reshape(n, rows, cols, th, tw)
        grid = grid.permute(0, 1, 3, 2, 4).reshape(n, 1, rows * th, cols * tw)
        return Fn.resize(grid, self.size) if (rows * th, cols * tw) != self.size else grid

    def forward(self, X) -> torch.Tensor:
        """Signals (N, C, T) -> normalised images (N, 3, H, W), ready for the backbone."""
        x = self._as_tensor(X)
        # One fused pass over the largest tensor: (p - mean) / std = p * (1 / std) - mean / std.
        return torch.addcmul(-self.mean / self.std, self.pictures(x), 1.0 / self.std)

    def extra_repr(self) -> str:
        read = "" if self.channels is None else f", channels={self.channels}"
        return f"transform={self.transform.name!r}, size={self.size}, channel_mode={self.channel_mode!r}{read}"
