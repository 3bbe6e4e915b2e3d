"""Tests for the synthetic data generators: spectra (sim-to-real regression) and spoken-digit-like audio."""

from __future__ import annotations

import doctest
import tempfile

import numpy as np
import pytest
from scipy.signal import stft
from sklearn.linear_model import LogisticRegression

import sigxfer.data.synth.audio
import sigxfer.data.synth.spectra
from sigxfer.data import experiment_like, make_devices, make_digits, make_spectra
from sigxfer.data.synth import DIGIT_WORDS, energy_axis
from sigxfer.data.synth.devices import make_devices as make_devices_in_module
from sigxfer.errors import ParameterError

E = energy_axis()


def _normalised(X: np.ndarray) -> np.ndarray:
    """Spectra (n, 1, T) scaled to 0 before the edge and 1 well after it, as one reads a measurement."""
    x = X[:, 0].astype(np.float64)
    pre = x[:, E < -15].mean(axis=1, keepdims=True)
    post = x[:, E > 80].mean(axis=1, keepdims=True)
    return (x - pre) / (post - pre)


def _edge_position(X: np.ndarray) -> np.ndarray:
    """Energy (eV) where each normalised spectrum first reaches one half, interpolated."""
    x = _normalised(X)
    i = np.argmax(x > 0.5, axis=1)
    lo, hi = x[np.arange(len(x)), i - 1], x[np.arange(len(x)), i]
    return E[i - 1] + (0.5 - lo) / (hi - lo) * (E[i] - E[i - 1])


def _oscillation(X: np.ndarray, low: float, high: float) -> float:
    """RMS of the spectra in [low, high] eV about a cubic fit: the EXAFS-like wiggles there."""
    window = (E >= low) & (E <= high)
    t = (E[window] - E[window].mean()) / E[window].std()
    basis = np.vander(t, 4)
    x = X[:, 0, window].astype(np.float64).T
    residual = x - basis @ np.linalg.lstsq(basis, x, rcond=None)[0]
    return float(np.sqrt(np.mean(residual**2)))


# -- make_spectra ----------------------------------------------------------------------------------
def test_spectra_shapes_targets_and_energy_grid():
    s = make_spectra(6, seed=0)
    assert s.X.shape == (6, 1, 512) and s.X.dtype == np.float32
    assert s.y.dtype == np.float64 and ((s.y >= 0.001) & (s.y <= 0.02)).all() and len(set(s.y)) == 6
    assert s.sr == pytest.approx(511 / 200.0)  # points per eV
    assert E[0] == -30.0 and E[-1] == 170.0 and np.diff(E) == pytest.approx(1 / s.sr)
    assert s.names[0] == "simulated-00000"
    assert (make_spectra(3, disorder=0.005, seed=0).y == 0.005).all()
    wide = make_spectra(200, disorder=(0.0, 0.05), seed=1).y
    assert wide.min() < 0.005 and wide.max() > 0.045
    clean = _normalised(s.X)
    assert np.abs(clean[:, E < -15]).max() < 0.01 and np.abs(clean[:, E > 150] - 1).max() < 0.1


def test_spectra_are_seeded():
    a, b = make_spectra(5, seed=7), make_spectra(5, seed=7)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, make_spectra(5, seed=8).X)
    real = make_spectra(5, kind="experimental", seed=7)
    np.testing.assert_array_equal(real.X, make_spectra(5, kind="experimental", seed=7).X)
    np.testing.assert_array_equal(real.y, a.y)  # the same samples, as the instrument records them


def test_disorder_damps_the_oscillations_as_a_debye_waller_factor():
    levels = (0.002, 0.006, 0.010, 0.015)
    spectra = {d: make_spectra(40, disorder=d, seed=3).X for d in levels}
    low_k = [_oscillation(spectra[d], 20, 60) for d in levels]
    high_k = [_oscillation(spectra[d], 60, 170) for d in levels]
    assert all(np.diff(high_k) < 0) and all(np.diff(low_k) < 0)  # more disorder, smaller wiggles
    assert high_k[-1] / high_k[0] < low_k[-1] / low_k[0] - 0.15  # and more so at high k
    # exp(-2 k^2 d sigma^2): the damping between the extremes puts k inside the window's k range.
    k = np.sqrt(np.log(high_k[0] / high_k[-1]) / (2 * (levels[-1] - levels[0])))
    assert np.sqrt(0.2625 * 60) < k < np.sqrt(0.2625 * 170)


