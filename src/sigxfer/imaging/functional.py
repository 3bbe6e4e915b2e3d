"""Pure time–frequency functions on torch tensors.

Every function works on any leading axes: a signal of shape ``(..., n_timepoints)`` gives a result
with the same leading axes, so cases and channels come free. Parameter names follow librosa
(``n_fft``, ``hop_length``, ``win_length``, ``n_mels``, ``fmin``, ``fmax``) and the sample rate is
``sr``. Nothing here holds state: the transforms wrap these functions and the
:class:`~sigxfer.imaging.Imager` applies the fitted scale.

Fourier transforms go through :mod:`._dft` (matrix products), never ``torch.fft``, so that a model
with imaging inside exports to ONNX; results agree with ``torch.fft`` to float rounding. Resizing
and drawing (:func:`resize`, :func:`pool`, :func:`render_curve`, ...) come from :mod:`.drawing`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sigxfer.errors import ParameterError
from sigxfer.imaging import _dft
from sigxfer.imaging._dft import _check_positive, _magnitude  # noqa: F401  (Fn._check_positive is used)
# Picture geometry lives in .drawing; it is re-exported here so one namespace holds every function.
from sigxfer.imaging.wavelets import cwt, morlet_frequencies, scalogram  # noqa: F401  (re-exported)
from sigxfer.imaging.drawing import (  # noqa: F401
    interpolate,
    pool,
    render_band,
    render_curve,
    resize,
    resize_matrix,
)

__all__ = [
    "amplitude_to_db",
    "cwt",
    "gaf",
    "get_window",
    "interpolate",
    "mel_filterbank",
    "melspectrogram",
    "morlet_frequencies",
    "pool",
    "recurrence",
    "render_band",
    "render_curve",
    "resize",
    "resize_matrix",
    "scalogram",
    "spectrogram",
    "spectrum",
    "stft",
]

_WINDOWS = ("hann", "hamming", "blackman", "boxcar")


# ---------------------------------------------------------------------------- helpers
def get_window(window: str, win_length: int, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Periodic window of ``win_length`` samples, as ``scipy.signal.get_window(window, win_length)``.

    Periodic (DFT-even) windows are what scipy and librosa use for spectral analysis.
    """
    if window not in _WINDOWS:
        raise ParameterError(f"window={window!r} is not known; use one of {list(_WINDOWS)}")
    _check_positive(win_length=win_length)
    if window == "boxcar":
        return torch.ones(win_length, dtype=dtype, device=device)
    make = {"hann": torch.hann_window, "hamming": torch.hamming_window,
            "blackman": torch.blackman_window}[window]
    return make(win_length, periodic=True, dtype=dtype, device=device)


def amplitude_to_db(s: torch.Tensor, *, ref: float = 1.0, amin: float = 1e-10,
                    power: float = 1.0) -> torch.Tensor:
    """Decibels against a fixed reference: ``(20 or 10) * log10(max(s, amin) / ref)``.

    ``power=1`` for amplitudes (20 log10), ``power=2`` for powers (10 log10). The reference is a
    constant, never the signal's own maximum, so loudness survives into the image. ``amin`` floors
    silence at -200 dB (amplitude) or -100 dB (power) instead of minus infinity.
    """
    factor = 20.0 if power == 1.0 else 10.0
    return (factor / math.log(10.0)) * torch.log(torch.clamp(s, min=amin) / ref)


