"""Training-time augmentation of signals and their images, and mixup.

Signal augmentations act on the raw signals ``(N, C, T)`` before the imager, so they change what
the fitted scale sees the way real variation would: a recording that starts later (time shift),
a louder sensor (gain), a noisier one (additive noise at a chosen SNR), or, for spectra, another
instrument altogether (``spectral``: the randomised distortions of
:func:`~sigxfer.data.synth.spectra.experiment_like`, i.e. domain randomisation of simulated spectra
before a model meets measured ones). Image augmentations act
on the normalised images ``(N, 3, H, W)`` the backbone reads: SpecAugment-style masks (Park et al.
2019) that blank a band of time columns or of frequency rows. Every random draw comes from the
``numpy.random.Generator`` passed in, so the same seed gives the same batch. None of this runs
at prediction time: the training loop calls it on training batches only.

The configuration is a plain JSON-able dict, e.g.
``{"time_shift": 0.1, "gain_db": 6, "snr_db": 20, "time_mask": 0.1, "freq_mask": 0.1}``, or for
spectra ``{"spectral": {"sr": 2.555, "energy_shift": [-3, 3], "counts": [1000, 100000]}}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from sigxfer._checks import Interval, Options, check_params
from sigxfer.errors import ParameterError

SHIFT_MODES = ("circular", "zeros")


def _per_case(values, like: torch.Tensor) -> torch.Tensor:
    """A column of per-case values shaped to broadcast against ``like`` (N, ...)."""
    return torch.as_tensor(np.asarray(values), dtype=like.dtype, device=like.device).view(
        -1, *([1] * (like.dim() - 1)))


def _uniform(rng: np.random.Generator, bounds: tuple[float, float], n: int) -> np.ndarray:
    lo, hi = bounds
    return rng.uniform(lo, hi, size=n) if hi > lo else np.full(n, lo)


def time_shift(x: torch.Tensor, max_fraction: float, rng: np.random.Generator, *,
               mode: str = "circular") -> torch.Tensor:
    """Shift each signal in time by a whole number of samples, drawn uniformly per case.

    Parameters
    ----------
    x : Tensor, shape (N, C, T)
    max_fraction : float
        Largest shift as a fraction of ``T``, in either direction.
    rng : numpy.random.Generator
    mode : {"circular", "zeros"}
        ``circular`` wraps samples round (right for periodic signals: rotating machinery);
        ``zeros`` lets them fall off the end and pads with zeros (right for one-off events).

    Returns
    -------
    Tensor, shape (N, C, T)

    Examples
    --------
    >>> x = torch.arange(8.0).view(1, 1, 8)
    >>> time_shift(x, 0.25, np.random.default_rng(0), mode="zeros").shape
    torch.Size([1, 1, 8])
    """
    if mode not in SHIFT_MODES:
        raise ParameterError(f"shift_mode={mode!r} is not known; use one of {SHIFT_MODES}")
    n, _, t = x.shape
    limit = int(round(max_fraction * t))
    shifts = rng.integers(-limit, limit + 1, size=n)
    source = torch.arange(t, device=x.device).view(1, t) - torch.as_tensor(shifts, device=x.device).view(n, 1)
    if mode == "circular":
        return torch.gather(x, 2, (source % t).view(n, 1, t).expand_as(x))
    inside = (source >= 0) & (source < t)
    out = torch.gather(x, 2, source.clamp(0, t - 1).view(n, 1, t).expand_as(x))
    return out * inside.view(n, 1, t).to(x.dtype)


def gain(x: torch.Tensor, gain_db: tuple[float, float], rng: np.random.Generator) -> torch.Tensor:
    """Multiply each signal by ``10 ** (g / 20)``, ``g`` drawn uniformly in dB from ``gain_db``.

    Examples
    --------
    >>> gain(torch.ones(1, 1, 4), (20.0, 20.0), np.random.default_rng(0))  # +20 dB: ten times
    tensor([[[10., 10., 10., 10.]]])
    """
    g = _uniform(rng, gain_db, x.shape[0])
    return x * _per_case(10.0 ** (g / 20.0), x)


def add_noise(x: torch.Tensor, snr_db: tuple[float, float], rng: np.random.Generator) -> torch.Tensor:
    """Add white Gaussian noise at a signal-to-noise ratio drawn uniformly from ``snr_db``.

    The noise of each case and channel is scaled so that its sample power is exactly
    ``mean(x**2) / 10 ** (snr / 10)``: the SNR achieved is the SNR asked for, not just its
    expectation. A silent channel stays silent.

    Examples
    --------
    >>> x = torch.sin(torch.linspace(0, 60, 1000)).view(1, 1, -1)
    >>> noisy = add_noise(x, (10.0, 10.0), np.random.default_rng(0))
    >>> snr = 10 * torch.log10(x.pow(2).mean() / (noisy - x).pow(2).mean())
    >>> round(snr.item(), 3)
    10.0
    """
    n, c, t = x.shape
    snr = _uniform(rng, snr_db, n)
    noise = torch.as_tensor(rng.standard_normal((n, c, t)), dtype=x.dtype, device=x.device)
    signal_power = x.pow(2).mean(dim=2, keepdim=True)
    noise_power = noise.pow(2).mean(dim=2, keepdim=True).clamp_min(1e-30)
    target = signal_power / _per_case(10.0 ** (snr / 10.0), x)
    return x + noise * (target / noise_power).sqrt()


#: Keys of ``augment={"spectral": {...}}`` besides ``sr``: :func:`~sigxfer.data.synth.spectra.experiment_like`'s.
SPECTRAL_KEYS = ("energy_shift", "broadening", "baseline", "scale", "offset", "counts")


def spectral(x: torch.Tensor, rng: np.random.Generator, *, sr: float, **distortions) -> torch.Tensor:
    """Distort each spectrum as an unknown instrument would (domain randomisation).

    Each row of ``x`` along the last axis gets its own draw of
    :func:`~sigxfer.data.synth.spectra.experiment_like`: energy shift, Gaussian broadening, scale
    and offset, quadratic baseline drift, then Poisson counting noise, in that order. A parameter
    left out takes that function's wide default range (``RANDOMISATION``): shifts of +-3 eV,
    broadening up to 4 eV FWHM, scale 0.2-2, offset -0.5-1, 1e3-1e5 counts per unit.

    Parameters
    ----------
    x : Tensor, shape (N, C, T)
        Spectra on a uniform grid of ``sr`` points per unit of energy (eV for
        :func:`~sigxfer.data.make_spectra`).
    rng : numpy.random.Generator
        The source of every draw: the same generator state gives the same distortions.
    sr : float
        Grid points per eV; converts ``energy_shift`` and ``broadening`` (eV) to points.
    **distortions
        ``energy_shift``, ``broadening``, ``baseline``, ``scale``, ``offset``, ``counts``: a
        value, a ``[low, high]`` range, or ``counts=None`` for no noise.

    Returns
    -------
    Tensor, shape (N, C, T), same dtype and device

    Examples
    --------
    >>> from sigxfer.data import make_spectra
    >>> sim = make_spectra(2, seed=0)
    >>> x = torch.as_tensor(sim.X)
    >>> out = spectral(x, np.random.default_rng(0), sr=sim.sr, energy_shift=0.0, broadening=0.0,
    ...                baseline=0.0, scale=2.0, offset=0.5, counts=None)
    >>> bool(torch.allclose(out, 2 * x + 0.5, atol=1e-5))
    True
    """
    from sigxfer.data.synth.spectra import experiment_like  # data is below learning; lazily, as it is large

    out = experiment_like(x.detach().cpu().numpy(), rng, sr=sr, **distortions)
    return torch.as_tensor(out, dtype=x.dtype, device=x.device)


def _spectral_config(value) -> dict:
    """Check ``augment["spectral"]``: a dict with ``sr`` and some of :data:`SPECTRAL_KEYS`."""
    if not isinstance(value, dict):
        raise ParameterError(f"augment spectral={value!r} must be a dict such as {{'sr': 2.555}} "
                             "(grid points per eV, plus any of " + ", ".join(SPECTRAL_KEYS) + ")")
    unknown = sorted(set(value) - {"sr", *SPECTRAL_KEYS})
    if unknown:
        raise ParameterError(f"augment spectral key {unknown[0]!r} is not known; use sr and some of {list(SPECTRAL_KEYS)}")
    if "sr" not in value:
        raise ParameterError("augment spectral needs sr, the grid points per eV (SignalSet.sr of the spectra), "
                             "e.g. {'spectral': {'sr': 2.555}}")
    config = {key: list(v) if isinstance(v, tuple) else v for key, v in value.items()}
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items() if k != "sr"}
    # One tiny dry run: experiment_like's own checks give the message for a bad value.
    spectral(torch.zeros(1, 1, 8), np.random.default_rng(0), sr=config["sr"], **params)
    return config


def _mask(images: torch.Tensor, fraction: float, rng: np.random.Generator, fill, axis: int) -> torch.Tensor:
    size = images.shape[axis]
    width = int(round(fraction * size))
    if width == 0:
        return images
    starts = rng.integers(0, size - width + 1, size=images.shape[0])
    pos = torch.arange(size, device=images.device).view(1, size)
    start = torch.as_tensor(starts, device=images.device).view(-1, 1)
    hit = (pos >= start) & (pos < start + width)  # (N, size)
    shape = [images.shape[0], 1, 1, 1]
    shape[axis] = size
    fill = torch.as_tensor(fill, dtype=images.dtype, device=images.device)
    return torch.where(hit.view(shape), fill, images)


def mask_time(images: torch.Tensor, fraction: float, rng: np.random.Generator, *, fill=0.0) -> torch.Tensor:
    """Set a band of ``round(fraction * W)`` adjacent columns (time) of each image to ``fill``.

    The band's position is drawn uniformly per case; ``fill`` may be a scalar or a tensor that
    broadcasts against (N, 3, H, W), e.g. the normalised value of a black pixel.

    Examples
    --------
    >>> masked = mask_time(torch.ones(2, 3, 8, 10), 0.2, np.random.default_rng(0))
    >>> int((masked == 0).all(dim=(1, 2)).sum(dim=1)[0])  # 2 of the 10 columns
    2
    """
    return _mask(images, fraction, rng, fill, axis=3)


def mask_freq(images: torch.Tensor, fraction: float, rng: np.random.Generator, *, fill=0.0) -> torch.Tensor:
    """Set a band of ``round(fraction * H)`` adjacent rows (frequency) of each image to ``fill``.

    Examples
    --------
    >>> masked = mask_freq(torch.ones(2, 3, 10, 8), 0.3, np.random.default_rng(0))
    >>> int((masked == 0).all(dim=(1, 3)).sum(dim=1)[0])  # 3 of the 10 rows
    3
    """
    return _mask(images, fraction, rng, fill, axis=2)


def mixup(inputs: torch.Tensor, targets: torch.Tensor, alpha: float,
          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mix each case with a random partner: ``lam * a + (1 - lam) * b``, ``lam ~ Beta(alpha, alpha)``.

    Parameters
    ----------
    inputs : Tensor, shape (N, ...)
    targets : Tensor, shape (N, K)
        One-hot class probabilities or standardised regression targets, mixed alike.
    alpha : float
        Beta parameter; 0.2-0.4 is usual (Zhang et al. 2018). Must be positive.

    Returns
    -------
    inputs, targets, lam

    Examples
    --------
    >>> inputs, targets = torch.randn(4, 3, 8, 8), torch.eye(2)[[0, 1, 0, 1]]
    >>> mixed, mixed_targets, lam = mixup(inputs, targets, 0.4, np.random.default_rng(0))
    >>> bool(torch.allclose(mixed_targets.sum(dim=1), torch.ones(4)))
    True
    """
    lam = float(rng.beta(alpha, alpha))
    partner = torch.as_tensor(rng.permutation(inputs.shape[0]), device=inputs.device)
    return (lam * inputs + (1 - lam) * inputs[partner],
            lam * targets + (1 - lam) * targets[partner], lam)


