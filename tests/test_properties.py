"""Properties that hold for any input: a correct result or a one-line sigxfer error, never a crash.

Hypothesis draws shapes (1 to 2,048 samples here; 10**5 in the explicit long-signal cases),
channel counts (1-6), sample rates, dtypes, class counts (1-5, unbalanced), every imaging and
every channel mode, and runs them through fit -> save -> load -> predict on the tiny test
network. Each example ends in exactly one of two ways:

- a result: predictions drawn from the classes, probabilities that sum to 1, and a loaded model
  that predicts exactly (bit for bit) what the fitted one did;
- a :class:`sigxfer.SigxferError` whose message is one line.

Below them, the input checks (:func:`sigxfer._checks.as_signals`) and the window rule
(:func:`sigxfer.imaging.resolve.imaging_defaults`) get properties of their own.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import sigxfer
from sigxfer import SignalSet, SigxferError, TransferClassifier, TransferRegressor
from sigxfer._checks import as_signals
from sigxfer.errors import DataError
from sigxfer.imaging import CHANNEL_MODES, Imager, list_transforms
from sigxfer.imaging.resolve import ImagingSpec, build_imager, imaging_defaults

from _limits import memory_ceiling

IMAGINGS = list_transforms()
DTYPES = ["float16", "float32", "float64", "int16", "int32", "bool", "object"]
SAMPLE_RATES = [None, 1, 1.0, 0.5, 250.0, 8000, 44100, 48000.0, np.float32(16000), np.int64(22050)]
#: Each end-to-end example costs a fit of the tiny network: a few dozen keep the file fast.
END_TO_END = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=200, deadline=None, derandomize=True)


def make_estimator(cls=TransferClassifier, *, imaging="spectrogram", **params):
    """The one place estimators are built here, with the test network and a fixed linear head."""
    return cls(imaging=imaging, backbone="tinynet", image_size=32, strategy={"name": "linear", "C": 1.0},
               progress=False, random_state=0, **params)


def signals(seed: int, shape, dtype: str, amplitude: float = 1.0) -> np.ndarray:
    """Random signals of ``shape`` in ``dtype`` (object: an array of Python floats and ints)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape) * amplitude
    if dtype == "bool":
        return x > 0
    if dtype == "object":
        out = x.astype(object)
        out.flat[::2] = [int(v) for v in np.round(x.flat[::2])]
        return out
    if dtype.startswith("int"):
        return np.clip(np.round(x * 100), -30000, 30000).astype(dtype)
    return x.astype(dtype)


def assert_one_line(err: BaseException) -> None:
    text = str(err)
    assert text.strip(), f"{type(err).__name__} with an empty message"
    assert "\n" not in text, f"{type(err).__name__} message spans lines: {text!r}"


def round_trip(model, tmp_path):
    """The model as saved to a file and loaded back."""
    return sigxfer.load(sigxfer.save(model, tmp_path / "model.sigx"))


@st.composite
def tasks(draw, max_timepoints=2048):
    """A labelled classification task: (X, y, sr, imaging, channel_mode)."""
    n_classes = draw(st.integers(1, 5))
    # Unbalanced on purpose: each case picks a class with skewed weights, so some classes get one
    # case and some none (a task with one class present must be refused, not crash).
    weights = draw(st.lists(st.integers(1, 8), min_size=n_classes, max_size=n_classes))
    n_cases = draw(st.integers(max(2, n_classes), 12))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    y = rng.choice(n_classes, size=n_cases, p=np.asarray(weights) / sum(weights))
    if draw(st.booleans()):
        y = np.asarray([f"class-{v}" for v in y])
    n_timepoints = draw(st.one_of(st.integers(1, 64), st.integers(65, max_timepoints)))
    n_channels = draw(st.integers(1, 6))
    dtype = draw(st.sampled_from(DTYPES))
    amplitude = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    X = signals(seed, (n_cases, n_channels, n_timepoints), dtype, amplitude)
    if draw(st.integers(0, 9)) == 0:  # now and then a silent recording
        X = np.zeros_like(X)
    return X, y, draw(st.sampled_from(SAMPLE_RATES)), draw(st.sampled_from(IMAGINGS)), draw(st.sampled_from(CHANNEL_MODES))


