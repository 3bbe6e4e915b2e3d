"""Sim-to-real: starting from a fitted model (init=) with its lineage, spectral domain
randomisation, and prediction intervals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

import sigxfer
from sigxfer.data import experiment_like, make_spectra
from sigxfer.errors import DataError, NotFittedError, ParameterError
from sigxfer.learning.augment import Augmenter, spectral
from sigxfer.learning.cache import tensor_digest
from sigxfer.learning.intervals import fit_interval_heads
from sigxfer.learning.strategies import FineTune

N_POINTS = 128
FINETUNE = {"name": "finetune", "epochs": 1, "head_epochs": 1, "val_size": 0.0}


def _model(cls=sigxfer.TransferRegressor, **params):
    """Every estimator of this file, built in one place."""
    defaults = dict(backbone="tinynet", image_size=32, imaging="waveform", random_state=0, progress=False)
    return cls(**{**defaults, **params})


def _body(model) -> dict:
    return {k: v for k, v in model.net_.backbone.state_dict().items() if not k.startswith("classifier")}


@pytest.fixture(scope="module")
def spectra():
    sim = make_spectra(48, n_points=N_POINTS, seed=0)
    real = make_spectra(6, n_points=N_POINTS, kind="experimental", seed=1)
    return sim, real


@pytest.fixture(scope="module")
def stage1(spectra):
    sim, _ = spectra
    return _model(strategy={**FINETUNE, "augment": {"spectral": {"sr": sim.sr}}}).fit(sim)


# ------------------------------------------------------------------------------------ init=, lineage
def test_a_second_stage_starts_from_the_first_and_records_both(stage1, spectra):
    sim, real = spectra
    stage2 = _model(init=stage1, strategy={"name": "finetune", "epochs": 0, "head_epochs": 2, "val_size": 0.0})
    stage2.fit(real)
    # Head-only training: the body is stage 1's, weight for weight; the head continued from stage 1's.
    first, second = _body(stage1), _body(stage2)
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    assert stage2.history_["warm_start"] is True
    assert not torch.equal(stage1.net_.head.weight, stage2.net_.head.weight)
    # The imager and its scale, and the target scaling, are stage 1's (five real cases decide nothing).
    assert torch.equal(stage2.imager_.scale, stage1.imager_.scale)
    np.testing.assert_array_equal(stage2.y_mean_, stage1.y_mean_)
    lineage = stage2.lineage_
    assert [s["n_cases"] for s in lineage] == [len(sim), len(real)]
    assert lineage[0]["from"] == "imagenet" and lineage[0]["strategy"] == "finetune"
    assert lineage[1]["from"] == {"name": None, "sha256": tensor_digest(stage1.net_.state_dict())}
    assert lineage[0]["data"]["fingerprint"] != lineage[1]["data"]["fingerprint"]
    assert lineage[1]["data"]["shape"] == [len(real), 1, N_POINTS]


def test_the_lineage_travels_in_model_files_across_three_stages(stage1, spectra, tmp_path):
    import hashlib

    _, real = spectra
    path1 = sigxfer.save(stage1, tmp_path / "sim.sigx")
    stage2 = _model(init=path1, strategy="linear").fit(real[:4])
    assert stage2.lineage_[1]["from"] == {"name": "sim.sigx", "sha256": hashlib.sha256(path1.read_bytes()).hexdigest()}
    path2 = sigxfer.save(stage2, tmp_path / "real.sigx")
    loaded = sigxfer.load(path2)
    assert loaded.lineage_ == stage2.lineage_ and loaded.get_params()["init"] == str(path1)
    assert sigxfer.deploy.read_config(path2)["lineage"] == stage2.lineage_
    stage3 = _model(init=loaded, strategy="linear").fit(real[4:])
    assert [s["n_cases"] for s in stage3.lineage_] == [48, 4, 2]
    # A path survives clone (cross-validation); an in-memory init is stored as None in the file.
    assert clone(stage2).init == path1
    assert sigxfer.deploy.read_config(sigxfer.save(stage3, tmp_path / "3.sigx"))["params"]["init"] is None


def test_one_real_case_calibrates_the_first_stage_by_its_offset(stage1, spectra):
    _, real = spectra
    stage2 = _model(init=stage1, strategy="linear").fit(real[:1])
    offset = real.y[0] - stage1.predict(real[:1])[0]
    np.testing.assert_allclose(stage2.predict(real), stage1.predict(real) + offset, rtol=1e-4, atol=1e-7)
    assert torch.equal(_body(stage2)["layers.0.0.weight"], _body(stage1)["layers.0.0.weight"])


def test_starting_points_that_cannot_apply_are_refused_in_words(stage1, spectra):
    _, real = spectra
    with pytest.raises(NotFittedError, match=r"init= holds an unfitted TransferRegressor; fit it first"):
        _model(init=_model()).fit(real)
    with pytest.raises(ParameterError, match=r"init= was fitted with backbone 'tinynet' but backbone='efficientnet_lite0'"):
        _model(init=stage1, backbone="efficientnet_lite0").fit(real)
    with pytest.raises(ParameterError, match=r"strategy 'scratch' trains from random weights, which init= replaces"):
        _model(init=stage1, strategy="scratch").fit(real)
    with pytest.raises(DataError, match=rf"x 64 samples but init= was fitted on 1 x {N_POINTS}; bring the data"):
        _model(init=stage1).fit(real.X[:, :, :64], real.y)
    labels = np.array(["a", "b"] * 3)
    with pytest.raises(ParameterError, match=r"init= is a TransferRegressor and this is a TransferClassifier"):
        _model(sigxfer.TransferClassifier, init=stage1).fit(real.X, labels)
    with pytest.raises(ParameterError, match=r"TransferRegressor: init=3 must be None, a string, a path or a BaseEstimator"):
        _model(init=3).fit(real)


# ------------------------------------------------------------------------------------ randomisation
def test_spectral_augmentation_applies_the_documented_distortions():
    sim = make_spectra(3, n_points=256, seed=2)
    x = torch.as_tensor(sim.X)
    still = dict(energy_shift=0.0, broadening=0.0, baseline=0.0, scale=1.0, offset=0.0, counts=None)
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(spectral(x, rng, sr=sim.sr, **{**still, "scale": 2.0, "offset": 0.5}).numpy(),
                               2 * sim.X + 0.5, atol=1e-5)
    # A +4 eV shift moves the edge (steepest rise) 4 eV up the energy axis.
    shifted = spectral(x, rng, sr=sim.sr, **{**still, "energy_shift": 4.0}).numpy()
    rise = lambda s: np.argmax(np.diff(s[:, 0], axis=1), axis=1)  # noqa: E731
    np.testing.assert_allclose((rise(shifted) - rise(sim.X)) / sim.sr, 4.0, atol=1.0 / sim.sr)
    # Counting noise has the variance x / counts.
    flat = torch.full((400, 1, 256), 0.5)
    noisy = spectral(flat, rng, sr=1.0, **{**still, "counts": 200.0}).numpy()
    assert abs(noisy.var() - 0.5 / 200) < 0.1 * 0.5 / 200
    # The same as experiment_like from the same generator state, and seeded.
    aug = Augmenter.from_config({"spectral": {"sr": sim.sr}})
    np.testing.assert_allclose(aug.signals(x, np.random.default_rng(7)).numpy(),
                               experiment_like(sim.X, np.random.default_rng(7), sr=sim.sr), atol=1e-6)
    a, b = (aug.signals(x, np.random.default_rng(s)).numpy() for s in (7, 8))
    assert np.array_equal(a, aug.signals(x, np.random.default_rng(7)).numpy()) and not np.allclose(a, b)


def test_spectral_augmentation_options_are_checked():
    with pytest.raises(ParameterError, match=r"augment spectral needs sr, the grid points per eV"):
        Augmenter.from_config({"spectral": {}})
    with pytest.raises(ParameterError, match=r"augment spectral key 'shift' is not known"):
        Augmenter.from_config({"spectral": {"sr": 1.0, "shift": 2}})
    with pytest.raises(ParameterError, match=r"broadening=-1.0 must be a number or a \(low, high\) pair"):
        Augmenter.from_config({"spectral": {"sr": 1.0, "broadening": -1.0}})
    with pytest.raises(ParameterError, match=r"augment spectral needs sr"):
        FineTune(augment={"spectral": {"scale": 2.0}})


def test_the_imager_scale_covers_the_randomised_spectra(stage1, spectra):
    sim, _ = spectra
    plain = _model(strategy=FINETUNE).fit(sim)
    lo, hi = stage1.imager_.scale.tolist()
    assert lo < plain.imager_.scale[0].item() and hi > plain.imager_.scale[1].item()
    again = _model(strategy={**FINETUNE, "augment": {"spectral": {"sr": sim.sr}}}).fit(sim)
    np.testing.assert_array_equal(again.predict(sim), stage1.predict(sim))  # seeded, augmentation included


# ------------------------------------------------------------------------------------ intervals
def _linear_problem(n, seed):
    rng = np.random.default_rng(seed)
    w = np.array([1.0, -0.5, 0.25, 0.0, 0.8])
    e = rng.normal(size=(n, 5))
    return e, (e @ w + 0.3 * rng.normal(size=n))[:, None]


def test_cv_plus_intervals_cover_at_the_nominal_rate_and_widen_with_fewer_cases():
    e_test, y_test = _linear_problem(4000, seed=99)
    coverage, width = {}, {}
    for n in (15, 80):
        covered, widths = [], []
        for seed in range(10):
            heads = fit_interval_heads(*_linear_problem(n, seed))
            low, high = heads.bounds(e_test, 0.1)
            covered.append(np.mean((low <= y_test) & (y_test <= high)))
            widths.append(np.mean(high - low))
        coverage[n], width[n] = np.mean(covered), np.mean(widths)
    assert 0.85 <= coverage[80] <= 0.96 and 0.85 <= coverage[15] <= 0.99
    assert width[15] > 1.15 * width[80]


def test_too_few_cases_give_infinite_bounds_and_alpha_is_checked():
    for n in (1, 5, 8):
        low, high = fit_interval_heads(*_linear_problem(n, 0)).bounds(np.zeros((2, 5)), 0.1)
        assert np.isinf(high).all() and np.isinf(low).all()
    low, high = fit_interval_heads(*_linear_problem(9, 0)).bounds(np.zeros((2, 5)), 0.1)
    assert np.isfinite(high).all() and np.isfinite(low).all()  # ceil(0.9 * 10) = 9 <= 9
    with pytest.raises(ParameterError, match=r"alpha=1.5 must be a number in \(0, 1\)"):
        fit_interval_heads(*_linear_problem(9, 0)).bounds(np.zeros((1, 5)), 1.5)


def _amplitudes(n, seed):
    """Sine bursts whose RMS is the target: tinynet's waveform features follow how far the curve swings."""
    rng = np.random.default_rng(seed)
    t = np.arange(256) / 256.0
    amp = rng.uniform(0.2, 5.0, size=(n, 1))
    x = amp * np.sin(2 * np.pi * rng.uniform(10, 100, size=(n, 1)) * t) + 0.05 * rng.standard_normal((n, 256))
    return x[:, None, :].astype(np.float32), np.sqrt((x ** 2).mean(axis=1))


