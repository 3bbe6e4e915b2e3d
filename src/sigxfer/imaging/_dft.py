"""Discrete Fourier transforms written as matrix products.

``torch.fft`` is faster on paper, but its operators do not export to ONNX with the TorchScript
exporter (``aten::fft_rfft`` is refused at every opset), and the whole model, imaging included, has
to export. A DFT written as matrix products exports as plain ``MatMul`` nodes, runs on any device,
and is fast at the sizes imaging needs:

* short transforms (up to 128 points, or lengths with no factor pair) multiply by one
  cosine/sine matrix (the STFT builds its own, with the window folded in);
* long transforms (a whole signal, the wavelet transform) use one level of the Cooley–Tukey
  "four-step" split ``n = n1 * n2``: ``n1``-point DFTs, a twiddle product, ``n2``-point DFTs. That
  costs ``O(n * (n1 + n2))`` multiply-adds, about ``O(n ** 1.5)``: 0.5 M for 4,096 points.

All functions take the real and imaginary parts as separate real tensors (``im=None`` for real
input); complex tensors do not export either. Bases are computed in float64 from exact integer
phases, cast once, and cached per size, dtype and device.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sigxfer.errors import ParameterError

# Up to this length one basis matrix is cheapest; beyond it the four-step split wins.
_DIRECT_MAX = 128
# Smallest factor worth a four-step split (smaller ones leave one stage nearly direct).
_MIN_FACTOR = 8
# A direct basis larger than this many entries (64 MB in float32) is refused.
_DIRECT_MAX_ENTRIES = 1 << 24
_CACHE: dict[tuple, tuple[torch.Tensor, ...]] = {}
_CACHE_MAX = 64


def _cached(key: tuple, build) -> tuple[torch.Tensor, ...]:
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()  # rarely hit: a handful of sizes is normal
        _CACHE[key] = build()
    return _CACHE[key]


def _cos_sin(n_rows: int, n_cols: int, period: int, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos`` and ``sin`` of ``2 pi r c / period`` for r < n_rows, c < n_cols."""

    def build():
        # The product is reduced modulo the period in integers so large indices keep full precision.
        phase = np.outer(np.arange(n_rows, dtype=np.int64), np.arange(n_cols, dtype=np.int64)) % period
        angle = 2.0 * np.pi * phase / period
        return (torch.as_tensor(np.cos(angle), dtype=dtype, device=device),
                torch.as_tensor(np.sin(angle), dtype=dtype, device=device))

    return _cached(("cs", n_rows, n_cols, period, dtype, str(device)), build)


def split(n: int) -> tuple[int, int] | None:
    """Factors ``(n1, n2)`` of ``n`` for the four-step DFT, or None when ``n`` is short or awkward.

    ``n1`` is the divisor of ``n`` nearest below ``sqrt(n)``; a split is only worth it when both
    factors are at least 8 (otherwise one of the two matrix stages degenerates to the direct DFT).
    """
    if n <= _DIRECT_MAX:
        return None
    for n1 in range(math.isqrt(n), _MIN_FACTOR - 1, -1):
        if n % n1 == 0:
            return n1, n // n1
    return None


