r"""Absorption-edge spectra whose shape depends on a disorder parameter (seed 003: sim-to-real).

The task: predict the structural disorder of a material from its X-ray absorption spectrum,
training on many simulated spectra and few measured ones. Each spectrum :math:`\mu(E)` is built,
on an energy grid relative to the nominal edge, from three parts of a real XANES/EXAFS spectrum:

- **the edge**: a smooth step :math:`\tfrac12 + \arctan((E - E_0)/(\Gamma/2))/\pi` of width
  :math:`\Gamma` = 1.5 eV (the core-hole lifetime), from 0 below the edge to 1 above it;
- **the white line**: a Gaussian peak 4 eV above the edge whose area is fixed and whose width
  grows with disorder, :math:`w = 2\,\mathrm{eV}\sqrt{1 + \sigma^2/0.004\,\mathrm{Å^2}}`, so a
  more disordered sample has a lower, broader peak;
- **EXAFS-like oscillations** after the edge, from three neighbour shells ``j`` at distances
  :math:`R_j` (2.0, 2.85, 3.5 Å) with :math:`N_j` (6, 12, 8) atoms:

  .. math::
     \chi(k) = S_0^2 \sum_j \frac{N_j F}{k R_j^2} e^{-2 k^2 \sigma_j^2} e^{-2 R_j/\lambda}
               \sin(2 k R_j + \varphi(k)),\qquad k = \sqrt{0.2625\,(E - E_0)}\ \mathrm{Å^{-1}}

  with the **Debye–Waller factor** :math:`e^{-2k^2\sigma_j^2}`: the disorder parameter
  :math:`\sigma^2` (mean-square relative displacement, Å²) damps the oscillations, the more the
  higher :math:`k`. Outer shells are more disordered: :math:`\sigma_j^2 = (1, 1.4, 1.8)\,\sigma^2`.
  :math:`F` = 0.7, :math:`\lambda` = 6 Å, :math:`\varphi(k) = -1.2 - 0.25 k`; the
  :math:`1/k` is softened to :math:`(1 - e^{-k^2/2})/\sqrt{k^2 + 1}` so that it stays finite at the edge.

:math:`\mu(E) = \mathrm{step}(E)\,(1 + \chi(k)) + \mathrm{white\ line}(E)`. Each spectrum also
varies in what disorder does not set, so the target is not a function of any single feature:
edge position :math:`E_0 \sim N(0, 0.3)` eV, :math:`S_0^2 \sim U(0.7, 0.9)`, distances
:math:`\pm 0.4\,\%`, white-line area :math:`U(4.5, 6)` eV.

A *simulated* spectrum is this, normalised (0 before the edge, 1 after). An *experimental* one is
the same spectrum as an instrument records it, :func:`experiment_like` with :data:`INSTRUMENT`:
shifted in energy by a calibration offset (about +2 eV), broadened by the monochromator's
resolution (Gaussian, 2-3 eV FWHM), scaled and offset (absorbance units, not normalised), on a
drifting baseline (a quadratic), with counting (Poisson) noise.

The energy axis plays the part of time: a spectrum is a signal of ``n_points`` samples and ``sr``
is **points per eV**, so the grid is ``energy_range[0] + arange(n_points) / sr`` eV
(:func:`energy_axis`).
"""

from __future__ import annotations

import math

import numpy as np

from sigxfer.data.signals import SignalSet
from sigxfer.data.synth._checks import as_generator, check_int, check_range, check_real, seed_sequence
from sigxfer.data.writing import write_targets
from sigxfer.errors import ParameterError

__all__ = ["make_spectra", "experiment_like", "energy_axis", "write_spectra", "DISORDER_RANGE",
           "ENERGY_RANGE", "INSTRUMENT", "RANDOMISATION"]

#: Default range of the disorder parameter sigma^2 in Å^2 (typical EXAFS Debye-Waller factors).
DISORDER_RANGE = (0.001, 0.02)
#: Default energy grid in eV, relative to the nominal edge.
ENERGY_RANGE = (-30.0, 170.0)
#: The "real" instrument of ``kind="experimental"``: each entry a fixed value or a (low, high)
#: range drawn uniformly per spectrum (log-uniformly for ``counts``). See :func:`experiment_like`.
INSTRUMENT = {"energy_shift": (1.7, 2.3), "broadening": (2.0, 3.0), "baseline": 0.03,
              "scale": (0.4, 0.7), "offset": (0.2, 0.4), "counts": 5000.0}