def test_disorder_lowers_and_broadens_the_white_line():
    peaks = [_normalised(make_spectra(20, disorder=d, seed=4).X).max(axis=1).mean() for d in (0.001, 0.008, 0.02)]
    assert peaks[0] > peaks[1] > peaks[2] > 1.1


def test_experimental_spectra_differ_as_documented():
    sim = make_spectra(40, seed=5)
    real = make_spectra(40, kind="experimental", seed=5)
    shift = _edge_position(real.X) - _edge_position(sim.X)
    assert 1.2 < np.median(shift) < 2.8 and shift.std() < 0.5  # the calibration offset, about +2 eV
    before = real.X[:, 0, E < -15]
    jump = real.X[:, 0, E > 80].mean(axis=1) - before.mean(axis=1)
    assert ((before.mean(axis=1) > 0.1) & (before.mean(axis=1) < 0.5)).all()  # not normalised
    assert ((jump > 0.3) & (jump < 0.8)).all()
    # Counting noise: sample-to-sample wiggle before the edge, where the clean spectrum is flat.
    assert np.diff(before, n=2).std() > 20 * np.diff(sim.X[:, 0, E < -15], n=2).std()
    # (Broadening is small beside these and is checked on experiment_like itself.)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n": 0}, "n=0 must be an integer >= 1"), ({"kind": "measured"}, "kind='measured'"),
     ({"disorder": -0.1}, "disorder=-0.1"), ({"disorder": (0.02, 0.01)}, "low <= high"),
     ({"n_points": 10}, "n_points=10"), ({"energy_range": (5.0, 100.0)}, "must start below the edge"),
     ({"seed": -1}, "seed=-1")],
)
def test_spectra_parameter_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        make_spectra(**{"n": 2, **kwargs})


# -- experiment_like -------------------------------------------------------------------------------
_OFF = {"energy_shift": 0.0, "broadening": 0.0, "baseline": 0.0, "scale": 1.0, "offset": 0.0, "counts": None}


def test_experiment_like_with_every_distortion_off_is_the_identity():
    X = make_spectra(3, seed=0).X
    np.testing.assert_allclose(experiment_like(X, 0, sr=2.555, **_OFF), X, atol=1e-6)


def test_experiment_like_shift_scale_and_offset():
    step = np.where(np.arange(400) >= 100, 1.0, 0.0)[None, :]
    out = experiment_like(step, 0, sr=2.0, **{**_OFF, "energy_shift": 5.0})  # 5 eV = 10 points
    assert np.argmax(out[0] > 0.5) == 110
    out = experiment_like(step, 0, sr=2.0, **{**_OFF, "scale": 2.0, "offset": 0.5})
    assert out[0, 0] == 0.5 and out[0, -1] == 2.5


def test_experiment_like_broadening_keeps_the_area_and_sets_the_width():
    peak = np.zeros((1, 1, 301))
    peak[..., 150] = 1.0
    out = experiment_like(peak, 0, sr=4.0, **{**_OFF, "broadening": 3.0})[0, 0]
    assert out.sum() == pytest.approx(1.0, abs=1e-4)
    above = np.flatnonzero(out >= out.max() / 2)
    assert (above[-1] - above[0] + 1) / 4.0 == pytest.approx(3.0, abs=0.3)  # FWHM in eV


def test_experiment_like_noise_is_poisson_like():
    flat = np.ones((100, 512))
    out = experiment_like(flat, 0, sr=1.0, **{**_OFF, "counts": 1e4})
    assert out.mean() == pytest.approx(1.0, abs=1e-3)
    assert out.std() == pytest.approx(0.01, rel=0.05)  # sqrt(x / counts)
    brighter = experiment_like(4 * flat, 0, sr=1.0, **{**_OFF, "counts": 1e4})
    assert brighter.std() == pytest.approx(0.02, rel=0.05)


