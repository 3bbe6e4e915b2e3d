"""The continuous wavelet transform: analytic Morlet wavelets at log-spaced frequencies, computed in
the frequency domain with the DFT-as-matrix-product of :mod:`._dft` (so it exports to ONNX).
Re-exported by :mod:`.functional`, where the other signal maths lives.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sigxfer.errors import ParameterError
from sigxfer.imaging import _dft
from sigxfer.imaging._dft import _check_positive, _magnitude

def morlet_frequencies(*, n_timepoints: int, sr: float = 1.0, fmin: float | None = None,
                       fmax: float | None = None, voices_per_octave: int = 12, w0: float = 6.0
                       ) -> np.ndarray:
    """Centre frequencies of a scalogram's rows in Hz, ascending, ``voices_per_octave`` per octave.

    ``fmax`` defaults to the Nyquist frequency ``sr / 2``. ``fmin`` defaults to the lowest
    frequency whose wavelet fits in the signal: four standard deviations of its Gaussian envelope
    (``w0 / (2 pi f)`` seconds each) within ``n_timepoints / sr`` seconds. Rows are
    ``fmax * 2 ** (-j / voices_per_octave)`` for ``j = 0, 1, ...`` down to ``fmin``: anchored at
    the top, so rows sit at the same frequencies whatever the signal length.
    """
    _check_positive(voices_per_octave=voices_per_octave, n_timepoints=n_timepoints)
    if not (math.isfinite(w0) and w0 > 0):
        raise ParameterError(f"w0={w0!r} must be a positive number (6 is the usual Morlet)")
    fmax = sr / 2.0 if fmax is None else float(fmax)
    fmin = 4.0 * w0 * sr / (2.0 * math.pi * n_timepoints) if fmin is None else float(fmin)
    fmin = min(fmin, fmax)  # very short signals: a single row at fmax
    if not 0.0 < fmin <= fmax <= sr / 2.0:
        raise ParameterError(f"need 0 < fmin <= fmax <= sr/2 = {sr / 2:g} Hz, got fmin={fmin:g}, fmax={fmax:g}")
    n_rows = int(math.floor(voices_per_octave * math.log2(fmax / fmin) + 1e-9)) + 1
    return fmax * 2.0 ** (-np.arange(n_rows)[::-1] / voices_per_octave)


# Morlet responses below this are dropped (exp(-x**2/2) < 1e-9 beyond 6.4 standard deviations):
# far below float32 resolution, and skipping them skips most of the work for low rows.
_BANK_FLOOR = 1e-9


def _morlet_bank(n_fft: int, length: int, freqs: tuple, sr: float, w0: float, dtype, device):
    """Analytic Morlet responses on the one-sided DFT grid, folded for :func:`._dft.dft_blocks`.

    Returns ``(segments, bank)``: the indices ``s`` of the ``length``-bin segments where some row
    responds, and the responses there, shape (len(segments), n1, 1, n_freqs, n2), with bin
    ``s * length + n2 * t1 + t2`` of row ``f`` at ``[s, t1, 0, f, t2]`` (``length = n1 * n2``).
    """

    def build():
        f = np.arange(n_fft // 2 + 1) * (sr / n_fft)
        fk = np.asarray(freqs, dtype=np.float64)[:, None]
        bank = np.exp(-0.5 * (w0 * (f[None, :] / fk - 1.0)) ** 2)
        bank[bank < _BANK_FLOOR] = 0.0
        # Analytic: positive frequencies count twice (the negative ones are dropped), so a sine of
        # amplitude A gives |W| = A at its own frequency; DC and Nyquist have no mirror image
        # (the convention of scipy.signal.hilbert).
        bank[:, 1:] *= 2.0
        if n_fft % 2 == 0:
            bank[:, -1] /= 2.0
        n1, n2 = _dft.split(length) or (1, length)
        n_seg = -(-bank.shape[1] // length)
        bank = np.pad(bank, ((0, 0), (0, n_seg * length - bank.shape[1])))
        bank = bank.reshape(len(freqs), n_seg, n1, n2).transpose(1, 2, 0, 3)[:, :, None]
        segments = [s for s in range(n_seg) if bank[s].any()]
        bank = torch.as_tensor(np.ascontiguousarray(bank[segments]), dtype=dtype, device=device)
        return bank, torch.as_tensor(segments)

    bank, segments = _dft._cached(("morlet", n_fft, length, freqs, sr, w0, dtype, str(device)), build)
    return segments.tolist(), bank


def _octaves(freqs: tuple) -> list[tuple]:
    """Split ascending frequencies into runs spanning at most an octave each."""
    groups, start = [], 0
    for i, f in enumerate(freqs):
        if f > 2.0 * freqs[start] * (1 + 1e-9):
            groups.append(freqs[start:i])
            start = i
    groups.append(freqs[start:])
    return groups


def _cwt_parts(x, *, freqs, sr, w0, decimation):
    freqs = tuple(float(f) for f in np.asarray(freqs, dtype=np.float64).ravel())
    if not freqs or not all(0.0 < f <= sr / 2.0 for f in freqs):
        raise ParameterError(f"freqs must be non-empty and within (0, sr/2 = {sr / 2:g}] Hz")
    if list(freqs) != sorted(freqs):
        raise ParameterError("freqs must be in ascending order")
    _check_positive(decimation=decimation)
    # Each octave gets its own transform length: wide (low) wavelets need a long zero tail to
    # keep the circular convolution from wrapping, narrow ones do not, so the high octaves,
    # which touch most of the spectrum, run on short transforms.
    lead = x.shape[:-1]
    flat = x.reshape(-1, int(x.shape[-1]))
    parts = [_cwt_octave(flat, band, sr, w0, decimation) for band in _octaves(freqs)]
    w = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)  # (rows, n_freqs, 2, n_out)
    shape = (*lead, len(freqs), int(w.shape[-1]))
    return w[:, :, 0].reshape(shape), w[:, :, 1].reshape(shape)


#: A wavelet may outlast the signal by this factor; beyond it the padded transform would mostly hold
#: zeros, and its length (and memory) would grow without bound as fmin falls.
_MAX_PAD_FACTOR = 64


def _cwt_octave(x, freqs, sr, w0, decimation):
    n = int(x.shape[-1])
    # Zeros after the signal, five envelope standard deviations of the widest wavelet, keep the
    # circular convolution from wrapping (exp(-12.5) ~ 4e-6): the result is that of a linear
    # convolution of the zero-extended signal, as pywt computes it.
    sigma = w0 * sr / (2.0 * math.pi * freqs[0])
    if not 5.0 * sigma <= _MAX_PAD_FACTOR * n:  # also refuses an infinite or NaN width
        raise ParameterError(
            f"scalogram: the wavelet at {freqs[0]:.3g} Hz spans about {5.0 * sigma:.3g} samples, far longer than "
            f"the {n}-sample signals; raise fmin (by default the lowest that fits) or lower w0={w0:g}"
        )
    pad = math.ceil(5.0 * sigma)
    if math.exp(-0.5 * (w0 * (sr / 2.0 / freqs[-1] - 1.0)) ** 2) > _BANK_FLOOR:
        # The sampling cuts this octave's response off at the Nyquist frequency; the cut gives
        # the wavelet a slowly decaying (1 / t) tail, so pad by the whole signal: what still
        # wraps is the tail beyond n samples (measured: under 1.5% of a row's peak for n >= 300,
        # against a 2 ** 18-point reference).
        pad = max(pad, n)
    length = _dft.good_length(-(-(n + pad) // decimation))
    n_fft = length * decimation
    re, im = _dft.rdft(F.pad(x, (0, n_fft - n)))
    segments, bank = _morlet_bank(n_fft, length, freqs, sr, w0, x.dtype, x.device)
    n1, n2 = bank.shape[1], bank.shape[-1]
    # Sampling the output every `decimation` samples folds the spectrum onto `length` bins (bins
    # k and k + length alias); the samples themselves stay exact. The products are written
    # straight into the block layout of the inverse DFT, conjugated (the inverse transform is
    # the conjugate of the forward one of the conjugate).
    n_bins = (segments[-1] + 1) * length
    spec = torch.stack([re, -im])[..., :n_bins]  # (2, rows, bins)
    spec = F.pad(spec, (0, n_bins - int(spec.shape[-1]))).reshape(2, -1, n_bins // length, n1, n2)
    spec = spec.permute(2, 0, 3, 1, 4).unsqueeze(-2)  # (segments, 2, n1, rows, 1, n2)
    z = spec[segments[0]] * bank[0]
    for i, s in enumerate(segments[1:], start=1):  # a loop over sizes, not over data
        z = torch.addcmul(z, spec[s], bank[i])
    n_out = -(-n // decimation)
    if n1 == 1:
        out = torch.cat(_dft.dft(z[0, 0].reshape(-1, length), z[1, 0].reshape(-1, length), n_out=n_out),
                        dim=-1)
    else:
        out = _dft.dft_blocks(z.reshape(2, n1, -1, n2), n_out)
    # Undo the conjugation and the inverse transform's missing 1/n_fft.
    out = out.reshape(-1, len(freqs), 2, n_out)
    sign = torch.tensor([1.0, -1.0], dtype=x.dtype, device=x.device).view(1, 1, 2, 1)
    return out * (sign / n_fft)


def cwt(x: torch.Tensor, *, freqs, sr: float = 1.0, w0: float = 6.0, decimation: int = 1
        ) -> torch.Tensor:
    """Continuous wavelet transform with an analytic Morlet wavelet, computed in the frequency domain.

    The wavelet at centre frequency ``f_k`` has the frequency response
    ``2 exp(-(w0 (f / f_k - 1)) ** 2 / 2)`` for ``f > 0`` and 0 for ``f < 0``: a Gaussian envelope
    with standard deviation ``w0 / (2 pi f_k)`` seconds under a complex exponential, normalised so
    that a sine of amplitude A gives ``|W| = A`` at its own frequency (L1 normalisation, the same
    height at every scale). It is PyWavelets' ``cmor{B}-{C}`` wavelet with ``B = 2`` and
    ``C = w0 / (2 pi)`` at scale ``C * sr / f_k``, whose coefficients are ours times
    ``sqrt(scale) / 2``.

    Parameters
    ----------
    x : Tensor, shape (..., n_timepoints)
    freqs : sequence of float
        Centre frequencies in Hz, each in (0, sr/2] (see :func:`morlet_frequencies`).
    sr : float
        Sample rate in Hz (1 makes ``freqs`` cycles per sample).
    w0 : float
        Morlet's parameter in radians (6, the usual choice, is about one cycle per envelope sigma).
    decimation : int
        Return every ``decimation``-th sample only; those samples are exact, and the work drops
        with the number of samples kept.

    Returns
    -------
    Tensor, complex, shape (..., n_freqs, ceil(n_timepoints / decimation))
        The signal is taken as zero outside its span (as PyWavelets does), so the ends show edge
        effects within about two envelope widths. Computed per octave, each with a DFT long
        enough that the circular convolution does not wrap (responses below 1e-9 are dropped).
        Rows whose band reaches the Nyquist frequency are cut off there by the sampling; their
        wavelets decay slowly in time and those rows are exact only up to about 1% (see
        BENCHMARKS.md, "Imaging").
    """
    re, im = _cwt_parts(x, freqs=freqs, sr=sr, w0=w0, decimation=decimation)
    return torch.complex(re, im)


def scalogram(x: torch.Tensor, *, freqs, sr: float = 1.0, w0: float = 6.0, decimation: int = 1
              ) -> torch.Tensor:
    """``|cwt(x)|``, shape (..., n_freqs, ceil(n_timepoints / decimation)); exports to ONNX."""
    re, im = _cwt_parts(x, freqs=freqs, sr=sr, w0=w0, decimation=decimation)
    return _magnitude(re, im, 1.0)