#: The wider ranges :func:`experiment_like` draws from by default, for domain randomisation: they
#: cover :data:`INSTRUMENT` without knowing it.
RANDOMISATION = {"energy_shift": (-3.0, 3.0), "broadening": (0.0, 4.0), "baseline": 0.1,
                 "scale": (0.2, 2.0), "offset": (-0.5, 1.0), "counts": (1e3, 1e5)}

_K_PER_EV = 0.2625  # k^2 (Å^-2) per eV above the edge: 2 m_e / hbar^2
_CORE_HOLE = 1.5  # eV, FWHM of the edge step
_WHITE_LINE_AT = 4.0  # eV above the edge
_WHITE_LINE_WIDTH = 2.0  # eV, Gaussian sigma at zero disorder
_WHITE_LINE_DISORDER = 0.004  # Å^2: the disorder at which the width has grown by sqrt(2)
_SHELLS = ((6.0, 2.00, 1.0), (12.0, 2.85, 1.4), (8.0, 3.50, 1.8))  # (N_j, R_j in Å, sigma_j^2 / sigma^2)
_BACKSCATTER = 0.7
_MEAN_FREE_PATH = 6.0  # Å
_KINDS = ("simulated", "experimental")


def energy_axis(n_points: int = 512, energy_range: tuple[float, float] = ENERGY_RANGE) -> np.ndarray:
    """The energy grid of :func:`make_spectra`, in eV relative to the nominal edge.

    Parameters
    ----------
    n_points : int, default=512
    energy_range : (float, float), default=(-30.0, 170.0)
        First and last energy in eV.

    Returns
    -------
    ndarray of shape (n_points,), float64
        ``energy_range[0] + arange(n_points) / sr`` with ``sr = (n_points - 1) / span`` points per eV.

    Examples
    --------
    >>> e = energy_axis(5, (0.0, 100.0))
    >>> e.tolist()
    [0.0, 25.0, 50.0, 75.0, 100.0]
    """
    n_points = check_int("n_points", n_points, minimum=2)
    low, high = _check_energy_range(energy_range)
    return np.linspace(low, high, n_points)


def make_spectra(
    n: int = 200,
    *,
    disorder=None,
    kind: str = "simulated",
    n_points: int = 512,
    energy_range: tuple[float, float] = ENERGY_RANGE,
    seed=None,
) -> SignalSet:
    """Make absorption-edge spectra labelled with their disorder parameter (a regression task).

    See the module docstring for the physics. With the same ``seed``, ``kind="experimental"``
    gives the very spectra of ``kind="simulated"`` (same disorder values, same sample-to-sample
    variation) as :data:`INSTRUMENT` records them, so the two can be compared case by case.

    Parameters
    ----------
    n : int, default=200
        Number of spectra.
    disorder : None, float or (float, float), default=None
        The disorder parameter sigma^2 in Å^2 (>= 0): None draws each spectrum's uniformly from
        :data:`DISORDER_RANGE` = (0.001, 0.02); a pair draws from that range; a number gives every
        spectrum that value.
    kind : {"simulated", "experimental"}, default="simulated"
        Clean, normalised spectra; or spectra as the instrument records them (shifted by about
        +2 eV, broadened, scaled and offset, on a drifting baseline, with counting noise).
    n_points : int, default=512
        Points on the energy grid; at least 64.
    energy_range : (float, float), default=(-30.0, 170.0)
        First and last energy of the grid, in eV relative to the nominal edge; must include the
        edge and at least 20 eV after it.
    seed : int, numpy.random.Generator or None, default=None
        The same seed gives identical spectra.

    Returns
    -------
    SignalSet
        ``X`` of shape (n, 1, n_points), float32 (absorption, dimensionless); ``y`` float64, the
        disorder sigma^2 in Å^2 of each spectrum; ``sr`` in points per eV (see :func:`energy_axis`);
        ``names`` ``"simulated-00000", ...`` (or ``"experimental-..."``).

    Raises
    ------
    ParameterError
        A count, range or ``kind`` is not valid.

    Examples
    --------
    >>> s = make_spectra(4, seed=0)
    >>> s.X.shape, round(s.sr, 3), bool((s.y >= 0.001).all() and (s.y <= 0.02).all())
    ((4, 1, 512), 2.555, True)
    >>> real = make_spectra(4, kind="experimental", seed=0)
    >>> bool((real.y == s.y).all())
    True
    """
    n = check_int("n", n, minimum=1)
    n_points = check_int("n_points", n_points, minimum=64)
    if kind not in _KINDS:
        raise ParameterError(f"kind={kind!r} must be one of {list(_KINDS)}")
    low, high = _check_energy_range(energy_range)
    if low >= 0.0 or high < 20.0:
        raise ParameterError(f"energy_range={energy_range!r} must start below the edge (0 eV) and reach 20 eV past it")
    d_low, d_high = check_range("disorder", DISORDER_RANGE if disorder is None else disorder, minimum=0.0)
    clean_seed, instrument_seed = seed_sequence(seed).spawn(2)
    rng = np.random.default_rng(clean_seed)
    sigma2 = rng.uniform(d_low, d_high, size=n) if d_high > d_low else np.full(n, d_low)
    energy = np.linspace(low, high, n_points)
    X = _spectra(energy, sigma2, rng)
    sr = (n_points - 1) / (high - low)
    if kind == "experimental":
        X = experiment_like(X, np.random.default_rng(instrument_seed), sr=sr, **INSTRUMENT)
    names = [f"{kind}-{i:05d}" for i in range(n)]
    return SignalSet(X[:, np.newaxis, :], sr=sr, y=sigma2, names=names)