# ---------------------------------------------------------------------------- spectra
def spectrum(x: torch.Tensor, *, window: torch.Tensor | None = None, n_fft: int | None = None
             ) -> torch.Tensor:
    """Single-sided amplitude spectrum of the whole signal.

    Parameters
    ----------
    x : Tensor, shape (..., n_timepoints)
    window : Tensor, shape (n_timepoints,), optional
        Taper applied before the DFT (a periodic Hann window by default).
    n_fft : int, optional
        DFT length, at least ``n_timepoints`` (zeros are appended). By default the signal length,
        or for lengths with no small factors (a large prime, say) the next length
        :func:`._dft.good_length` accepts, which samples the same spectrum on a grid at most
        ``2 / sqrt(n)`` finer.

    Returns
    -------
    Tensor, shape (..., n_fft // 2 + 1)
        Amplitude in the units of ``x``: a sine of amplitude A on a bin gives a peak of A (the
        window's coherent gain is divided out and the one-sided bins doubled), so dB values are
        against a fixed physical reference, not against each signal's own maximum. Bin ``k`` is at
        ``k * sr / n_fft`` Hz.
    """
    n = int(x.shape[-1])
    n_fft = _dft.good_length(n) if n_fft is None else n_fft
    if n_fft < n:
        raise ParameterError(f"n_fft={n_fft} must be at least the signal length {n}")
    if window is None:
        window = get_window("hann", n, dtype=x.dtype, device=x.device)
    xw = x * (window / window.sum())
    if n_fft > n:
        xw = F.pad(xw, (0, n_fft - n))
    re, im = _dft.rdft(xw)
    # Double every bin but DC (and Nyquist for even n_fft): the energy of negative frequencies.
    n_bins = n_fft // 2 + 1
    scale = torch.full((n_bins,), 2.0, dtype=x.dtype, device=x.device)
    scale[0] = 1.0
    if n_fft % 2 == 0:
        scale[-1] = 1.0
    return _magnitude(re, im, 1.0) * scale


def _stft_parts(x, *, n_fft, hop_length, win_length, window, center):
    hop_length = n_fft // 4 if hop_length is None else hop_length
    win_length = n_fft if win_length is None else win_length
    _check_positive(n_fft=n_fft, hop_length=hop_length, win_length=win_length)
    if win_length > n_fft:
        raise ParameterError(f"win_length={win_length} must not exceed n_fft={n_fft}")
    n = int(x.shape[-1])
    if n < n_fft:
        fit = 1 << (max(n, 1).bit_length() - 1)
        raise ParameterError(
            f"signals of {n} samples are shorter than n_fft={n_fft}; pass n_fft={fit} or less, "
            "or longer signals"
        )
    if window is None:
        window = get_window("hann", win_length, dtype=x.dtype, device=x.device)
    elif window.shape != (win_length,):
        raise ParameterError(f"window has shape {tuple(window.shape)}; it must hold win_length={win_length} values")
    flat = x.reshape(-1, 1, n)
    if center:
        # boundary='zeros' pads half a window each side; padded=True then appends zeros so the
        # last samples fall in a whole frame.
        half = win_length // 2
        extra = (-(n + 2 * half - win_length)) % hop_length
        flat = F.pad(flat, (half, half + extra))
    # Windowed DFT of every frame as one strided convolution (it exports to ONNX, unlike
    # unfold after a pad). A frame shorter than n_fft is zero-padded at its end, as scipy does:
    # its DFT only needs the first win_length rows of the n_fft-point basis.
    n_bins = n_fft // 2 + 1
    c, s = _dft._cos_sin(win_length, n_bins, n_fft, x.dtype, x.device)
    w = (window / window.sum()).unsqueeze(-1)
    kernel = torch.cat([c * w, -s * w], dim=1).T.unsqueeze(1)  # (2 bins, 1, win_length)
    out = F.conv1d(flat, kernel, stride=hop_length)  # (rows, 2 bins, n_frames)
    out = out.reshape(*x.shape[:-1], 2 * n_bins, int(out.shape[-1]))
    return out[..., :n_bins, :], out[..., n_bins:, :]


