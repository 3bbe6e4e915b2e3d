"""Synthetic three-axis accelerometer data with high-five-like gestures (seed 001's wrist sensor).

The wrist at rest reads gravity, about 1 g split over the axes by the hand's tilt, which wanders
slowly; on top sit sensor noise, a faint physiological tremor (8-12 Hz) and, one every 6 s on
average, a slow, weak arm movement (the hard negatives: motion that is not a gesture). A gesture lasts 0.5-0.9 s:
the arm swings (a two-lobed acceleration of 1.5-3 g along a random direction, mostly horizontal),
then the palms meet (a sharp, quickly ringing spike of 2-4 g). Values are in g, channels x, y, z.

- :func:`make_gestures` gives labelled training windows, classes ``"gesture"`` (one whole gesture
  somewhere in the window) and ``"idle"``.
- :func:`make_gesture_stream` gives one long recording ``(3, n_timepoints)`` with gestures at
  known times, for streaming.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from sigxfer.data.signals import SignalSet
from sigxfer.errors import ParameterError

__all__ = ["GestureStream", "make_gesture_stream", "make_gestures", "GESTURE_CLASSES"]

#: Class labels of :func:`make_gestures`.
GESTURE_CLASSES = ("gesture", "idle")
_MAX_GESTURE_S = 0.9
_TILT_TIME_S, _TILT_STD = 5.0, 0.3  # how fast and how far a resting hand's tilt wanders (s, rad)
_MOVE_EVERY_S, _MOVE_REACH_S = 6.0, 3.0  # slow movements: mean spacing, and how far outside they start


@dataclass
class GestureStream:
    """A long accelerometer recording and where its gestures are.

    Attributes
    ----------
    signal : ndarray of shape (3, n_timepoints), float32
        Axes x, y, z in g.
    sr : float
        Sample rate in Hz.
    times : ndarray of shape (n_gestures, 2)
        Start and end of each gesture in seconds, sorted.
    """

    signal: np.ndarray
    sr: float
    times: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.signal.shape[1] / self.sr


def make_gestures(n_per_class: int = 40, *, sr: float = 50.0, window_s: float = 2.0, noise: float = 0.02,
                  seed: int | np.random.Generator | None = None) -> SignalSet:
    """Labelled windows of wrist acceleration: ``"gesture"`` (one high five in it) and ``"idle"``.

    Parameters
    ----------
    n_per_class : int
        Windows of each class.
    sr : float
        Sample rate in Hz (50 Hz: a common wearable rate).
    window_s : float
        Window length in seconds; at least 1.5 s so that a whole gesture fits with room to move.
    noise : float
        Standard deviation of the sensor noise in g.
    seed : int, Generator or None
        The same seed gives identical arrays.

    Returns
    -------
    SignalSet
        ``X`` (2 * n_per_class, 3, round(window_s * sr)) float32 in g; ``y`` ``"gesture"`` then
        ``"idle"``; ``names`` ``"gesture-0000", ..., "idle-0000", ...``; ``sr`` as given. A gesture
        window holds its gesture at a uniformly random place, whole; the background of both classes
        is the same stationary process, slow arm movements (the hard negatives) included.

    Examples
    --------
    >>> s = make_gestures(4, seed=0)
    >>> s.X.shape, s.classes.tolist()
    ((8, 3, 100), ['gesture', 'idle'])
    """
    n_per_class = _check_int("n_per_class", n_per_class, 1)
    sr, noise = _check_positive("sr", sr), _check_nonnegative("noise", noise)
    window_s = _check_positive("window_s", window_s)
    if window_s < 1.5:
        raise ParameterError(f"window_s={window_s:g} must be at least 1.5 s so that a whole gesture fits")
    rng = np.random.default_rng(seed)
    n = int(round(window_s * sr))
    X = np.empty((2 * n_per_class, 3, n), dtype=np.float32)
    for i in range(n_per_class):
        x = _background(n, sr, noise, rng)
        g = _gesture(sr, rng)
        start = int(rng.integers(0, n - g.shape[1] + 1))
        x[:, start:start + g.shape[1]] += g
        X[i] = x
    for i in range(n_per_class):
        X[n_per_class + i] = _background(n, sr, noise, rng)
    y = np.array(["gesture"] * n_per_class + ["idle"] * n_per_class)
    names = [f"{label}-{i:04d}" for label in GESTURE_CLASSES for i in range(n_per_class)]
    return SignalSet(X, sr=float(sr), y=y, names=names)


def make_gesture_stream(duration_s: float = 120.0, *, sr: float = 50.0, n_gestures: int | None = None,
                        min_gap_s: float = 5.0, noise: float = 0.02,
                        seed: int | np.random.Generator | None = None) -> GestureStream:
    """One long recording of a wrist at rest with gestures at known, well separated times.

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    sr : float
        Sample rate in Hz.
    n_gestures : int, optional
        Number of gestures; default one per 15 s on average (``duration_s // 15``).
    min_gap_s : float
        Least time between the end of one gesture and the start of the next, and from either end of
        the recording to a gesture: gestures a streaming window can tell apart.
    noise : float
        Standard deviation of the sensor noise in g.
    seed : int, Generator or None
        The same seed gives the same recording.

    Returns
    -------
    GestureStream
        ``signal`` (3, round(duration_s * sr)) float32, ``sr`` and ``times`` (n_gestures, 2) in s.

    Raises
    ------
    ParameterError
        If the gestures do not fit with ``min_gap_s`` between them.

    Examples
    --------
    >>> s = make_gesture_stream(60.0, seed=0)
    >>> s.signal.shape, len(s.times)
    ((3, 3000), 4)
    """
    duration_s, sr = _check_positive("duration_s", duration_s), _check_positive("sr", sr)
    min_gap_s, noise = _check_nonnegative("min_gap_s", min_gap_s), _check_nonnegative("noise", noise)
    n_gestures = int(duration_s // 15) if n_gestures is None else _check_int("n_gestures", n_gestures, 0)
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * sr))
    signal = _background(n, sr, noise, rng)
    gestures = [_gesture(sr, rng) for _ in range(n_gestures)]
    lengths = [g.shape[1] / sr for g in gestures]
    free = duration_s - sum(lengths) - min_gap_s * (n_gestures + 1)
    if free < 0:
        raise ParameterError(
            f"{n_gestures} gestures with min_gap_s={min_gap_s:g} do not fit in {duration_s:g} s; "
            "lengthen duration_s or ask for fewer gestures"
        )
    # The free time, cut at sorted uniform points, spreads the gestures at random but never closer.
    slack = np.diff(np.concatenate([[0.0], np.sort(rng.uniform(0.0, free, n_gestures))]))
    times, t = [], min_gap_s
    for g, length, extra in zip(gestures, lengths, slack):
        t += extra
        start = int(round(t * sr))
        signal[:, start:start + g.shape[1]] += g
        times.append((start / sr, (start + g.shape[1]) / sr))
        t = (start + g.shape[1]) / sr + min_gap_s
    return GestureStream(signal=signal, sr=float(sr), times=np.asarray(times, dtype=np.float64).reshape(-1, 2))


# ------------------------------------------------------------------ the two ingredients
def _background(n: int, sr: float, noise: float, rng: np.random.Generator) -> np.ndarray:
    """A wrist at rest, (3, n) in g: tilted gravity, noise, tremor and now and then a slow arm movement.

    Stationary, so a two-second window and any stretch of a long recording look alike: the tilt is
    a mean-reverting random process (time constant 5 s), and slow movements come at random, one
    per 6 s on average, centred anywhere, partly outside too.
    """
    from scipy.signal import lfilter

    t = np.arange(n) / sr
    a = np.exp(-1.0 / (_TILT_TIME_S * sr))
    start = rng.normal(0.0, _TILT_STD, size=(2, 1))
    shocks = rng.normal(0.0, _TILT_STD * np.sqrt(1.0 - a * a), size=(2, n))
    tilt = lfilter([1.0], [1.0, -a], shocks, axis=1, zi=a * start)[0] + rng.uniform(-0.5, 0.5, size=(2, 1))
    pitch, roll = tilt
    gravity = np.stack([np.sin(pitch), np.cos(pitch) * np.sin(roll), np.cos(pitch) * np.cos(roll)])
    f_tremor = min(rng.uniform(8.0, 12.0), 0.45 * sr)
    tremor = 0.01 * np.sin(2 * np.pi * f_tremor * t + rng.uniform(0, 2 * np.pi, size=(3, 1)))
    x = gravity + tremor + rng.normal(0.0, noise, size=(3, n))
    duration = n / sr
    for _ in range(rng.poisson((duration + 2 * _MOVE_REACH_S) / _MOVE_EVERY_S)):
        centre, width = rng.uniform(-_MOVE_REACH_S, duration + _MOVE_REACH_S), rng.uniform(0.8, 2.0)
        direction = rng.normal(size=(3, 1))
        envelope = np.exp(-0.5 * ((t - centre) / width) ** 2) * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * (t - centre))
        x += rng.uniform(0.15, 0.35) * direction / np.linalg.norm(direction) * envelope
    return x.astype(np.float32)


def _gesture(sr: float, rng: np.random.Generator) -> np.ndarray:
    """One high five, (3, k) in g: a two-lobed swing along a mostly horizontal direction, then a clap."""
    duration = rng.uniform(0.5, _MAX_GESTURE_S)
    k = max(int(round(duration * sr)), 4)
    t = np.linspace(-1.0, 1.0, k)
    swing = -t * np.exp(-2.5 * t ** 2) * rng.uniform(1.5, 3.0) / 0.27  # peak value: the drawn amplitude
    direction = np.array([rng.normal(1.0, 0.3), rng.normal(0.0, 0.5), rng.normal(0.0, 0.3)])
    direction *= rng.choice([-1.0, 1.0]) / np.linalg.norm(direction)
    g = direction[:, None] * swing[None, :]
    # The clap: where the swing turns (the hand stops against the other), a spike ringing out in ~80 ms.
    hit = int(k * rng.uniform(0.55, 0.7))
    tail = np.arange(k - hit) / sr
    ring = rng.uniform(2.0, 4.0) * np.exp(-tail / 0.04) * np.cos(2 * np.pi * min(15.0, 0.4 * sr) * tail)
    g[:, hit:] += rng.normal(0.0, 1.0, size=(3, 1)) / np.sqrt(3) * ring
    return g


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ParameterError(f"{name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value <= 0:
        raise ParameterError(f"{name}={value!r} must be a positive number")
    return float(value)


def _check_nonnegative(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value) or value < 0:
        raise ParameterError(f"{name}={value!r} must be a number >= 0")
    return float(value)