# ----------------------------------------------------------------------------- end to end
@pytest.mark.filterwarnings("ignore::UserWarning")  # empty mel bands on tiny windows are warned about
@END_TO_END
@given(task=tasks())
@example(task=(np.zeros((4, 1, 1)), np.array([0, 1, 0, 1]), None, "spectrogram", "auto"))
@example(task=(np.ones((3, 6, 7), dtype="int16"), np.array(["a", "b", "b"]), 8000, "mel", "tile"))
@example(task=(signals(1, (5, 3, 300), "float16"), np.array([0, 0, 0, 0, 1]), 44100, "scalogram", "rgb"))
@example(task=(signals(2, (6, 2, 100), "object"), np.array([3, 3, 3, 3, 3, 3]), 1, "gaf", "mean"))
def test_fit_save_load_predict_is_exact_or_a_sigxfer_error(task, tmp_path_factory):
    X, y, sr, imaging, channel_mode = task
    tmp_path = tmp_path_factory.mktemp("model")
    try:
        model = make_estimator(imaging=imaging, channel_mode=channel_mode, sr=sr).fit(X, y)
        loaded = round_trip(model, tmp_path)
        proba, again = model.predict_proba(X), loaded.predict_proba(X)
        predictions = loaded.predict(X)
    except SigxferError as err:
        assert_one_line(err)
        event(f"refused: {type(err).__name__}")
        return
    event("predicted")
    np.testing.assert_array_equal(model.classes_, np.unique(y))
    assert proba.shape == (len(X), len(model.classes_))
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(again, proba)  # bit for bit, not approximately
    assert set(predictions) <= set(model.classes_)
    np.testing.assert_array_equal(predictions, model.predict(X))


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), n_timepoints=st.integers(1, 512), n_targets=st.integers(1, 3),
       imaging=st.sampled_from(IMAGINGS), sr=st.sampled_from(SAMPLE_RATES))
def test_regressor_round_trip_is_exact_or_a_sigxfer_error(seed, n_timepoints, n_targets, imaging, sr,
                                                          tmp_path_factory):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(8, 1, n_timepoints)).astype("float32")
    y = rng.normal(size=(8, n_targets)) * 10.0 ** rng.integers(-3, 4)
    y = y[:, 0] if n_targets == 1 else y
    try:
        model = make_estimator(TransferRegressor, imaging=imaging, sr=sr).fit(X, y)
        loaded = round_trip(model, tmp_path_factory.mktemp("model"))
        again = loaded.predict(X)
    except SigxferError as err:
        assert_one_line(err)
        return
    predictions = model.predict(X)
    assert predictions.shape == y.shape and np.isfinite(predictions).all()
    np.testing.assert_array_equal(again, predictions)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("imaging", [pytest.param(i, marks=pytest.mark.slow) if i == "spectrum" else i
                                     for i in IMAGINGS])
def test_long_recordings_round_trip_exactly(imaging, tmp_path):
    # 10**5 samples (the wavelet transform: 10**4, its cost grows faster than the length).
    n = 10_000 if imaging == "scalogram" else 100_000
    X = signals(0, (4, 3, n), "float32")
    model = make_estimator(imaging=imaging, sr=44100).fit(X, [0, 1, 0, 1])
    np.testing.assert_array_equal(round_trip(model, tmp_path).predict_proba(X), model.predict_proba(X))