def test_experiment_like_is_seeded_and_keeps_shape():
    X = make_spectra(4, seed=0).X
    a, b = experiment_like(X, 3, sr=2.555), experiment_like(X, np.random.default_rng(3), sr=2.555)
    assert a.shape == X.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, experiment_like(X, 3, sr=2.555))
    assert not np.array_equal(a, experiment_like(X, 4, sr=2.555))
    assert b.shape == X.shape
    assert experiment_like(X[0, 0], 0, sr=2.555).shape == (512,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"broadening": -1.0}, "broadening=-1.0"), ({"counts": 0.0}, "counts=0.0"), ({"sr": 0.0}, "sr=0.0"),
     ({"baseline": -0.1}, "baseline=-0.1"), ({"scale": (2.0, 1.0)}, "low <= high")],
)
def test_experiment_like_parameter_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        experiment_like(np.zeros((2, 64)), 0, **{"sr": 1.0, **kwargs})
    with pytest.raises(ParameterError, match="n_points >= 2"):
        experiment_like(np.zeros((2, 1)), 0, sr=1.0)


# -- make_digits -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return make_digits(12, seed=1)


def test_digits_shapes_labels_and_levels(digits):
    assert digits.X.shape == (120, 1, 8000) and digits.X.dtype == np.float32 and digits.sr == 8000.0
    assert digits.y.tolist() == [w for w in DIGIT_WORDS for _ in range(12)]
    assert digits.names[12] == "one-0000"
    peak = np.abs(digits.X).max(axis=(1, 2))
    assert np.isfinite(digits.X).all() and (peak <= 0.9 + 1e-6).all() and (peak > 0.01).all()
    assert make_digits(1, sr=16000, duration=0.5, seed=0).X.shape == (10, 1, 8000)


def test_digits_are_seeded():
    a = make_digits(2, duration=0.5, seed=4)
    np.testing.assert_array_equal(a.X, make_digits(2, duration=0.5, seed=4).X)
    assert not np.array_equal(a.X, make_digits(2, duration=0.5, seed=5).X)


def _log_spectra(X: np.ndarray) -> np.ndarray:
    _, _, Z = stft(X[:, 0], fs=8000, nperseg=256)
    power = np.log(np.abs(Z) ** 2 + 1e-10)
    return np.concatenate([power.mean(axis=-1), power.std(axis=-1)], axis=1)


def test_digits_are_learnable_by_a_simple_baseline(digits):
    test = make_digits(6, seed=2)  # other speakers
    train_x, test_x = _log_spectra(digits.X), _log_spectra(test.X)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    model = LogisticRegression(C=0.1, max_iter=2000).fit((train_x - mean) / std, digits.y)
    assert model.score((test_x - mean) / std, test.y) > 0.6  # chance is 0.1


def test_digits_vary_like_speakers_and_keep_their_phonetics(digits):
    one = digits.X[digits.y == "one", 0]
    assert np.abs(np.corrcoef(one)[np.triu_indices(len(one), 1)]).max() < 0.5  # no two clips alike
    spectrum = np.abs(np.fft.rfft(digits.X[:, 0], axis=1)) ** 2
    freq = np.fft.rfftfreq(8000, 1 / 8000)
    hiss = spectrum[:, freq > 2500].sum(axis=1) / spectrum.sum(axis=1)
    assert hiss[digits.y == "six"].mean() > 3 * hiss[digits.y == "one"].mean()  # "s" against a nasal vowel


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_per_class": 0}, "n_per_class=0"), ({"sr": 4000}, "at least 6000 Hz"),
     ({"duration": 0.1}, "between 0.25 and 10"), ({"snr_db": (30.0, 10.0)}, "low <= high")],
)
def test_digits_parameter_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        make_digits(**{"n_per_class": 1, **kwargs})


# -- the package -----------------------------------------------------------------------------------
def test_make_devices_keeps_its_import_paths():
    assert make_devices is make_devices_in_module
    np.testing.assert_array_equal(make_devices(2, seed=0).X, make_devices_in_module(2, seed=0).X)


@pytest.mark.parametrize("module", [sigxfer.data.synth.spectra, sigxfer.data.synth.audio])
def test_docstring_examples_hold(module, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert doctest.testmod(module).failed == 0