def good_length(n: int) -> int:
    """The smallest length >= ``n`` that :func:`dft` handles fast (``n`` itself when it can).

    Lengths that do not split are rounded up to a multiple of a power of two near ``sqrt(n)``:
    at most ``2 sqrt(n)`` more points, so zero-padding to it changes a spectrum's grid by a few
    percent at most.
    """
    if n <= _DIRECT_MAX or split(n) is not None:
        return n
    n1 = 1 << max(3, round(math.log2(math.sqrt(n))))
    return n1 * -(-n // n1)


def _real_basis(n: int, n_out: int, dtype, device) -> torch.Tensor:
    """``[cos | -sin]``, shape (n, 2 n_out): a real row times it gives ``[re | im]`` of its DFT."""

    def build():
        c, s = _cos_sin(n, n_out, n, torch.float64, "cpu")
        return (torch.cat([c, -s], dim=1).to(dtype=dtype, device=device),)

    return _cached(("real", n, n_out, dtype, str(device)), build)[0]


def _complex_basis(n: int, n_out: int, dtype, device, phase=None) -> torch.Tensor:
    """``[[cos, -sin], [sin, cos]]``, shape (2 n, 2 n_out): ``[re | im]`` rows in, ``[re | im]`` out."""
    c, s = phase if phase is not None else _cos_sin(n, n_out, n, torch.float64, "cpu")
    return torch.cat([torch.cat([c, -s], dim=1), torch.cat([s, c], dim=1)], dim=0).to(dtype=dtype, device=device)


def dft(re: torch.Tensor, im: torch.Tensor | None = None, *, n_out: int | None = None,
        inverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """DFT along the last axis, bins (or, for ``inverse``, samples) ``0 .. n_out - 1``.

    Parameters
    ----------
    re, im : Tensor, shape (..., n)
        Real and imaginary parts of the input; ``im=None`` for a real signal.
    n_out : int, optional
        How many outputs to compute (all ``n`` by default). A real signal's spectrum needs only
        ``n // 2 + 1``; a wavelet transform only the samples that fall inside the signal.
    inverse : bool
        ``sum_k z_k exp(+2 pi i k t / n)``, unnormalised; the forward sign is negative.

    Returns
    -------
    (Tensor, Tensor), shape (..., n_out)
        Real and imaginary parts of ``sum_t x_t exp(-+2 pi i k t / n)``.
    """
    n = int(re.shape[-1])  # a fixed size, even while tracing for ONNX
    n_out = n if n_out is None else n_out
    if inverse:
        # conj(DFT(conj(z))) is the inverse transform without its 1/n.
        out_re, out_im = dft(re, None if im is None else -im, n_out=n_out)
        return out_re, -out_im
    lead = re.shape[:-1]
    factors = split(n)
    if factors is not None:
        out = _four_step(re.reshape(-1, n), None if im is None else im.reshape(-1, n), factors, n_out)
    else:
        if n * n_out > _DIRECT_MAX_ENTRIES:
            raise ParameterError(
                f"a {n}-point DFT with no factor pair needs a {n}x{n_out} matrix; use a length with "
                f"small factors such as {good_length(n)} (a power of two is best)"
            )
        if im is None:
            out = re.reshape(-1, n) @ _real_basis(n, n_out, re.dtype, re.device)
        else:
            basis = _cached(("complex", n, n_out, re.dtype, str(re.device)),
                            lambda: (_complex_basis(n, n_out, re.dtype, re.device),))[0]
            out = torch.cat([re.reshape(-1, n), im.reshape(-1, n)], dim=1) @ basis
    return out[:, :n_out].reshape(*lead, n_out), out[:, n_out:].reshape(*lead, n_out)


def _stage_two(n1: int, n2: int, k2: int, dtype, device) -> torch.Tensor:
    """Twiddles and the n2-point DFTs in one matrix per k1: shape (n1, 2 n2, 2 k2).

    Entry ``[k1][t2, k2]`` is ``exp(-2 pi i t2 (k1 + n1 k2) / n)``: the twiddle
    ``exp(-2 pi i k1 t2 / n)`` times the DFT kernel ``exp(-2 pi i t2 k2 / n2)``.
    """

    def build():
        n = n1 * n2
        k1 = np.arange(n1, dtype=np.int64)[:, None, None]
        t2 = np.arange(n2, dtype=np.int64)[None, :, None]
        k = k1 + n1 * np.arange(k2, dtype=np.int64)[None, None, :]
        angle = 2.0 * np.pi * ((t2 * k) % n) / n  # (n1, n2, k2)
        c, s = np.cos(angle), np.sin(angle)
        blocks = np.concatenate([np.concatenate([c, -s], axis=2), np.concatenate([s, c], axis=2)], axis=1)
        return (torch.as_tensor(blocks, dtype=dtype, device=device),)

    return _cached(("stage2", n1, n2, k2, dtype, str(device)), build)[0]


def to_blocks(re: torch.Tensor, im: torch.Tensor | None, factors: tuple[int, int]) -> torch.Tensor:
    """Rows (B, n) -> the layout :func:`dft_blocks` reads: (parts, n1, B, n2), ``t = n2 t1 + t2``."""
    n1, n2 = factors
    parts = [re] if im is None else [re, im]
    z = torch.stack([p.reshape(-1, n1, n2) for p in parts])  # (parts, B, n1, n2)
    return z.permute(0, 2, 1, 3)


def dft_blocks(z: torch.Tensor, n_out: int) -> torch.Tensor:
    """Four-step DFT of rows given in block layout; returns ``[re | im]`` rows, shape (B, 2 n_out).

    ``z`` has shape (parts, n1, B, n2): ``parts`` is 1 for real input and 2 (real, imaginary) for
    complex input, and sample ``t = n2 * t1 + t2`` of row ``b`` is ``z[:, t1, b, t2]``. Callers
    that compute their input (the wavelet transform) write it in this layout directly and save a
    transpose of the largest tensor.
    """
    n_parts, n1, n2 = int(z.shape[0]), int(z.shape[1]), int(z.shape[3])
    dtype, device = z.dtype, z.device
    # Stage 1: n1-point DFTs over t1 as one matrix product, t1 (and re/im) down the rows.
    key = ("stage1", n_parts, n1, dtype, str(device))
    if n_parts == 1:
        stage1 = _cached(key, lambda: (_real_basis(n1, n1, dtype, device).T.contiguous(),))[0]
    else:
        stage1 = _cached(key, lambda: (_complex_basis(n1, n1, dtype, device).T.contiguous(),))[0]
    a = (stage1 @ z.reshape(n_parts * n1, -1)).reshape(2, n1, -1, n2)
    # Stage 2: for each k1, twiddles and the n2-point DFTs over t2, real and imaginary input
    # parts through the two halves of the matrix (no transpose needed).
    k2 = -(-n_out // n1)
    w = _stage_two(n1, n2, k2, dtype, device)
    out = torch.bmm(a[0], w[:, :n2]) + torch.bmm(a[1], w[:, n2:])  # (n1, rows, 2 k2)
    # Output index k = k1 + n1 * k2.
    out = out.reshape(n1, -1, 2, k2).permute(1, 2, 3, 0).reshape(-1, 2, k2 * n1)[..., :n_out]
    return out.reshape(-1, 2 * n_out)


def _four_step(re, im, factors, n_out):
    """Rows (B, n) -> ``[re | im]`` of their DFT, shape (B, 2 n_out)."""
    return dft_blocks(to_blocks(re, im, factors), n_out)


def rdft(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One-sided DFT of a real signal, as ``torch.fft.rfft``: shape (..., n // 2 + 1) twice."""
    return dft(x, None, n_out=int(x.shape[-1]) // 2 + 1)


def _check_positive(**params) -> None:
    for name, value in params.items():
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)
                                  or value <= 0):
            raise ParameterError(f"{name}={value!r} must be a positive integer")


def _magnitude(re: torch.Tensor, im: torch.Tensor, power: float) -> torch.Tensor:
    energy = re * re + im * im
    if power == 2.0:
        return energy
    if power == 1.0:
        return torch.sqrt(energy)
    return energy ** (power / 2.0)