def _bounds(key: str, value, *, symmetric: bool) -> tuple[float, float]:
    """A number or a [low, high] pair as (low, high); ``symmetric`` reads ``v`` as [-v, v]."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
        if symmetric:
            if value < 0:
                raise ParameterError(f"augment {key}={value} must be >= 0 (a range of +-{key}) or a [low, high] pair")
            return -value, value
        return value, value
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and value[0] <= value[1]):
        return float(value[0]), float(value[1])
    raise ParameterError(f"augment {key}={value!r} must be a number or a [low, high] pair with low <= high")


@dataclass(frozen=True)
class Augmenter:
    """Augmentations parsed from a config dict; see :meth:`from_config` for the keys.

    Examples
    --------
    >>> aug = Augmenter.from_config({"time_shift": 0.1, "snr_db": 20, "time_mask": 0.1})
    >>> rng = np.random.default_rng(0)
    >>> aug.signals(torch.randn(4, 2, 256), rng).shape, aug.images(torch.rand(4, 3, 32, 32), rng).shape
    (torch.Size([4, 2, 256]), torch.Size([4, 3, 32, 32]))
    """

    time_shift: float = 0.0
    shift_mode: str = "circular"
    gain_db: tuple[float, float] | None = None
    snr_db: tuple[float, float] | None = None
    time_mask: float = 0.0
    freq_mask: float = 0.0
    spectral: dict | None = None

    KEYS = ("time_shift", "shift_mode", "gain_db", "snr_db", "time_mask", "freq_mask", "spectral")
    # gain_db and snr_db take a number or a [low, high] pair, which _bounds reads.
    _parameter_constraints = {
        "time_shift": Interval(float, 0, 1, closed="left"),
        "shift_mode": Options(*SHIFT_MODES),
        "time_mask": Interval(float, 0, 1, closed="left"),
        "freq_mask": Interval(float, 0, 1, closed="left"),
    }

    @classmethod
    def from_config(cls, config: dict | None) -> Augmenter:
        """Parse and check an ``augment=`` dict.

        Keys (all optional):

        ``time_shift``
            Largest shift as a fraction of the signal length, e.g. 0.1.
        ``shift_mode``
            ``"circular"`` (default) or ``"zeros"``.
        ``gain_db``
            Gain range: ``6`` means uniform in [-6, +6] dB; ``[-3, 0]`` an explicit range.
        ``snr_db``
            Additive white noise at this SNR in dB, or uniform in a ``[low, high]`` range.
        ``time_mask``, ``freq_mask``
            Fraction of image columns (time) / rows (frequency) blanked in one band per image.
        ``spectral``
            Domain randomisation of spectra (:func:`spectral`): a dict with ``sr`` (grid points
            per eV) and any of ``energy_shift``, ``broadening``, ``baseline``, ``scale``,
            ``offset``, ``counts`` (a value or a ``[low, high]`` range; left out: the wide defaults).
            Applied first, before shift, gain and noise. Because it moves values far outside the
            clean spectra's range, an estimator fits its imager's scale on the training signals
            together with one distorted draw of them (:meth:`scale_sample`).

        Raises
        ------
        ParameterError
            Not a dict, an unknown key, or a value out of range.

        Examples
        --------
        >>> Augmenter.from_config({"gain_db": 6}).gain_db
        (-6.0, 6.0)
        >>> Augmenter.from_config({"time_mask": 1.5})
        Traceback (most recent call last):
        ...
        sigxfer.errors.ParameterError: augment: time_mask=1.5 must be a number in [0, 1)
        """
        if config is not None and not isinstance(config, dict):
            raise ParameterError(f"augment={config!r} must be a dict such as {{'time_shift': 0.1, 'snr_db': 20}}")
        config = dict(config or {})
        unknown = sorted(set(config) - set(cls.KEYS))
        if unknown:
            raise ParameterError(f"augment key {unknown[0]!r} is not known; use some of {list(cls.KEYS)}")
        values = {key: config.get(key, default) for key, default in
                  (("time_shift", 0.0), ("shift_mode", "circular"), ("time_mask", 0.0), ("freq_mask", 0.0))}
        check_params("augment", values, cls._parameter_constraints)
        return cls(
            time_shift=float(values["time_shift"]),
            shift_mode=values["shift_mode"],
            gain_db=None if config.get("gain_db") is None else _bounds("gain_db", config["gain_db"], symmetric=True),
            snr_db=None if config.get("snr_db") is None else _bounds("snr_db", config["snr_db"], symmetric=False),
            time_mask=float(values["time_mask"]),
            freq_mask=float(values["freq_mask"]),
            spectral=None if config.get("spectral") is None else _spectral_config(config["spectral"]),
        )

    @property
    def identity(self) -> bool:
        """True when nothing is set that changes a signal or an image: every epoch sees the same images.

        Examples
        --------
        >>> Augmenter.from_config(None).identity, Augmenter.from_config({"gain_db": 0}).identity
        (True, True)
        >>> Augmenter.from_config({"snr_db": 20}).identity
        False
        """
        return (self.spectral is None and not self.time_shift and self.gain_db in (None, (0.0, 0.0))
                and (self.snr_db is None or not math.isfinite(self.snr_db[1]))
                and not self.time_mask and not self.freq_mask)

    def signals(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """Spectral distortions, shift, then gain, then noise (so the SNR holds for the gained
        signal). (N, C, T) -> same."""
        if self.spectral is not None:
            x = self._spectral(x, rng)
        if self.time_shift:
            x = time_shift(x, self.time_shift, rng, mode=self.shift_mode)
        if self.gain_db is not None and self.gain_db != (0.0, 0.0):
            x = gain(x, self.gain_db, rng)
        if self.snr_db is not None and math.isfinite(self.snr_db[1]):
            x = add_noise(x, self.snr_db, rng)
        return x

    def _spectral(self, x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        params = {k: tuple(v) if isinstance(v, list) else v for k, v in self.spectral.items() if k != "sr"}
        return spectral(x, rng, sr=self.spectral["sr"], **params)

    def scale_sample(self, X: np.ndarray, seed: int = 0) -> np.ndarray:
        """The signals an imager's scale should be fitted on: ``X``, plus one distorted draw of
        ``X`` when spectral randomisation is on (its values reach well beyond the clean ones').

        Parameters
        ----------
        X : ndarray, shape (n_cases, n_channels, n_timepoints)
        seed : int
            Seeds the distorted draw.

        Returns
        -------
        ndarray, shape (n_cases, ...) or (2 * n_cases, ...), float32

        Examples
        --------
        >>> X = np.zeros((3, 1, 64), dtype=np.float32)
        >>> Augmenter.from_config({"spectral": {"sr": 1.0}}).scale_sample(X).shape
        (6, 1, 64)
        >>> Augmenter.from_config({"gain_db": 6}).scale_sample(X).shape
        (3, 1, 64)
        """
        if self.spectral is None:
            return X
        drawn = self._spectral(torch.from_numpy(np.ascontiguousarray(X)), np.random.default_rng(seed))
        return np.concatenate([X, drawn.numpy()])

    def images(self, images: torch.Tensor, rng: np.random.Generator, *, fill=0.0) -> torch.Tensor:
        """Time then frequency masks. (N, 3, H, W) -> same."""
        if self.time_mask:
            images = mask_time(images, self.time_mask, rng, fill=fill)
        if self.freq_mask:
            images = mask_freq(images, self.freq_mask, rng, fill=fill)
        return images