def _spectra(energy: np.ndarray, sigma2: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Clean normalised spectra (n, n_points) for the disorder values ``sigma2`` (n,)."""
    n = len(sigma2)
    e0 = rng.normal(0.0, 0.3, size=(n, 1))
    s02 = rng.uniform(0.7, 0.9, size=(n, 1))
    area = rng.uniform(4.5, 6.0, size=(n, 1))
    stretch = 1.0 + rng.normal(0.0, 0.004, size=(n, len(_SHELLS)))
    above = energy[np.newaxis, :] - e0
    step = 0.5 + np.arctan(above / (_CORE_HOLE / 2.0)) / np.pi
    width = _WHITE_LINE_WIDTH * np.sqrt(1.0 + sigma2[:, np.newaxis] / _WHITE_LINE_DISORDER)
    white = area / (width * math.sqrt(2.0 * math.pi)) * np.exp(-0.5 * ((above - _WHITE_LINE_AT) / width) ** 2)
    k = np.sqrt(_K_PER_EV * np.clip(above, 0.0, None))
    envelope = (1.0 - np.exp(-0.5 * k**2)) / np.sqrt(k**2 + 1.0)
    phase = -1.2 - 0.25 * k
    chi = np.zeros_like(k)
    for j, (count, distance, spread) in enumerate(_SHELLS):
        r = distance * stretch[:, j : j + 1]
        debye_waller = np.exp(-2.0 * k**2 * spread * sigma2[:, np.newaxis])
        amplitude = count * _BACKSCATTER / r**2 * np.exp(-2.0 * r / _MEAN_FREE_PATH)
        chi += amplitude * debye_waller * np.sin(2.0 * k * r + phase)
    chi *= s02 * envelope
    return (step * (1.0 + chi) + white).astype(np.float32)


def experiment_like(
    X,
    rng=None,
    *,
    sr: float,
    energy_shift=RANDOMISATION["energy_shift"],
    broadening=RANDOMISATION["broadening"],
    baseline: float = RANDOMISATION["baseline"],
    scale=RANDOMISATION["scale"],
    offset=RANDOMISATION["offset"],
    counts=RANDOMISATION["counts"],
) -> np.ndarray:
    """Distort clean spectra as a measurement would: the augmentation for domain randomisation.

    Applied in the order an instrument applies them, each drawn independently per spectrum: an
    energy shift (calibration offset), Gaussian broadening (resolution), a scale and offset
    (absorbance units instead of a normalised edge), a quadratic baseline drift, then counting
    noise. Every parameter is a fixed value or a ``(low, high)`` range drawn uniformly per
    spectrum; the defaults (:data:`RANDOMISATION`) are wide on purpose, so a model trained on
    ``experiment_like(simulated)`` has seen instruments like the real one without knowing it.

    Parameters
    ----------
    X : array-like of shape (..., n_points)
        Spectra on a uniform energy grid, e.g. ``make_spectra(...).X`` of shape (n, 1, n_points);
        every row along the last axis is distorted on its own.
    rng : int, numpy.random.Generator or None
        Source of the random draws; the same seed gives the same distortions.
    sr : float
        Grid points per eV (``SignalSet.sr`` of :func:`make_spectra`): converts the eV below to points.
    energy_shift : float or (float, float), default=(-3.0, 3.0)
        eV; positive moves every feature to higher energy: ``out(E) = in(E - shift)``, the
        ends held at their edge values.
    broadening : float or (float, float), default=(0.0, 4.0)
        FWHM in eV of the Gaussian the spectrum is convolved with; 0 for none.
    baseline : float, default=0.1
        Standard deviation of the linear and quadratic coefficients of the drift
        ``c1 t + c2 t**2`` over the grid mapped to ``t`` in [-1, 1]; 0 for none.
    scale : float or (float, float), default=(0.2, 2.0)
        Factor on the spectrum (the edge jump in absorbance units).
    offset : float or (float, float), default=(-0.5, 1.0)
        Added after scaling (the absorbance before the edge).
    counts : float, (float, float) or None, default=(1e3, 1e5)
        Counts per unit of signal, drawn log-uniformly: noise is Poisson, ``(Poisson(c x) - c x)
        / c`` on the positive part ``x`` of the signal, so its standard deviation is ``sqrt(x / c)``.
        None for no noise.

    Returns
    -------
    ndarray, same shape as ``X``, float32

    Raises
    ------
    ParameterError
        A parameter is out of range (negative broadening, baseline or counts, sr <= 0).

    Notes
    -----
    As augmentation, draw several distorted copies of the simulated set before fitting, e.g.
    ``X = np.concatenate([experiment_like(sim.X, s, sr=sim.sr) for s in range(4)])`` with
    ``y = np.tile(sim.y, 4)``; fixed seeds keep the augmented set reproducible.

    Examples
    --------
    >>> sim = make_spectra(8, seed=0)
    >>> augmented = experiment_like(sim.X, 1, sr=sim.sr)
    >>> augmented.shape, bool((augmented != sim.X).any())
    ((8, 1, 512), True)
    >>> same = experiment_like(sim.X, 1, sr=sim.sr)
    >>> bool((same == augmented).all())
    True
    """
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] < 2:
        raise ParameterError(f"X has shape {arr.shape}; give spectra shaped (..., n_points) with n_points >= 2")
    sr = check_real("sr", sr, minimum=0.0, strict=True)
    shift_range = check_range("energy_shift", energy_shift)
    fwhm_range = check_range("broadening", broadening, minimum=0.0)
    scale_range = check_range("scale", scale)
    offset_range = check_range("offset", offset)
    baseline = check_range("baseline", baseline, minimum=0.0)[0]
    counts_range = None if counts is None else check_range("counts", counts, minimum=1e-12)
    gen = as_generator(rng)
    shape = arr.shape
    rows = arr.reshape(-1, shape[-1])
    n, n_points = rows.shape

    rows = _shift(rows, _uniform(gen, shift_range, n) * sr)
    rows = _broaden(rows, _uniform(gen, fwhm_range, n) * sr / (2.0 * math.sqrt(2.0 * math.log(2.0))))
    rows = rows * _uniform(gen, scale_range, n)[:, None] + _uniform(gen, offset_range, n)[:, None]
    if baseline > 0:
        t = np.linspace(-1.0, 1.0, n_points)
        c = gen.normal(0.0, baseline, size=(n, 2))
        rows = rows + c[:, :1] * t + c[:, 1:] * t**2
    if counts_range is not None:
        c = np.exp(_uniform(gen, (math.log(counts_range[0]), math.log(counts_range[1])), n))[:, None]
        expected = np.clip(rows, 0.0, None) * c
        rows = rows + (gen.poisson(expected) - expected) / c
    return rows.reshape(shape).astype(np.float32)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    low, high = bounds
    return rng.uniform(low, high, size=n) if high > low else np.full(n, low)


def _shift(rows: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``out[i] = in[i - points]`` by linear interpolation, each row by its own (fractional) amount."""
    n_points = rows.shape[1]
    position = np.clip(np.arange(n_points)[None, :] - points[:, None], 0.0, n_points - 1.0)
    left = np.minimum(np.floor(position).astype(np.intp), n_points - 2)
    frac = position - left
    a = np.take_along_axis(rows, left, axis=1)
    b = np.take_along_axis(rows, left + 1, axis=1)
    return a + frac * (b - a)


def _broaden(rows: np.ndarray, sigma_points: np.ndarray) -> np.ndarray:
    """Convolve each row with a Gaussian of its own standard deviation (in points)."""
    if not (sigma_points > 0).any():
        return rows
    # Edge padding, so the convolution (circular in the FFT) neither wraps round nor pulls the
    # ends towards zero.
    pad = int(math.ceil(4.0 * sigma_points.max())) + 1
    padded = np.pad(rows, ((0, 0), (pad, pad)), mode="edge")
    freq = np.fft.rfftfreq(padded.shape[1])
    transfer = np.exp(-2.0 * (np.pi * freq[None, :] * sigma_points[:, None]) ** 2)
    smooth = np.fft.irfft(np.fft.rfft(padded, axis=1) * transfer, n=padded.shape[1], axis=1)
    return smooth[:, pad:-pad]


def _check_energy_range(energy_range) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in energy_range)
    except (TypeError, ValueError):
        raise ParameterError(f"energy_range={energy_range!r} must be (first, last) energies in eV") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ParameterError(f"energy_range={energy_range!r} must be finite with first < last")
    return low, high