#: Each imaging's parameters (librosa's names), and values to try for them: usual, extreme, wrong.
IMAGING_PARAMS = {
    "spectrogram": ["n_fft", "hop_length", "win_length", "window", "fmin", "fmax", "db"],
    "mel": ["n_fft", "hop_length", "win_length", "window", "n_mels", "fmin", "fmax", "db"],
    "spectrum": ["db", "fmin", "fmax", "window"],
    "scalogram": ["fmin", "fmax", "voices_per_octave", "w0", "db"],
    "gaf": ["method", "rescale", "n_points"],
    "recurrence": ["dimension", "time_delay", "threshold", "n_points"],
    "waveform": ["thickness"],
}
VALUES = [None, 0, 1, 2, 3, 16, 64, 4096, 10**6, 10**9, -1, 0.5, 1e-9, 1e9, 100.0, float("nan"), float("inf"),
          True, "x", "hann", "boxcar", "summation", "series", [], {}]


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=150, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(IMAGING_PARAMS)), data=st.data())
def test_any_imaging_parameter_gives_a_result_or_a_sigxfer_error(name, data):
    keys = data.draw(st.lists(st.sampled_from(IMAGING_PARAMS[name]), min_size=1, max_size=2, unique=True))
    params = {key: data.draw(st.sampled_from(VALUES), label=key) for key in keys}
    X = signals(0, (4, 2, 300), "float32")
    with memory_ceiling(3 << 30):  # n_fft=10**9 must be refused, not allocated first
        try:
            model = make_estimator(imaging={"name": name, **params}, sr=8000).fit(X, [0, 1] * 2)
            proba = model.predict_proba(X)
        except SigxferError as err:
            assert_one_line(err)
            event("refused")
            return
    event("predicted")
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("channel_mode", CHANNEL_MODES)
@pytest.mark.parametrize("imaging", IMAGINGS)
def test_every_imaging_with_every_channel_mode(imaging, channel_mode, tmp_path):
    # The channel count each mode is for (grey: 1, rgb: 3), and 4 for the others (tiled or averaged).
    n_channels = {"grey": 1, "rgb": 3}.get(channel_mode, 4)
    X = signals(3, (6, n_channels, 256), "float32")
    model = make_estimator(imaging=imaging, channel_mode=channel_mode, sr=8000).fit(X, ["x", "y", "z"] * 2)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(round_trip(model, tmp_path).predict_proba(X), proba)
    if channel_mode in ("grey", "rgb"):  # the other count is refused in words
        with pytest.raises(sigxfer.ParameterError, match=f"channel_mode='{channel_mode}' needs"):
            make_estimator(imaging=imaging, channel_mode=channel_mode, sr=8000).fit(signals(3, (6, 2, 256), "float32"),
                                                                                    ["x", "y", "z"] * 2)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, raises=(MemoryError, RuntimeError),
                   reason="imaging: the scalogram's DFT bases grow as n ** 1.5 (a 10**5-sample scalogram "
                          "peaks near 7.7 GB and 150 s), so a long recording exhausts memory instead of imaging")
def test_a_long_scalogram_fits_in_bounded_memory():
    x = signals(0, (4, 1, 50_000), "float32")
    with memory_ceiling(2 << 30):
        pictures = Imager("scalogram", sr=44100, size=32).fit(x).pictures(__import__("torch").as_tensor(x))
    assert tuple(pictures.shape) == (4, 3, 32, 32)


# ----------------------------------------------------------------------------- as_signals
@st.composite
def arrays(draw):
    shape = draw(st.sampled_from([2, 3]))
    n_cases, n_channels, n_timepoints = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 50))
    dims = (n_cases, n_timepoints) if shape == 2 else (n_cases, n_channels, n_timepoints)
    dtype = draw(st.sampled_from(DTYPES))
    # Tiny and huge values, within what each dtype holds (float16 ends at 65504).
    amplitude = draw(st.sampled_from([1e-30, 1.0, 1e3 if dtype == "float16" else 1e30]))
    return signals(draw(st.integers(0, 2**31 - 1)), dims, dtype, amplitude)


@FAST
@given(X=arrays())
def test_coercion_is_idempotent(X):
    first = as_signals(X)
    again = as_signals(first.X)
    assert first.X.dtype == np.float32 and first.X.ndim == 3 and first.X.flags.c_contiguous
    np.testing.assert_array_equal(again.X, first.X)
    assert again.names == first.names == [f"case-{i}" for i in range(len(X))]
    # A SignalSet keeps its names and sample rate through the same door.
    wrapped = as_signals(SignalSet(first.X, sr=100.0, names=[f"f{i}.wav" for i in range(len(X))]))
    np.testing.assert_array_equal(wrapped.X, first.X)
    assert wrapped.names == [f"f{i}.wav" for i in range(len(X))] and wrapped.sr == 100.0


@FAST
@given(seed=st.integers(0, 2**31 - 1), dims=st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(1, 40)),
       bad=st.sampled_from([np.nan, np.inf, -np.inf]), n_bad=st.integers(1, 4), named=st.booleans(),
       dtype=st.sampled_from(["float16", "float32", "float64", "object"]))
def test_nan_or_infinity_anywhere_is_found_and_named(seed, dims, bad, n_bad, named, dtype):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=dims).astype(dtype)
    spots = [tuple(int(rng.integers(d)) for d in dims) for _ in range(n_bad)]
    for spot in spots:
        X[spot] = bad
    first = min(spots)  # the first in (case, channel, sample) order is the one reported
    names = [f"rec-{i}.wav" for i in range(dims[0])]
    data = SignalSet(X.astype("float64"), names=names) if named and dtype != "object" else X
    where = names[first[0]] if data is not X else f"case {first[0]}"
    what = "NaN" if np.isnan(bad) else "infinite values"
    expected = f"{where}: signal holds {what} (channel {first[1]}, sample {first[2]})"
    with pytest.raises(DataError) as info:
        as_signals(data)
    assert str(info.value).startswith(expected)
    assert_one_line(info.value)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), value=st.floats(3.5e38, 1e308), sign=st.sampled_from([1, -1]))