def stft(x: torch.Tensor, *, n_fft: int, hop_length: int | None = None,
         win_length: int | None = None, window: torch.Tensor | None = None,
         center: bool = True) -> torch.Tensor:
    """Short-time Fourier transform, equal to ``scipy.signal.stft`` (its frames and scaling).

    With ``center=True`` this is ``scipy.signal.stft(x, window=w, nperseg=win_length,
    noverlap=win_length - hop_length, nfft=n_fft)`` with its defaults ``boundary='zeros',
    padded=True, scaling='spectrum'``: ``win_length // 2`` zeros on each side, zeros at the end so
    the last samples fill a frame, each frame divided by the window's sum. ``center=False`` is
    ``boundary=None, padded=False``: only the frames that fit.

    Parameters
    ----------
    x : Tensor, shape (..., n_timepoints)
        At least ``n_fft`` samples: shorter signals raise (a window longer than the signal says
        nothing a spectrum does not).
    n_fft : int
        DFT length; frames shorter than it (``win_length < n_fft``) get zeros appended.
    hop_length : int, optional
        Samples between frames; ``n_fft // 4`` by default, as librosa.
    win_length : int, optional
        Window length; ``n_fft`` by default.
    window : Tensor, shape (win_length,), optional
        Periodic Hann by default.
    center : bool
        See above.

    Returns
    -------
    Tensor, complex, shape (..., n_fft // 2 + 1, n_frames)
        Frame ``t`` is centred on sample ``t * hop_length`` (``center=True``).
    """
    re, im = _stft_parts(x, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                         window=window, center=center)
    return torch.complex(re, im)


def spectrogram(x: torch.Tensor, *, power: float = 1.0, **stft_params) -> torch.Tensor:
    """``|stft(x)| ** power``: magnitude (``power=1``) or power (``power=2``), shape (..., F, n_frames).

    Keyword arguments are those of :func:`stft`; the complex values are never formed, so this
    exports to ONNX.
    """
    params = {"hop_length": None, "win_length": None, "window": None, "center": True, **stft_params}
    re, im = _stft_parts(x, **params)
    return _magnitude(re, im, power)


# ---------------------------------------------------------------------------- mel
def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear (3 mel per 200 Hz) below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    linear = f / (200.0 / 3.0)
    log_step = math.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / log_step, linear)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    log_step = math.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(log_step * (m - 15.0)), m * (200.0 / 3.0))


