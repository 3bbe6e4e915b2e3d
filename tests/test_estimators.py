"""TransferClassifier / TransferRegressor: scikit-learn behaviour, determinism, errors."""

import numpy as np
import pytest
from sklearn.base import clone

from sigxfer import DataError, NotFittedError, ParameterError, TransferClassifier, TransferRegressor, make_devices
from sigxfer.data import train_test_split_signals

FAST = dict(backbone="tinynet", image_size=32, imaging="spectrum", random_state=0, progress=False)


@pytest.fixture(scope="module")
def devices():
    return train_test_split_signals(make_devices(24, n_timepoints=512, sr=512.0, seed=1),
                                    test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def fitted(devices):
    train, _ = devices
    return TransferClassifier(**FAST).fit(train)


def test_fit_predict_shapes_and_probabilities(fitted, devices):
    _, test = devices
    proba = fitted.predict_proba(test)
    assert proba.shape == (len(test), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert list(fitted.classes_) == ["high", "low"]
    pred = fitted.predict(test)
    assert set(pred) <= {"high", "low"}
    np.testing.assert_array_equal(pred, fitted.classes_[proba.argmax(axis=1)])
    assert 0.0 <= fitted.score(test.X, test.y) <= 1.0
    assert fitted.n_timepoints_ == 512 and fitted.n_channels_ == 1 and fitted.sr_ == 512.0


def test_arrays_and_signalset_give_the_same_model(devices, fitted):
    train, test = devices
    from_arrays = TransferClassifier(**FAST, sr=512.0).fit(train.X, train.y)
    np.testing.assert_allclose(from_arrays.predict_proba(test.X), fitted.predict_proba(test), atol=1e-6)


def test_same_random_state_same_predictions(devices, fitted):
    train, test = devices
    again = TransferClassifier(**FAST).fit(train)
    np.testing.assert_array_equal(again.predict_proba(test), fitted.predict_proba(test))


def test_clone_round_trip_and_params():
    est = TransferClassifier(imaging={"name": "spectrogram", "n_fft": 64}, backbone="tinynet",
                             strategy="linear", random_state=3)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    copy.set_params(imaging="spectrum")
    assert copy.imaging == "spectrum" and est.imaging == {"name": "spectrogram", "n_fft": 64}
    assert not hasattr(copy, "net_")


def test_linear_head_matches_its_logistic_regression(fitted, devices):
    # The folded torch head must reproduce the sklearn probe's training accuracy exactly.
    train, _ = devices
    acc = float((fitted.predict(train) == train.y).mean())
    assert acc == pytest.approx(fitted.history_["train_accuracy"])
    assert fitted.history_["strategy"]["name"] == "linear"
    assert fitted.history_["C"] > 0


def test_transfer_images_and_embeddings(fitted, devices):
    _, test = devices
    images = fitted.to_images(test)
    assert images.shape == (len(test), 3, 32, 32)
    assert images.min() >= 0.0 and images.max() <= 1.0
    emb = fitted.embed(test)
    assert emb.shape[0] == len(test) and emb.ndim == 2


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        TransferClassifier().predict(np.zeros((2, 1, 64), dtype=np.float32))


def test_one_class_raises(devices):
    train, _ = devices
    with pytest.raises(DataError, match="only one class"):
        TransferClassifier(**FAST).fit(train.X, np.full(len(train), "low"))


def test_nan_signal_is_named(devices):
    train, _ = devices
    X = train.X.copy()
    X[3, 0, 10] = np.nan
    with pytest.raises(DataError, match=train.names[3]):
        TransferClassifier(**FAST).fit(train.__class__(X=X, y=train.y, sr=train.sr, names=train.names))


def test_wrong_shapes_raise(fitted, devices):
    _, test = devices
    with pytest.raises(DataError, match="256 samples but the model was fitted on 512; load files with length=512"):
        fitted.predict(test.X[:, :, :256])
    with pytest.raises(DataError, match="Reshape your data"):
        fitted.predict(np.zeros((2, 1, 1, 512)))
    with pytest.raises(DataError, match="one label per case"):
        TransferClassifier(**FAST).fit(test.X, test.y[:-1])


def test_unknown_transform_and_strategy(devices):
    train, _ = devices
    with pytest.raises(ParameterError, match="imaging 'sonogram' is not known"):
        TransferClassifier(**{**FAST, "imaging": "sonogram"}).fit(train)
    with pytest.raises(ParameterError, match="strategy='magic' is not known"):
        TransferClassifier(**{**FAST, "strategy": "magic"}).fit(train)
    with pytest.raises(ParameterError, match="takes no parameter 'n_ffts'"):
        TransferClassifier(**{**FAST, "imaging": {"name": "spectrum", "n_ffts": 3}}).fit(train)


def test_random_weights_baseline_reestimates_batchnorm(devices):
    train, test = devices
    model = TransferClassifier(**{**FAST, "backbone": "tinynet"}, pretrained=False).fit(train)
    emb = model.embed(test)
    # Without re-estimated BatchNorm statistics the features would be near-constant across cases.
    assert emb.std(axis=0).mean() > 1e-3


def test_regressor_learns_a_frequency():
    # Global average pooling throws away where a peak sits in the picture, so a tiny net cannot
    # read a frequency off a spectrum; the pretrained net reading spectrograms can (measured R2 0.91).
    rng = np.random.default_rng(0)
    sr, n = 512.0, 512
    t = np.arange(n) / sr
    f0 = rng.uniform(20, 200, size=80)
    X = (np.sin(2 * np.pi * f0[:, None] * t + rng.uniform(0, 6.28, (80, 1)))
         + 0.1 * rng.standard_normal((80, n))).astype(np.float32)
    model = TransferRegressor(imaging="spectrogram", sr=sr, random_state=0, progress=False)
    model.fit(X[:60], f0[:60])
    pred = model.predict(X[60:])
    assert pred.shape == (20,)
    assert model.score(X[60:], f0[60:]) > 0.8
