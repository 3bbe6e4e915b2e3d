"""Transforms: signal -> raw values, raw values -> [0, 1] at the fitted scale -> picture.

A transform is a small ``nn.Module`` around the pure functions of :mod:`.functional`. It splits
imaging in three so that the :class:`~sigxfer.imaging.Imager` can put one global, fitted scale in
the middle:

``forward(x)``
    (N, C, T) signals -> raw values in physical units, the values the scale is fitted on: dB for
    spectra, shape (N, C, F, T') for maps or (N, C, F) for curves.
``normalize(v, lo, hi)``
    raw values -> [0, 1] at the fitted scale ``(lo, hi)``; a straight line clipped at both ends
    unless a transform needs more (the Gramian angular field scales its input, not its output).
``render(u, size)``
    values in [0, 1] -> pictures (N, C, H, W) in [0, 1].

A transform with a ``value_range`` has a scale known in advance (a Gramian field lies in [-1, 1]);
``Imager.fit`` uses it instead of percentiles. To add a transform, subclass :class:`Transform`, set
``name`` and register it with :func:`register_transform`. Spectral transforms live here, the
time-series encodings in :mod:`.encodings`.
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from sigxfer.errors import ParameterError
from sigxfer.imaging import _dft
from sigxfer.imaging import functional as Fn

_TRANSFORMS: dict[str, type[Transform]] = {}
#: Sample rates a transform accepts, in Hz.
_MIN_SR, _MAX_SR = 1e-9, 1e12
#: Most scalogram rows per octave (far above any use; 12 is usual).
_MAX_VOICES = 1024
#: Most mel filter-bank entries, n_mels * (n_fft // 2 + 1): 256 MB in float32.
_MAX_FILTERBANK = 1 << 26


def register_transform(cls: type[Transform]) -> type[Transform]:
    """Class decorator adding a transform under ``cls.name``."""
    _TRANSFORMS[cls.name] = cls
    return cls


def list_transforms() -> list[str]:
    """Names accepted by ``imaging=`` (and by :class:`~sigxfer.imaging.Imager`)."""
    return sorted(_TRANSFORMS)


def create_transform(name: str, *, sr: float | None = None, **params) -> Transform:
    """Build the transform called ``name`` with its parameters (unknown names raise)."""
    if name not in _TRANSFORMS:
        raise ParameterError(f"transform={name!r} is not known; use one of {list_transforms()}")
    cls = _TRANSFORMS[name]
    allowed = set(inspect.signature(cls.__init__).parameters) - {"self", "sr"}
    unknown = set(params) - allowed
    if unknown:
        raise ParameterError(
            f"transform {name!r} takes no parameter {sorted(unknown)[0]!r}; it takes {sorted(allowed)}"
        )
    return cls(sr=sr, **params)


def _check_fraction(name: str, value, *, low: float = 0.0, high: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
        raise ParameterError(f"{name}={value!r} must be a number between {low:g} and {high:g}")
    return float(value)


def _check_hz(owner: str, *, optional=(), **values) -> None:
    """Frequencies must be finite numbers (None only where ``optional``), before any arithmetic."""
    for key, value in values.items():
        if value is None and key in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParameterError(f"{owner}: {key}={value!r:.40} must be a frequency in Hz (a finite number)")


def _check_given(**values) -> None:
    """Integer parameters that have a default must not be given as None."""
    for key, value in values.items():
        if value is None:
            raise ParameterError(f"{key}=None must be a positive integer; leave it out for the default")


class Transform(nn.Module):
    """Base class: see the module docstring for the contract."""

    name: ClassVar[str] = ""
    #: Percentiles of the training values that map to 0 and 1 (see ``Imager.fit``).
    scale_percentiles: ClassVar[tuple[float, float]] = (1.0, 99.9)

    def __init__(self, *, sr: float | None = None):
        super().__init__()
        if sr is not None and (isinstance(sr, bool) or not isinstance(sr, (int, float))
                               or not math.isfinite(sr) or sr <= 0):
            raise ParameterError(f"sr={sr!r} must be a positive number of samples per second")
        if sr is not None and not _MIN_SR <= sr <= _MAX_SR:
            # Beyond these, bin positions (f * n_fft / sr) overflow or underflow a float.
            raise ParameterError(f"sr={sr!r} must be between {_MIN_SR:g} and {_MAX_SR:g} samples per second")
        self.sr = None if sr is None else float(sr)
        #: Fixed (low, high) of the raw values, when known without data; else None (fitted).
        self.value_range: tuple[float, float] | None = None
        #: Size of the pictures the Imager will ask for; set by the Imager.
        self.image_size: tuple[int, int] = (224, 224)

    def get_params(self) -> dict:
        """Parameters as plain JSON values; ``create_transform(name, sr=sr, **params)`` rebuilds."""
        raise NotImplementedError

    def normalize(self, v: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
        """Raw values -> [0, 1]: ``lo`` to 0, ``hi`` to 1, clipped outside."""
        return ((v - lo) / (hi - lo)).clamp(0.0, 1.0)

    def render(self, u: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Default picture of a map: row 0 of the map (low frequencies) at the bottom, resized."""
        return Fn.resize(u, size, flip=True)

    # Frequency cropping shared by the spectral transforms.
    def _check_band(self, fmin: float, fmax: float | None) -> tuple[float, float | None]:
        _check_hz(self.name, fmin=fmin, fmax=fmax, optional=("fmax",))
        if (fmin or fmax is not None) and self.sr is None:
            raise ParameterError(f"{self.name}: fmin/fmax are in Hz and need the sample rate; pass sr=")
        fmin = float(fmin)
        fmax = None if fmax is None else float(fmax)
        if self.sr is not None:
            top = self.sr / 2 if fmax is None else fmax
            if not 0 <= fmin < top <= self.sr / 2:
                raise ParameterError(
                    f"{self.name}: need 0 <= fmin < fmax <= sr/2 = {self.sr / 2:g} Hz, got fmin={fmin:g}, fmax={fmax}"
                )
        return fmin, fmax

    def _bin_range(self, n_bins: int, n_fft: int, fmin: float, fmax: float | None) -> tuple[int, int]:
        if self.sr is None:
            return 0, n_bins
        fmax = self.sr / 2 if fmax is None else fmax
        lo = int(math.floor(fmin * n_fft / self.sr))
        hi = int(math.ceil(fmax * n_fft / self.sr)) + 1
        return lo, min(hi, n_bins)


