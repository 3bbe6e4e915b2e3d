"""`imaging=`: one resolver for names, dicts, objects and lists; one rule for window defaults."""

import json
from pathlib import Path

import numpy as np
import pytest

import sigxfer
from sigxfer import TransferClassifier
from sigxfer.errors import ParameterError
from sigxfer.imaging import Imager
from sigxfer.imaging.resolve import (
    ImagingSpec,
    build_imager,
    imaging_defaults,
    parse_imaging,
    resolve_imaging,
)

DATA = Path(__file__).parent / "data"
FAST = dict(backbone="tinynet", image_size=32, random_state=0, progress=False)


def test_every_form_resolves_to_the_same_spec():
    want = [ImagingSpec("mel", {"n_mels": 32})]
    assert resolve_imaging({"name": "mel", "n_mels": 32}) == want
    assert resolve_imaging("mel:n_mels=32") == want
    assert resolve_imaging(["mel:n_mels=32"]) == want
    imager = Imager("spectrogram", n_fft=64)
    assert resolve_imaging(imager)[0] == ImagingSpec("spectrogram", imager.transform.get_params())


def test_parse_reads_json_values_and_refuses_malformed_pairs():
    spec = parse_imaging("spectrogram:n_fft=64,window=hann,db=false", ["fmax=100.5"])
    assert spec.params == {"n_fft": 64, "window": "hann", "db": False, "fmax": 100.5}
    assert spec.label == "spectrogram:n_fft=64,window=hann,db=false,fmax=100.5"
    with pytest.raises(ParameterError, match="must look like KEY=VALUE"):
        parse_imaging("mel:n_mels")


def test_unknown_names_and_lists_of_several_views_are_refused():
    with pytest.raises(ParameterError, match="imaging 'sonogram' is not known; use one of"):
        resolve_imaging("sonogram")
    with pytest.raises(ParameterError, match="lists 2 views .* reads one"):
        resolve_imaging(["gaf", "waveform"])
    assert len(resolve_imaging(["gaf", "waveform"], multi_view=True)) == 2
    with pytest.raises(ParameterError, match="repeats a view"):
        resolve_imaging(["gaf", "gaf"], multi_view=True)
    with pytest.raises(ParameterError, match="needs a 'name' key"):
        resolve_imaging({"n_mels": 3})
    with pytest.raises(ParameterError, match="is empty"):
        resolve_imaging([])


@pytest.mark.parametrize("n", [8, 24, 150, 1024, 100_000])
def test_window_rule_always_fits_the_series(n):
    params = imaging_defaults("spectrogram", {}, n_timepoints=n)
    assert params["n_fft"] <= n
    if n < 256:  # short series: a quarter-length window and an eighth of it as hop
        assert params["n_fft"] <= max(2, n // 4) and 1 + (n - params["n_fft"]) // params["hop_length"] >= min(8, n - params["n_fft"] + 1)
    else:  # long series keep the transform's own defaults
        assert params == {"n_fft": 256, "hop_length": 64}
    mel = imaging_defaults("mel", {}, n_timepoints=n)
    assert 1 <= mel["n_mels"] <= max(1, mel["n_fft"] // 2)


def test_window_rule_keeps_what_the_user_gave():
    assert imaging_defaults("spectrogram", {"n_fft": 64, "hop_length": 7}, n_timepoints=24) == {
        "n_fft": 64, "hop_length": 7}
    assert imaging_defaults("spectrogram", {"n_fft": 64}, n_timepoints=150) == {"n_fft": 64, "hop_length": 8}
    assert imaging_defaults("mel", {}, n_timepoints=8000) == {"n_fft": 512, "hop_length": 128, "n_mels": 64}
    assert imaging_defaults("gaf", {"method": "difference"}, n_timepoints=24) == {"method": "difference"}


@pytest.mark.parametrize("name", ["mel", "scalogram"])
def test_imagings_in_hz_say_so_before_any_work(name):
    with pytest.raises(ParameterError, match=f"imaging '{name}' works in Hz and needs the sample rate: pass sr="):
        build_imager(ImagingSpec(name), sr=None, n_timepoints=100, size=32)
    X = np.zeros((4, 1, 64), np.float32)
    with pytest.raises(ParameterError, match="pass sr="):
        TransferClassifier(imaging=name, **FAST).fit(X, [0, 1, 0, 1])


@pytest.mark.parametrize("n", [8, 24, 150, 100_000])
def test_defaults_fit_any_series_length(n):
    rng = np.random.default_rng(0)
    t = np.arange(n)
    freq = np.array([0.05, 0.2])[np.arange(8) % 2]
    X = (np.sin(2 * np.pi * freq[:, None] * t) + 0.1 * rng.standard_normal((8, n))).astype(np.float32)
    y = np.array(["slow", "fast"])[np.arange(8) % 2]
    model = TransferClassifier(**FAST).fit(X, y)
    assert model.predict(X).shape == (8,)
    assert model.imager_.transform.n_fft <= n


def test_model_file_from_the_previous_release_loads_and_predicts_the_same():
    model = sigxfer.load(DATA / "model-v0.1.0-tinynet.sigx")
    assert model.imaging == {"name": "spectrum", "fmax": 40.0}
    X = np.load(DATA / "model-v0.1.0-inputs.npy")
    want = json.loads((DATA / "model-v0.1.0-outputs.json").read_text())
    assert model.predict(X).tolist() == want["predict"]
    np.testing.assert_allclose(model.predict_proba(X), want["proba"], atol=1e-6)


def test_estimators_no_longer_look_like_transformers():
    model = TransferClassifier()
    assert not hasattr(model, "transform")
    assert "imaging" in model.get_params() and "transform_params" not in model.get_params()