def mel_filterbank(*, sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
                   fmax: float | None = None, dtype=torch.float32, device=None) -> torch.Tensor:
    """Triangular mel filters, shape (n_mels, n_fft // 2 + 1).

    Slaney's mel scale and Slaney's area normalisation (each triangle is scaled by
    ``2 / (upper edge - lower edge)`` in Hz): librosa's defaults (``htk=False, norm='slaney'``), so
    ``mel_filterbank(...)`` equals ``librosa.filters.mel(...)`` to float rounding.
    """
    _check_positive(n_fft=n_fft, n_mels=n_mels)
    fmax = sr / 2.0 if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= sr / 2.0:
        raise ParameterError(f"need 0 <= fmin < fmax <= sr/2 = {sr / 2:g} Hz, got fmin={fmin}, fmax={fmax}")
    bin_hz = np.linspace(0.0, sr / 2.0, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    width = np.diff(edges)
    # Distance from each edge to each bin; the triangle is the smaller of the rising and falling
    # ramps, clipped at zero.
    ramps = edges[:, None] - bin_hz[None, :]
    rising = -ramps[:-2] / width[:-1, None]
    falling = ramps[2:] / width[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return torch.as_tensor(weights, dtype=dtype, device=device)


def melspectrogram(x: torch.Tensor, *, sr: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
                   fmax: float | None = None, power: float = 2.0, filterbank: torch.Tensor | None = None,
                   **stft_params) -> torch.Tensor:
    """Mel spectrogram: ``mel_filterbank @ spectrogram(x, power=power)``, shape (..., n_mels, n_frames).

    The STFT is :func:`stft`'s (scaled by the window's sum, as scipy), not librosa's unscaled one:
    ``melspectrogram(x, ...)`` equals ``librosa.feature.melspectrogram(y=x, ..., power=2,
    center=True, pad_mode='constant') / window.sum() ** 2`` on the frames both compute (librosa
    has no frame for the zeros scipy appends when ``hop_length`` does not divide the length).
    The scaling makes a sine of amplitude A give the same power at every ``n_fft``.
    """
    if filterbank is None:
        filterbank = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                                    dtype=x.dtype, device=x.device)
    s = spectrogram(x, n_fft=n_fft, power=power, **stft_params)
    return filterbank @ s


# ---------------------------------------------------------------------------- encodings
def gaf(x: torch.Tensor, *, method: str = "summation", vmin: float | torch.Tensor | None = None,
        vmax: float | torch.Tensor | None = None) -> torch.Tensor:
    """Gramian angular field of each series, shape (..., n, n), values in [-1, 1].

    Each series is mapped to ``[-1, 1]``, read as ``cos(phi)``, and the field is
    ``cos(phi_i + phi_j)`` (``method="summation"``, GASF) or ``sin(phi_i - phi_j)``
    (``"difference"``, GADF), Wang and Oates' encodings.

    Parameters
    ----------
    x : Tensor, shape (..., n)
        Keep ``n`` modest (see :func:`pool`): the result holds ``n ** 2`` values per series.
    method : {"summation", "difference"}
    vmin, vmax : float, optional
        Values mapped to -1 and 1 (values outside are clipped). By default each series' own minimum
        and maximum, the textbook definition; a constant series maps to -1 (phi = pi).
    """
    if method not in ("summation", "difference"):
        raise ParameterError(f"method={method!r} is not known; use 'summation' or 'difference'")
    if (vmin is None) != (vmax is None):
        raise ParameterError("give both vmin and vmax, or neither (each series' own range)")
    if vmin is None:
        vmin = x.amin(dim=-1, keepdim=True)
        vmax = x.amax(dim=-1, keepdim=True)
    span = torch.clamp(torch.as_tensor(vmax, dtype=x.dtype) - vmin, min=torch.finfo(x.dtype).tiny)
    c = torch.clamp(2.0 * (x - vmin) / span - 1.0, -1.0, 1.0)  # cos(phi)
    s = torch.sqrt(torch.clamp(1.0 - c * c, min=0.0))  # sin(phi), phi in [0, pi]
    ci, cj = c.unsqueeze(-1), c.unsqueeze(-2)
    si, sj = s.unsqueeze(-1), s.unsqueeze(-2)
    if method == "summation":
        return ci * cj - si * sj
    return si * cj - ci * sj


def recurrence(x: torch.Tensor, *, dimension: int = 1, time_delay: int = 1,
               threshold: float | None = None) -> torch.Tensor:
    """Recurrence plot: distances between the (delay-embedded) states of each series.

    Parameters
    ----------
    x : Tensor, shape (..., n)
    dimension, time_delay : int
        State ``i`` is ``(x[i], x[i + time_delay], ..., x[i + (dimension - 1) * time_delay])``;
        ``dimension=1`` compares single samples.
    threshold : float, optional
        ``None``: the Euclidean distance between states (the unthresholded plot). A number: 1 where
        the distance is at most ``threshold`` (in the units of ``x``), 0 elsewhere.

    Returns
    -------
    Tensor, shape (..., m, m) with ``m = n - (dimension - 1) * time_delay``
    """
    _check_positive(dimension=dimension, time_delay=time_delay)
    m = int(x.shape[-1]) - (dimension - 1) * time_delay
    if m < 1:
        raise ParameterError(
            f"series of {x.shape[-1]} points are too short for dimension={dimension} and "
            f"time_delay={time_delay}; lower them"
        )
    sq = None
    for k in range(dimension):  # a loop over a parameter, not over data
        part = x[..., k * time_delay:k * time_delay + m]
        diff = part.unsqueeze(-1) - part.unsqueeze(-2)
        sq = diff * diff if sq is None else sq + diff * diff
    dist = torch.sqrt(sq)
    if threshold is None:
        return dist
    return (dist <= threshold).to(x.dtype)