@register_transform
class Spectrum(Transform):
    """FFT amplitude spectrum of the whole signal, drawn as a filled curve at fixed axes.

    Frequency runs across the width (``fmin`` to ``fmax``), amplitude up the height on the fitted
    scale (dB against 1 unit when ``db=True``). One colour: seed 000 warns that colour would let a
    network learn the plot's styling instead of the frequency content. Computed and drawn directly,
    with no plotting library: each column shows the highest bin that falls in it, so a narrow peak
    is never lost between columns, and its top edge is anti-aliased.

    Parameters
    ----------
    sr : float, optional
        Sample rate in Hz; needed only for ``fmin``/``fmax``.
    db : bool
        Amplitude in dB (``20 log10(A / 1)``) rather than linear.
    fmin, fmax : float
        Frequency range shown, in Hz (the whole band by default).
    window : str
        Taper before the DFT (periodic Hann by default: a plain boxcar would smear a tone that falls
        between bins over the whole band).
    """

    name = "spectrum"

    def __init__(self, *, sr=None, db: bool = True, fmin: float = 0.0, fmax: float | None = None,
                 window: str = "hann"):
        super().__init__(sr=sr)
        Fn.get_window(window, 4)  # validates the name early
        self.db, self.window = bool(db), window
        self.fmin, self.fmax = self._check_band(fmin, fmax)

    def get_params(self) -> dict:
        return {"db": self.db, "fmin": self.fmin, "fmax": self.fmax, "window": self.window}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[-1])
        window = Fn.get_window(self.window, n, dtype=x.dtype, device=x.device)
        n_fft = _dft.good_length(n)
        mag = Fn.spectrum(x, window=window, n_fft=n_fft)
        lo, hi = self._bin_range(int(mag.shape[-1]), n_fft, self.fmin, self.fmax)
        mag = mag[..., lo:hi]
        return Fn.amplitude_to_db(mag) if self.db else mag

    def render(self, u: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        height, width = size
        lead, n_bins = u.shape[:-1], int(u.shape[-1])
        flat = u.reshape(-1, 1, n_bins)
        if n_bins > width:
            # Keep narrow peaks: the max over the bins that fall in each column, not a sample.
            k = math.ceil(n_bins / width)
            flat = F.max_pool1d(Fn.interpolate(flat, width * k), kernel_size=k, stride=k)
        elif n_bins < width:
            flat = Fn.interpolate(flat, width)
        return Fn.render_curve(flat.reshape(*lead, width), height)


@register_transform
class Spectrogram(Transform):
    """STFT magnitude in dB against a fixed reference of 1 unit, framed and scaled as ``scipy.signal.stft``.

    Parameters
    ----------
    sr : float, optional
        Sample rate in Hz; needed only for ``fmin``/``fmax``.
    n_fft : int
        DFT length (256 by default, a common choice for signals of a few thousand samples).
        Signals must be at least this long.
    hop_length : int, optional
        ``n_fft // 4`` by default, as librosa.
    win_length : int, optional
        ``n_fft`` by default.
    window : str
        Periodic Hann by default, as scipy and librosa.
    fmin, fmax : float
        Frequency range kept, in Hz.
    db : bool
        dB (default) or linear magnitude.
    """

    name = "spectrogram"
    scale_percentiles = (5.0, 99.9)

    def __init__(self, *, sr=None, n_fft: int = 256, hop_length: int | None = None,
                 win_length: int | None = None, window: str = "hann", fmin: float = 0.0,
                 fmax: float | None = None, db: bool = True):
        super().__init__(sr=sr)
        _check_given(n_fft=n_fft)
        Fn._check_positive(n_fft=n_fft, hop_length=hop_length, win_length=win_length)
        win_length = win_length or n_fft
        if win_length > n_fft:
            raise ParameterError(f"win_length={win_length} must not exceed n_fft={n_fft}")
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length or n_fft // 4, win_length
        if self.hop_length < 1:
            raise ParameterError(f"n_fft={n_fft} is too small for the default hop_length n_fft // 4; pass hop_length=")
        self.window_name, self.db = window, bool(db)
        self.fmin, self.fmax = self._check_band(fmin, fmax)
        self.register_buffer("window", Fn.get_window(window, win_length), persistent=False)
        self._bins = self._bin_range(n_fft // 2 + 1, n_fft, self.fmin, self.fmax)

    def get_params(self) -> dict:
        return {"n_fft": self.n_fft, "hop_length": self.hop_length, "win_length": self.win_length,
                "window": self.window_name, "fmin": self.fmin, "fmax": self.fmax, "db": self.db}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = Fn.spectrogram(x, n_fft=self.n_fft, hop_length=self.hop_length,
                           win_length=self.win_length, window=self.window.to(x.dtype))
        s = s[..., self._bins[0]:self._bins[1], :]
        return Fn.amplitude_to_db(s) if self.db else s


@register_transform
class Mel(Transform):
    """Log-mel spectrogram: power in mel bands, in dB against a fixed reference of 1 unit squared.

    Mel scale and filter normalisation are Slaney's (librosa's defaults ``htk=False,
    norm='slaney'``). The power spectrogram under the filters is :func:`.functional.stft`'s, scaled
    by the window's sum as scipy does: librosa's ``melspectrogram(power=2)`` divided by
    ``window.sum() ** 2`` (see :func:`.functional.melspectrogram`).

    Parameters
    ----------
    sr : float
        Sample rate in Hz (required: the mel scale is in Hz).
    n_fft : int
        DFT length (512 by default; signals must be at least this long).
    hop_length, win_length, window
        As :class:`Spectrogram`.
    n_mels : int
        Number of mel bands (64 by default).
    fmin, fmax : float
        Lowest and highest band edges in Hz (0 and ``sr / 2`` by default, as librosa).
    db : bool
        dB (``10 log10`` of power, default) or linear power.
    """

    name = "mel"
    scale_percentiles = (5.0, 99.9)

    def __init__(self, *, sr=None, n_fft: int = 512, hop_length: int | None = None,
                 win_length: int | None = None, window: str = "hann", n_mels: int = 64,
                 fmin: float = 0.0, fmax: float | None = None, db: bool = True):
        super().__init__(sr=sr)
        if self.sr is None:
            raise ParameterError("transform 'mel' needs the sample rate in Hz; pass sr= (or use 'spectrogram')")
        _check_given(n_fft=n_fft, n_mels=n_mels)
        Fn._check_positive(n_fft=n_fft, hop_length=hop_length, win_length=win_length, n_mels=n_mels)
        win_length = win_length or n_fft
        if win_length > n_fft:
            raise ParameterError(f"win_length={win_length} must not exceed n_fft={n_fft}")
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length or max(n_fft // 4, 1), win_length
        self.window_name, self.n_mels, self.db = window, n_mels, bool(db)
        self.fmin, self.fmax = self._check_band(fmin, fmax)
        if n_mels * (n_fft // 2 + 1) > _MAX_FILTERBANK:  # checked before the bank is built
            raise ParameterError(f"n_mels={n_mels} with n_fft={n_fft} needs a filter bank of {n_mels * (n_fft // 2 + 1):.3g} "
                                 f"values; lower n_mels (only {n_fft // 2 + 1} DFT bins can fill a band)")
        self.register_buffer("window", Fn.get_window(window, win_length), persistent=False)
        fb = Fn.mel_filterbank(sr=self.sr, n_fft=n_fft, n_mels=n_mels, fmin=self.fmin, fmax=self.fmax)
        empty = int((fb.amax(dim=1) == 0).sum())
        if empty:
            warnings.warn(f"mel: {empty} of {n_mels} mel bands fall between DFT bins and stay empty; "
                          f"raise n_fft (now {n_fft}) or lower n_mels", stacklevel=3)
        self.register_buffer("filterbank", fb, persistent=False)

    def get_params(self) -> dict:
        return {"n_fft": self.n_fft, "hop_length": self.hop_length, "win_length": self.win_length,
                "window": self.window_name, "n_mels": self.n_mels, "fmin": self.fmin,
                "fmax": self.fmax, "db": self.db}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = Fn.melspectrogram(x, sr=self.sr, n_fft=self.n_fft, hop_length=self.hop_length,
                              win_length=self.win_length, window=self.window.to(x.dtype),
                              filterbank=self.filterbank.to(x.dtype), power=2.0)
        return Fn.amplitude_to_db(s, power=2.0) if self.db else s


@register_transform
class Scalogram(Transform):
    """Continuous wavelet transform magnitude, analytic Morlet wavelet, log-spaced frequencies.

    Computed in the frequency domain (one DFT of the signal, one inverse DFT per row; see
    :func:`.functional.cwt`). Rows run from ``fmin`` (bottom) to ``fmax`` (top),
    ``voices_per_octave`` rows per octave; a sine of amplitude A gives ``|W| = A`` on its own row.

    Each row is evaluated every ``d``-th sample, ``d`` the largest power of two that still leaves
    at least two samples per image column; those samples are exact and the picture averages them,
    so the cost follows the picture's width rather than the signal's length.

    Parameters
    ----------
    sr : float, optional
        Sample rate in Hz; without it frequencies are in cycles per sample.
    fmin, fmax : float, optional
        Lowest and highest row in Hz. ``fmax`` defaults to the Nyquist frequency; ``fmin`` to the
        lowest frequency whose wavelet fits in the signal (see
        :func:`.functional.morlet_frequencies`).
    voices_per_octave : int
        Rows per octave (12 by default).
    w0 : float
        Morlet's parameter in radians (6 by default); larger is sharper in frequency, blurrier in
        time.
    db : bool
        ``20 log10 |W|`` against 1 unit (default) or linear ``|W|``.
    """

    name = "scalogram"
    scale_percentiles = (5.0, 99.9)

    def __init__(self, *, sr=None, fmin: float | None = None, fmax: float | None = None,
                 voices_per_octave: int = 12, w0: float = 6.0, db: bool = True):
        super().__init__(sr=sr)
        if (fmin is not None or fmax is not None) and self.sr is None:
            raise ParameterError("scalogram: fmin/fmax are in Hz and need the sample rate; pass sr=")
        _check_given(voices_per_octave=voices_per_octave)
        _check_hz("scalogram", fmin=fmin, fmax=fmax, optional=("fmin", "fmax"))
        Fn._check_positive(voices_per_octave=voices_per_octave)
        if voices_per_octave > _MAX_VOICES:  # each voice is a row: millions of rows fill any memory
            raise ParameterError(f"voices_per_octave={voices_per_octave} must be at most {_MAX_VOICES} (12 is usual)")
        if isinstance(w0, bool) or not isinstance(w0, (int, float)) or not math.isfinite(w0) or w0 <= 0:
            raise ParameterError(f"w0={w0!r} must be a positive number (6 is the usual Morlet)")
        self.fmin = None if fmin is None else float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.voices_per_octave, self.w0, self.db = voices_per_octave, float(w0), bool(db)
        top = self.sr / 2 if self.fmax is None else self.fmax
        low = top if self.fmin is None else self.fmin
        if self.sr is not None and not 0 < low <= top <= self.sr / 2:
            raise ParameterError(
                f"scalogram: need 0 < fmin <= fmax <= sr/2 = {self.sr / 2:g} Hz, got fmin={fmin}, fmax={fmax}"
            )

    def get_params(self) -> dict:
        return {"fmin": self.fmin, "fmax": self.fmax, "voices_per_octave": self.voices_per_octave,
                "w0": self.w0, "db": self.db}

    def frequencies(self, n_timepoints: int):
        """Row frequencies in Hz (cycles per sample without ``sr``) for signals of this length."""
        return Fn.morlet_frequencies(n_timepoints=n_timepoints, sr=self.sr or 1.0, fmin=self.fmin,
                                     fmax=self.fmax, voices_per_octave=self.voices_per_octave,
                                     w0=self.w0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = int(x.shape[-1])
        decimation = 1
        while -(-n // (2 * decimation)) >= 2 * self.image_size[1]:
            decimation *= 2
        s = Fn.scalogram(x, freqs=self.frequencies(n), sr=self.sr or 1.0, w0=self.w0,
                         decimation=decimation)
        return Fn.amplitude_to_db(s) if self.db else s
