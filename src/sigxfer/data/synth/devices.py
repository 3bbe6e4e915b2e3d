"""Synthetic "device" signals from seed 000: two classes that differ only in frequency content.

Each signal is three sinusoids of falling amplitude plus uniform noise::

    x[t] = 10 sin(theta1[t] + phase1) + 5 sin(theta2[t] + phase2) + sin(theta3[t] + phase3)
           + noise * U[0, 1)

where ``theta_k = linspace(0, (cycles_k + extra_k) * pi, n_timepoints)``: ``cycles_k`` half-cycles
over the whole signal, ``extra_k`` a random jitter, each ``phase_k`` uniform in [0, 2 pi). Class
``"high"`` has ``shift`` more half-cycles in every band than class ``"low"``. Because ``c``
half-cycles over the signal put the peak in rfft bin ``c / 2``, ``shift`` and ``jitter`` are in units
of half a frequency bin whatever the length, so the problem is equally hard at any ``n_timepoints``.
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from sigxfer.data.signals import SignalSet
from sigxfer.data.synth._checks import check_int
from sigxfer.errors import ParameterError

__all__ = ["make_devices", "DEVICE_BANDS", "DEVICE_AMPLITUDES"]

#: Half-cycles of the three bands of class "low" per 1024 samples (before jitter). At 1024 samples and
#: sr=1024 Hz they sit at 30, 80 and 150 Hz: well apart, and far below Nyquist (512 Hz) so that
#: shift + jitter never pushes a band near it. Scaled with n_timepoints so the bands keep their place
#: as a fraction of the sample rate.
DEVICE_BANDS = (60, 160, 300)

#: Amplitudes of the three bands, as in seed 000.
DEVICE_AMPLITUDES = (10.0, 5.0, 1.0)

_REFERENCE_LENGTH = 1024


def make_devices(
    n_per_class: int = 50,
    *,
    n_timepoints: int = 1024,
    sr: float = 1024.0,
    shift: int = 8,
    jitter: int = 5,
    noise: float = 3.0,
    seed: int | np.random.Generator | None = None,
) -> SignalSet:
    """Make seed 000's two classes of device signals: "low" and "high" frequency content.

    The raw waveforms of the two classes look alike (the 10x-amplitude band and the noise dominate),
    but their magnitude spectra separate them: every band of a "high" signal is ``shift``
    half-cycles (``shift / 2`` rfft bins) above the same band of a "low" one, while the per-signal
    jitter moves a band by at most ``jitter - 1`` half-cycles.

    Parameters
    ----------
    n_per_class : int, default=50
        Number of signals of each class.
    n_timepoints : int, default=1024
        Samples per signal; at least 64.
    sr : float, default=1024.0
        Sample rate in Hz, stored on the result. The signals themselves are defined in cycles per
        sample; ``sr`` only says how to read them in Hz.
    shift : int, default=8
        Extra half-cycles per band of class "high" over class "low". 0 makes the classes
        indistinguishable (a useful null check).
    jitter : int, default=5
        Each band of each signal gets ``randint(0, jitter)`` extra half-cycles, i.e. 0 to
        ``jitter - 1`` (as ``rand.Intn`` in the seed); 0 or 1 means none.
    noise : float, default=3.0
        Scale of the additive noise, uniform on ``[0, noise)`` (not zero-mean, as in the seed).
    seed : int, numpy.random.Generator or None, default=None
        Random seed; the same seed gives identical arrays.

    Returns
    -------
    SignalSet
        ``X`` of shape (2 * n_per_class, 1, n_timepoints), float32; ``y`` the str labels ``"low"``
        then ``"high"``; ``names`` ``"low-0000", ..., "high-0000", ...``; ``sr`` as given.

    Raises
    ------
    ParameterError
        If a count is not a positive integer, ``noise`` is negative, or the top band would reach
        Nyquist.

    Notes
    -----
    The band centres of class "low" are ``round(b * n_timepoints / 1024)`` half-cycles for ``b`` in
    :data:`DEVICE_BANDS` = (60, 160, 300), i.e. 30, 80 and 150 Hz at the defaults.

    Examples
    --------
    >>> s = make_devices(3, seed=0)
    >>> s.X.shape, s.classes.tolist()
    ((6, 1, 1024), ['high', 'low'])
    """
    n_per_class = check_int("n_per_class", n_per_class, minimum=1)
    n_timepoints = check_int("n_timepoints", n_timepoints, minimum=64)
    shift = check_int("shift", shift, minimum=0)
    jitter = check_int("jitter", jitter, minimum=0)
    if isinstance(noise, bool) or not isinstance(noise, Real) or not np.isfinite(noise) or noise < 0:
        raise ParameterError(f"noise={noise!r} must be a finite number >= 0")
    if isinstance(sr, bool) or not isinstance(sr, Real) or not np.isfinite(sr) or sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive sample rate in Hz")

    bands = [round(b * n_timepoints / _REFERENCE_LENGTH) for b in DEVICE_BANDS]
    top = bands[-1] + shift + max(jitter - 1, 0)
    # c half-cycles over n samples is c / (2 n) cycles per sample; Nyquist is 1/2, i.e. c = n.
    if top >= n_timepoints:
        raise ParameterError(
            f"shift={shift} and jitter={jitter} put the top band at {top} half-cycles, at or above Nyquist "
            f"({n_timepoints} for n_timepoints={n_timepoints}); lower them or raise n_timepoints"
        )

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0.0, np.pi, n_timepoints)  # theta_k = cycles_k * ramp, as linspace(0, cycles_k * pi)
    X = np.empty((2 * n_per_class, 1, n_timepoints), dtype=np.float32)
    labels, names = [], []
    for c, label in enumerate(("low", "high")):
        for i in range(n_per_class):
            signal = np.zeros(n_timepoints)
            for amplitude, base in zip(DEVICE_AMPLITUDES, bands):
                extra = rng.integers(0, jitter) if jitter > 1 else 0
                phase = rng.uniform(0.0, 2.0 * np.pi)
                signal += amplitude * np.sin((base + c * shift + extra) * ramp + phase)
            signal += noise * rng.random(n_timepoints)
            X[c * n_per_class + i, 0] = signal
            labels.append(label)
            names.append(f"{label}-{i:04d}")
    return SignalSet(X, sr=float(sr), y=np.array(labels), names=names)

