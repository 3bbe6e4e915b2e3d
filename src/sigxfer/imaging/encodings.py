"""Time-series encodings as pictures: Gramian angular fields, recurrence plots, the plain waveform, segments.

These are the images time-series libraries offer besides spectra. The two matrix encodings cost
``O(n ** 2)`` in the series length, so each series is first average-pooled to the picture's size
(:func:`.functional.pool`): memory stays ``O(size ** 2)`` whatever the signal's length.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sigxfer.errors import ParameterError
from sigxfer.imaging import functional as Fn
from sigxfer.imaging.transforms import Transform, _check_fraction, register_transform


def _check_points(value, name: str = "n_points") -> int | None:
    """``value`` (None, or a whole number of samples of at least 2), checked as the parameter ``name``."""
    if value is not None:
        Fn._check_positive(**{name: value})
        if value < 2:
            raise ParameterError(f"{name}={value} must be at least 2")
    return value


@register_transform
class Gaf(Transform):
    """Gramian angular summation (GASF) or difference (GADF) field.

    Each series, pooled to ``n_points``, is mapped to [-1, 1], read as ``cos(phi)``, and drawn as
    the matrix ``cos(phi_i + phi_j)`` (summation) or ``sin(phi_i - phi_j)`` (difference); time
    runs left to right and bottom to top.

    The mapping to [-1, 1] is where this transform meets the project's rule of one fixed scale.
    The textbook definition (Wang and Oates; pyts) rescales each series by its own minimum and
    maximum, which throws away amplitude: a quiet and a loud copy of one shape give the same
    picture. So the default, ``rescale="fitted"``, maps the range of the *training* values
    (``Imager.fit``, their minimum and maximum) to [-1, 1] for every case, as the other transforms
    fix their dB range; values outside it clip to -1 or 1. ``rescale="series"`` gives the textbook
    field, for data where only the shape should matter or whose level drifts between recordings.

    Parameters
    ----------
    sr : float, optional
        Unused (accepted so every transform takes it).
    method : {"summation", "difference"}
    rescale : {"fitted", "series"}
        See above.
    n_points : int, optional
        Length each series is pooled to (the picture's larger side by default).
    """

    name = "gaf"
    scale_percentiles = (0.0, 100.0)

    def __init__(self, *, sr=None, method: str = "summation", rescale: str = "fitted",
                 n_points: int | None = None):
        super().__init__(sr=sr)
        if method not in ("summation", "difference"):
            raise ParameterError(f"method={method!r} is not known; use 'summation' or 'difference'")
        if rescale not in ("fitted", "series"):
            raise ParameterError(f"rescale={rescale!r} is not known; use 'fitted' or 'series'")
        self.method, self.rescale, self.n_points = method, rescale, _check_points(n_points)
        if rescale == "series":
            self.value_range = (-1.0, 1.0)

    def get_params(self) -> dict:
        return {"method": self.method, "rescale": self.rescale, "n_points": self.n_points}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled series (what the range is fitted on) or, for ``"series"``, the field itself."""
        pooled = Fn.pool(x, self.n_points or max(self.image_size))
        if self.rescale == "series":
            return Fn.gaf(pooled, method=self.method)
        return pooled

    def normalize(self, v, lo, hi):
        if self.rescale == "series":
            return super().normalize(v, lo, hi)
        return (Fn.gaf(v, method=self.method, vmin=lo, vmax=hi) + 1.0) * 0.5


@register_transform
class Recurrence(Transform):
    """Recurrence plot: distances between the states of each series at every pair of times.

    States are samples of the series pooled to ``n_points`` or, with ``dimension > 1``, delay
    vectors ``(x[i], x[i + time_delay], ...)``. Unthresholded (default), the picture is the
    distance itself at the fitted scale: 0 (dark) on the diagonal, bright where the series is far
    from where it was. With ``threshold``, the classic binary plot: 1 (bright) where two states are
    closer than ``threshold`` times the fitted distance range, 0 elsewhere. A fraction of the
    fitted range, rather than a distance in signal units, is one number that carries across data
    sets and, like everything else, is fixed once fitted.

    Parameters
    ----------
    sr : float, optional
        Unused (accepted so every transform takes it).
    dimension, time_delay : int
        Delay embedding (1 and 1: plain samples).
    threshold : float, optional
        Fraction of the fitted distance range in (0, 1), or None for distances.
    n_points : int, optional
        Length each series is pooled to (the picture's larger side by default).
    """

    name = "recurrence"
    scale_percentiles = (0.0, 99.0)

    def __init__(self, *, sr=None, dimension: int = 1, time_delay: int = 1,
                 threshold: float | None = None, n_points: int | None = None):
        super().__init__(sr=sr)
        if dimension is None or time_delay is None:
            raise ParameterError(f"dimension={dimension!r} and time_delay={time_delay!r} must be positive integers")
        Fn._check_positive(dimension=dimension, time_delay=time_delay)
        self.dimension, self.time_delay = dimension, time_delay
        self.threshold = None if threshold is None else _check_fraction("threshold", threshold)
        self.n_points = _check_points(n_points)

    def get_params(self) -> dict:
        return {"dimension": self.dimension, "time_delay": self.time_delay,
                "threshold": self.threshold, "n_points": self.n_points}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = Fn.pool(x, self.n_points or max(self.image_size))
        return Fn.recurrence(pooled, dimension=self.dimension, time_delay=self.time_delay)

    def normalize(self, v, lo, hi):
        u = super().normalize(v, lo, hi)
        if self.threshold is None:
            return u
        return (u <= self.threshold).to(u.dtype)


@register_transform
class Waveform(Transform):
    """The signal drawn as a line at fixed axes: the naive baseline.

    Time runs across the width; amplitude up the height, on the range fitted on the training
    values (0.5th to 99.5th percentile; values beyond clip at the edges). Each column lights the
    span the line covers inside it (the minimum to the maximum of its samples, joined to its
    neighbours), ``thickness`` pixels thick, with anti-aliased ends, which is what a plotting
    library draws for a dense line, without the plotting library.

    Parameters
    ----------
    sr : float, optional
        Unused (accepted so every transform takes it).
    thickness : float
        Line thickness in pixels.
    """

    name = "waveform"
    scale_percentiles = (0.5, 99.5)

    def __init__(self, *, sr=None, thickness: float = 1.0):
        super().__init__(sr=sr)
        self.thickness = _check_fraction("thickness", thickness, low=0.0, high=64.0)

    def get_params(self) -> dict:
        return {"thickness": self.thickness}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def render(self, u: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        height, width = size
        lead, n = u.shape[:-1], int(u.shape[-1])
        k = max(math.ceil(n / width), 2)
        flat = Fn.interpolate(u.reshape(-1, 1, n), width * k)
        # Each column's window reaches one sample into each neighbour, so the line is unbroken.
        high = F.max_pool1d(flat, kernel_size=k + 2, stride=k, padding=1)
        low = -F.max_pool1d(-flat, kernel_size=k + 2, stride=k, padding=1)
        band = Fn.render_band(low.reshape(*lead, width), high.reshape(*lead, width), height,
                              thickness=self.thickness)
        return band


@register_transform
class Segments(Transform):
    """The series cut into overlapping segments stacked as rows: a grey picture of its values.

    Row ``i`` holds samples ``i * hop`` to ``i * hop + segment``, read left to right, the first
    segment at the top; each pixel is a sample's value at the range fitted on the training values
    (0.5th to 99.5th percentile, as the waveform), resized to the picture. A series of ``n``
    samples with the default ``segment`` of about ``sqrt(n)`` and half of it overlapping becomes a
    picture about twice as tall as wide in cells (24 rows of 12 samples for 150), which the network
    then reads for local patterns in time across the width and for how they move from one
    segment to the next down the height. Frozen vision transformers read series this way (TiViT,
    2025); where the last segment would run past the end, the last sample is repeated.

    Parameters
    ----------
    sr : float, optional
        Unused (accepted so every transform takes it).
    segment : int, optional
        Samples per row; ``round(sqrt(n))`` (at least 2) by default.
    overlap : float
        Fraction of a segment shared with the next, in [0, 1).

    Examples
    --------
    >>> Segments(segment=4, overlap=0.5)(torch.arange(10.0).view(1, 1, 10))[0, 0]
    tensor([[0., 1., 2., 3.],
            [2., 3., 4., 5.],
            [4., 5., 6., 7.],
            [6., 7., 8., 9.]])
    >>> Segments().rows_for(150)
    (24, 12, 6)
    """

    name = "segments"
    scale_percentiles = (0.5, 99.5)

    def __init__(self, *, sr=None, segment: int | None = None, overlap: float = 0.5):
        super().__init__(sr=sr)
        self.segment = _check_points(segment, "segment")
        if isinstance(overlap, bool) or not isinstance(overlap, (int, float)) or not 0.0 <= overlap < 1.0:
            raise ParameterError(f"overlap={overlap!r} must be a fraction of a segment in [0, 1)")
        self.overlap = float(overlap)

    def get_params(self) -> dict:
        return {"segment": self.segment, "overlap": self.overlap}

    def rows_for(self, n: int) -> tuple[int, int, int]:
        """``(rows, segment, hop)`` for a series of ``n`` samples."""
        segment = self.segment or max(2, round(math.sqrt(n)))
        hop = max(1, round(segment * (1.0 - self.overlap)))
        rows = 1 + max(0, math.ceil((n - segment) / hop))
        return rows, segment, hop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[-1])
        rows, segment, hop = self.rows_for(n)
        end = (rows - 1) * hop + segment
        if end > n:  # the last segment runs past the end: repeat the last sample
            x = torch.cat([x, x[..., -1:].expand(*x.shape[:-1], end - n)], dim=-1)
        # One gather of fixed indices (a Gather node in ONNX, where unfold's export loses the batch).
        index = torch.arange(rows, device=x.device)[:, None] * hop + torch.arange(segment, device=x.device)
        return x[..., index]

    def render(self, u: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Resize to ``size``; the first segment stays at the top, as a page is read."""
        return Fn.resize(u, size)