@pytest.mark.slow
def test_a_regressor_gives_intervals_that_hold_the_truth_and_survive_its_model_file(tmp_path):
    X_test, y_test = _amplitudes(300, seed=50)
    results = {}
    for n in (20, 100):
        X, y = _amplitudes(n, seed=n)
        model = _model().fit(X, y)
        low, high = model.predict_interval(X_test, alpha=0.1)
        results[n] = (np.mean((low <= y_test) & (y_test <= high)), np.median(high - low))
    assert 0.8 <= results[100][0] <= 0.98 and 0.8 <= results[20][0]
    assert results[20][1] > results[100][1]
    loaded = sigxfer.load(sigxfer.save(model, tmp_path / "m.sigx"))
    for got, want in zip(loaded.predict_interval(X_test[:5], alpha=0.2), model.predict_interval(X_test[:5], alpha=0.2)):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    single = _model().fit(X[:1], y[:1])
    assert np.isinf(single.predict_interval(X_test[:3])[1]).all()  # one case: nothing can be promised


def test_the_imaging_comes_from_init_and_another_one_is_refused(stage1, spectra):
    _, real = spectra
    for default in ("spectrogram", {"name": "spectrogram"}):  # the command line passes the dict
        assert _model(init=stage1, imaging=default, strategy="linear").fit(real).imager_.transform.name == "waveform"
    with pytest.raises(ParameterError, match=r"init= images with 'waveform' but imaging='mel:n_mels=8'"):
        _model(init=stage1, imaging="mel:n_mels=8").fit(real)
