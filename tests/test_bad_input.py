"""Bad input gets one line naming the problem and the fix, before any work is done."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import sigxfer
from sigxfer import SignalSet, TransferClassifier, TransferRegressor
from sigxfer.errors import DataError, ModelFileError, ParameterError

FAST = dict(backbone="tinynet", image_size=32, imaging="spectrum", random_state=0, progress=False)


def _data(n=12, t=128, sr=1024.0, channels=1):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, channels, t)).astype(np.float32)
    X[1::2] += np.sin(np.arange(t) * 0.5).astype(np.float32)
    return SignalSet(X, sr=sr, y=np.array(["a", "b"] * (n // 2)))


@pytest.fixture(scope="module")
def fitted():
    return TransferClassifier(**FAST).fit(_data())


@pytest.mark.parametrize("size, match", [
    (0, "image_size=0 must be"), (2.5, "image_size=2.5 must be"), (-3, "image_size=-3 must be"),
    (True, "image_size=True must be"), (100_000, "image_size=100000 must be"),
])
def test_image_size_is_validated_before_any_work(size, match):
    with pytest.raises(ParameterError, match=match):
        TransferClassifier(**{**FAST, "image_size": size}).fit(_data())


def test_a_batch_too_large_for_memory_says_how_much_it_needs(monkeypatch):
    import sigxfer.learning.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 10**9)  # a 2 GB machine
    with pytest.raises(ParameterError, match=r"image_size=4096 would need about [\d.]+ GB for a batch of 12 "
                                             r"\(2.0 GB available\); lower image_size or batch_size"):
        TransferClassifier(**{**FAST, "image_size": 4096}).fit(_data())


@pytest.mark.parametrize("param, value", [("batch_size", 0), ("sr", -5.0), ("channel_mode", "rainbow"),
                                          ("pretrained", "yes"), ("random_state", -1)])
def test_every_parameter_is_checked_with_the_same_wording(param, value):
    with pytest.raises(ParameterError, match=rf"^TransferClassifier: {param}={value!r} must be"):
        TransferClassifier(**{**FAST, param: value}).fit(_data())


def test_prediction_at_another_sample_rate_is_refused(fitted):
    other = _data(sr=500.0)
    with pytest.raises(DataError, match="recorded at 500 Hz but the model was fitted at 1024 Hz; resample"):
        fitted.predict(other)
    assert fitted.predict(other.X).shape == (12,)  # plain arrays carry no rate: the caller vouches


def test_channel_and_length_mismatches_have_their_own_messages(fitted):
    with pytest.raises(DataError, match="2 channel\\(s\\) but the model was fitted on 1; pass the same channels"):
        fitted.predict(_data(channels=2).X)
    with pytest.raises(DataError, match="64 samples but the model was fitted on 128; load files with length=128"):
        fitted.predict(_data(t=64).X)


def _write_model(path, config, tensors=None):
    save_file(tensors or {"x": torch.zeros(1)}, str(path), metadata={"sigxfer": json.dumps(config)})


@pytest.mark.parametrize("edit, match", [
    (lambda c: c.pop("imager"), "its config has no 'imager'"),
    (lambda c: c["imager"].pop("params"), "its config has no 'imager.params'"),
    (lambda c: c.update(n_channels="three"), "'n_channels' holds 'three'"),
    (lambda c: c.pop("classes"), "a classifier without its 'classes'"),
    (lambda c: c.update(format_version="two"), "its format version is 'two'"),
])
def test_an_edited_config_is_called_damaged_in_one_line(tmp_path, fitted, edit, match):
    good = tmp_path / "good.sigx"
    sigxfer.save(fitted, good)
    config = sigxfer.deploy.read_config(good)
    edit(config)
    bad = tmp_path / "bad.sigx"
    _write_model(bad, config)
    with pytest.raises(ModelFileError, match=match) as info:
        sigxfer.load(bad)
    assert "\n" not in str(info.value) and str(bad) in str(info.value)
    with pytest.raises(ModelFileError, match=match):
        sigxfer.deploy.read_config(bad)  # what `sigxfer info` reads


def test_a_made_up_config_is_refused_by_info_and_predict(tmp_path):
    bad = tmp_path / "made-up.sigx"
    _write_model(bad, {"format": "sigxfer-model", "format_version": 2, "estimator": "TransferClassifier"})
    with pytest.raises(ModelFileError, match="the file is damaged: its config has no 'params'"):
        sigxfer.load(bad)
    from sigxfer.cli import main

    assert main(["info", str(bad)]) == 1


def test_nan_weights_are_called_damaged(tmp_path, fitted):
    path = tmp_path / "m.sigx"
    sigxfer.save(fitted, path)
    config = sigxfer.deploy.read_config(path)
    state = {k: v.clone() for k, v in fitted.net_.state_dict().items()}
    name = next(k for k, v in state.items() if v.is_floating_point() and k.startswith("backbone"))
    state[name].fill_(float("nan"))
    bad = tmp_path / "nan.sigx"
    _write_model(bad, config, state)
    with pytest.raises(ModelFileError, match="weights hold NaN or infinite values; the file is damaged"):
        sigxfer.load(bad)


def test_regressor_checks_its_parameters_too():
    with pytest.raises(ParameterError, match="^TransferRegressor: batch_size=0 must be"):
        TransferRegressor(**{**FAST, "batch_size": 0}).fit(_data().X, np.arange(12.0))


def test_lp_ft_is_checked_for_the_stages_it_trains_from_the_kept_maps(monkeypatch):
    import sigxfer.learning.memory as memory
    from sigxfer.backbones import create_backbone
    from sigxfer.learning import Auto

    # tinynet has 3 stages; LP-FT trains the last from the maps of the two in front, kept once.
    body = create_backbone("tinynet", pretrained=False)
    whole = memory.estimate_batch_bytes(body, 32, 16, training=True)
    tail = memory.estimate_batch_bytes(body, 32, 32, training=True, from_stage=2)
    assert 0 < tail < whole  # 32 images through the last stage cost less than 16 through all
    monkeypatch.setattr(memory, "available_bytes", lambda: int((tail + whole) / 2 / memory.MAX_SHARE))
    data = _data(n=24)

    def lp_ft_row(**params):
        strategy = Auto(large_n=10, Cs=2, features=["last"], epochs=1, **params)
        model = TransferClassifier(**{**FAST, "strategy": strategy}).fit(data)
        return next(r for r in model.history_["selection"]["table"] if r["kind"] == "finetune")

    row = lp_ft_row()
    assert row["status"] == "scored" and row["kept_front"] == 2
    # With augmentation the images change every epoch: nothing is kept, every stage runs in each
    # step, and the same memory holds no batch of it.
    row = lp_ft_row(augment={"time_shift": 0.1})
    assert row["status"].startswith("skipped: image_size=32x32 would need about")


def test_auto_is_checked_for_its_frozen_passes_not_for_training_every_view(monkeypatch):
    import sigxfer.learning.memory as memory
    from sigxfer.backbones import create_backbone

    body = create_backbone("tinynet", pretrained=False)
    frozen = memory.estimate_batch_bytes(body, 32, 12, n_views=3)
    trained = memory.estimate_batch_bytes(body, 32, 12, training=True, n_views=3)
    assert frozen < trained
    monkeypatch.setattr(memory, "available_bytes", lambda: int((frozen + trained) / 2 / memory.MAX_SHARE))
    with pytest.raises(ParameterError, match="would need about"):  # training three views from the start
        TransferClassifier(**{**FAST, "imaging": ["spectrum", "waveform", "gaf"], "strategy": "finetune"}).fit(_data())
    model = TransferClassifier(**{**FAST, "imaging": ["spectrum", "waveform", "gaf"], "strategy": "auto"}).fit(_data())
    assert model.history_["selection"]["chosen"]