def test_values_beyond_float32_are_named_not_turned_into_infinity(seed, value, sign):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3, 2, 20))
    spot = tuple(int(rng.integers(d)) for d in X.shape)
    X[spot] = sign * value
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in cast" either
        with pytest.raises(DataError, match=rf"case {spot[0]}: signal holds .* \(channel {spot[1]}, "
                                            rf"sample {spot[2]}\), beyond float32's range"):
            as_signals(X)


@pytest.mark.parametrize("X, match", [
    (np.array([["1", "2"]]), "holds text"),
    (np.array([[b"1"]]), "holds bytes"),
    (np.array([["2020-01-01"]], dtype="datetime64[D]"), "holds dates"),
    (np.zeros((2, 3), dtype=[("a", "f4")]), "holds records"),
    (np.array([[10**400, 1]], dtype=object), "cannot be read as numbers"),
    (np.ma.masked_array(np.zeros((2, 3)), mask=[[0, 0, 0], [0, 1, 0]]), r"case 1: signal holds NaN \(channel 0, sample 1\)"),
])
def test_what_is_not_a_measurement_is_refused_in_words(X, match):
    with pytest.raises(DataError, match=match) as info:
        as_signals(X)
    assert_one_line(info.value)


def test_tensors_of_any_real_dtype_are_read():
    torch = pytest.importorskip("torch")
    x = torch.arange(6, dtype=torch.bfloat16).reshape(2, 3).requires_grad_(True)
    np.testing.assert_array_equal(as_signals(x).X[:, 0], [[0, 1, 2], [3, 4, 5]])


@pytest.mark.parametrize("sr", [0, -1, float("nan"), float("inf"), "8000", True, [1]])
def test_a_sample_rate_that_is_not_one_is_refused(sr):
    with pytest.raises(sigxfer.ParameterError, match="must be a positive sample rate"):
        as_signals(np.zeros((1, 4)), sr=sr)


def test_numpy_sample_rates_become_python_floats():
    import numpy

    assert type(as_signals(np.zeros((1, 4)), sr=numpy.int64(5)).sr) is float
    model = make_estimator(imaging="mel", sr=numpy.float32(8000)).fit(np.random.default_rng(0).normal(size=(4, 64)), [0, 1] * 2)
    assert model.sr_ == 8000.0


# ----------------------------------------------------------------------------- imaging_defaults
@FAST
@given(name=st.sampled_from(["spectrogram", "mel"]), n=st.one_of(st.integers(1, 600), st.integers(1, 10**6)),
       given_params=st.dictionaries(st.sampled_from(["window", "db", "fmin"]),
                                    st.sampled_from(["hann", True, 0.0]), max_size=2))
def test_the_default_window_always_fits_the_series(name, n, given_params):
    params = imaging_defaults(name, given_params, n_timepoints=n)
    assert 1 <= params["n_fft"] <= n
    assert 1 <= params["hop_length"] <= params["n_fft"]
    if name == "mel":
        assert 1 <= params["n_mels"] <= max(1, params["n_fft"] // 2)
    for key, value in given_params.items():  # what the user gave is kept as given
        assert params[key] == value


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=40, deadline=None, derandomize=True)
@given(name=st.sampled_from(IMAGINGS), n=st.one_of(st.integers(1, 40), st.integers(41, 3000)))
def test_an_imager_built_by_the_defaults_takes_its_series(name, n):
    imager = build_imager(ImagingSpec(name), sr=8000.0, n_timepoints=n, size=32)
    x = signals(n, (2, 1, n), "float32")
    pictures = imager.fit(x).pictures(__import__("torch").as_tensor(x))
    assert tuple(pictures.shape) == (2, 3, 32, 32)
    assert bool(((pictures >= 0) & (pictures <= 1)).all())


@pytest.mark.parametrize("params, n", [({"n_fft": 64}, 10), ({"n_fft": 8, "hop_length": 3}, 5)])
def test_a_window_the_user_set_longer_than_the_series_is_refused_in_words(params, n):
    imager = Imager("spectrogram", size=32, **imaging_defaults("spectrogram", params, n_timepoints=n))
    with pytest.raises(sigxfer.ParameterError, match=rf"signals of {n} samples are shorter than n_fft"):
        imager.fit(np.zeros((2, 1, n), dtype=np.float32))