def write_spectra(out_dir, *, n: int = 200, kind: str = "simulated", n_points: int = 512, seed=None,
                  format: str = "npy", overwrite: bool = False):
    """Write :func:`make_spectra` to a folder: one file per spectrum and a ``targets.csv``.

    Parameters
    ----------
    out_dir : str or path-like
        Folder to create (see :func:`~sigxfer.data.write_targets`).
    n : int, default=200
        Spectra of each kind.
    kind : {"simulated", "experimental", "both"}, default="simulated"
        ``both`` writes ``n`` of each, from independent draws (no simulated spectrum is the twin of
        an experimental one), with ``targets.csv`` listing all and ``simulated.csv`` and
        ``experimental.csv`` each kind: train on one table, evaluate on the other.
    n_points, seed
        As in :func:`make_spectra`.
    format : str, default="npy"
        File format of the spectra (``npy`` or ``csv``).
    overwrite : bool, default=False
        Replace an earlier output folder.

    Returns
    -------
    Path
        The table ``out_dir / "targets.csv"`` (columns ``file,disorder[,group]``).

    Examples
    --------
    >>> import tempfile, os
    >>> from sigxfer.data import load_targets
    >>> table = write_spectra(os.path.join(tempfile.mkdtemp(), "xas"), n=3, kind="both", seed=0)
    >>> sorted(p.name for p in table.parent.glob("*.csv"))
    ['experimental.csv', 'simulated.csv', 'targets.csv']
    >>> load_targets(table.parent / "experimental.csv").X.shape
    (3, 1, 512)
    """
    kinds = list(_KINDS) if kind == "both" else [kind]
    if kind != "both" and kind not in _KINDS:
        raise ParameterError(f"kind={kind!r} must be one of {[*_KINDS, 'both']}")
    seeds = seed_sequence(seed).spawn(len(kinds)) if kind == "both" else [seed]
    parts = [make_spectra(n, kind=k, n_points=n_points, seed=s) for k, s in zip(kinds, seeds)]
    signals = SignalSet(np.concatenate([p.X for p in parts]), sr=parts[0].sr,
                        y=np.concatenate([p.y for p in parts]), names=[name for p in parts for name in p.names])
    groups = [k for k, p in zip(kinds, parts) for _ in range(len(p))] if kind == "both" else None
    return write_targets(signals, out_dir, target="disorder", groups=groups, format=format, overwrite=overwrite)
