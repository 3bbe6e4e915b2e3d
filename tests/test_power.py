"""Signed power normalisation of the pooled features: in the network, the probe, auto's search,
the kept front of LP-FT, the model file, ONNX export and the command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sigxfer
from sigxfer import ModelFileError, ParameterError, TransferClassifier
from sigxfer.backbones import create_backbone
from sigxfer.deploy.bundle import read_config
from sigxfer.imaging import Imager
from sigxfer.learning import LinearProbe
from sigxfer.learning.network import SignalNet, power_map
from sigxfer.learning.prefix import FrozenPrefix
from sigxfer.learning.strategies.auto import Auto
from sigxfer.learning.strategies.views import ViewEmbeddings

from test_shift import _edit_network, _net, devices  # noqa: F401  (devices: the shared fixture)

pytestmark = pytest.mark.usefixtures("module_one_thread")


def test_the_map_is_a_signed_root_continuous_at_zero_with_a_finite_slope():
    x = torch.tensor([-9.0, -1e-9, 0.0, 1e-9, 0.04, 16.0], requires_grad=True)
    y = power_map(x, 0.5)
    np.testing.assert_allclose(y.detach().numpy()[[0, 4, 5]], [-3.0, 0.2, 4.0], atol=2e-3)
    v = y.detach()
    assert abs(float(v[1])) < 1e-5 and float(v[2]) == 0.0 and abs(float(v[3])) < 1e-5
    assert bool(torch.all(torch.diff(y) >= 0))  # order kept
    y.sum().backward()
    assert bool(torch.isfinite(x.grad).all()) and float(x.grad[2]) == 0.0  # sign(0) = 0: no step, no nan
    assert torch.equal(power_map(x.detach(), 1.0), x.detach())


@pytest.mark.parametrize("taps,pooling", [(None, "mean"), ([1, 2], "max")])
def test_the_embedding_is_the_plain_one_through_the_map(devices, taps, pooling):
    X = torch.from_numpy(devices.X[:5])
    net = _net(devices.X, power=0.5, taps=taps, pooling=pooling)
    plain = _net(devices.X, taps=taps, pooling=pooling)
    plain.load_state_dict(net.state_dict())
    single = _net(devices.X, power=0.5, views=("gaf",))
    assert not net.plain and not single.plain  # a one-view last-layer net leaves the backbone's own path
    with torch.no_grad():
        torch.testing.assert_close(net.embed(X), power_map(plain.embed(X), 0.5))
        assert not torch.allclose(net.embed(X), plain.embed(X), atol=1e-3)
        np.testing.assert_allclose(net.outputs(X.numpy(), 2), net.head(net.embed(X)).numpy(), atol=1e-5)


def test_auto_embeds_each_view_as_the_net_reads_it(devices):
    net = _net(devices.X, power=0.5, taps=[1, 2], pooling="max")
    views = ViewEmbeddings(net, devices.X, taps=[1, 2], poolings=("max",))
    views.embed(1)  # gaf, through auto's own engine
    net.keep_views([1])
    with torch.no_grad():
        want = net.embed(torch.from_numpy(devices.X)).numpy()
    got = np.concatenate(views.embedded[1]["max"], axis=1)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_the_kept_front_of_lp_ft_reads_through_the_map():
    X = np.random.default_rng(0).standard_normal((9, 1, 128)).astype(np.float32)
    net = _net(X, power=0.5, taps=[0, 2])
    prefix = FrozenPrefix(net, 2, [X[:5], X[5:]], batch_size=3)
    with torch.no_grad():
        torch.testing.assert_close(prefix.features([7, 1]), net.embed(torch.from_numpy(X[[7, 1]])),
                                   rtol=1e-5, atol=1e-6)


def test_the_probe_fits_predicts_and_round_trips_the_power(devices, tmp_path):
    model = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0,
                               progress=False, strategy=LinearProbe(power=0.5)).fit(devices)
    assert model.net_.power == 0.5
    proba = model.predict_proba(devices.X)
    path = sigxfer.save(model, tmp_path / "power.sigx")
    assert read_config(path)["network"]["power"] == 0.5
    loaded = sigxfer.load(path)
    assert loaded.net_.power == 0.5
    from sigxfer.workflows.models import describe_model
    assert "power     features read through a signed power of 0.5 (square root)" in describe_model(path)
    np.testing.assert_allclose(loaded.predict_proba(devices.X), proba, atol=1e-5)
    plain = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0,
                               progress=False, strategy=LinearProbe()).fit(devices)
    assert plain.net_.power == 1.0
    np.testing.assert_allclose(model.embed(devices.X), power_map(torch.from_numpy(plain.embed(devices.X)), 0.5),
                               atol=1e-5)
    assert "signed power" not in describe_model(sigxfer.save(plain, tmp_path / "plain.sigx"))


@pytest.mark.parametrize("bad", [0.0, 1.5, "0.5", True])
def test_a_model_file_with_a_bad_power_is_called_damaged(devices, tmp_path, bad):
    model = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0,
                               progress=False).fit(devices)
    path = sigxfer.save(model, tmp_path / "m.sigx")
    assert read_config(path)["network"]["power"] == 1.0
    edited = tmp_path / "edited.sigx"
    _edit_network(path, edited, power=bad)
    with pytest.raises(ModelFileError, match="edited.sigx"):
        sigxfer.load(edited)


def test_a_model_file_from_before_the_power_loads_without_one(devices, tmp_path):
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file
    from sigxfer.deploy import bundle

    auto = Auto(power=1.0, time_budget=None, features=["last"], pooling=["mean"], Cs=2, cv=3)
    model = TransferClassifier(imaging=["waveform", "gaf"], backbone="tinynet", image_size=32, random_state=0,
                               progress=False, strategy=auto).fit(devices)
    path = sigxfer.save(model, tmp_path / "m.sigx")
    with safe_open(str(path), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta[bundle._META_KEY])
    del config["network"]["power"]  # as files written before the power was recorded
    del config["strategy"]["power"]
    text = json.dumps(config)
    older = tmp_path / "older.sigx"
    save_file(tensors, str(older), metadata={**meta, bundle._META_KEY: text, bundle._DIGEST_KEY: bundle.digest(text, tensors)})
    loaded = sigxfer.load(older)
    assert loaded.net_.power == 1.0
    assert loaded.strategy_.power == 1.0  # auto as that fit searched, not today's default (None)
    np.testing.assert_allclose(loaded.predict_proba(devices.X), model.predict_proba(devices.X), atol=1e-5)


@pytest.mark.parametrize("bad", [0.05, 1.01, -0.5, "a"])
def test_bad_powers_are_refused_in_one_line(bad):
    with pytest.raises(ParameterError, match="power"):
        Auto(power=bad)
    with pytest.raises(ParameterError, match="power"):
        LinearProbe(power=bad)._check()
    with pytest.raises(ParameterError, match="power"):
        _net(np.zeros((2, 1, 64), np.float32)).set_power(bad)


def test_auto_reads_the_power_it_was_given_and_records_it(devices, tmp_path):
    model = TransferClassifier(imaging=["waveform", "gaf"], backbone="tinynet", image_size=32, random_state=0,
                               progress=False, strategy=Auto(power=0.5, time_budget=None, features=["last", "multi"],
                                                             pooling=["mean", "max"], Cs=2, cv=3))
    model.fit(devices)
    assert model.net_.power == 0.5 and model.history_["power"] == 0.5
    assert model.history_["strategy"]["power"] == 0.5
    loaded = sigxfer.load(sigxfer.save(model, tmp_path / "auto.sigx"))
    np.testing.assert_allclose(loaded.predict_proba(devices.X), model.predict_proba(devices.X), atol=1e-5)


def test_auto_reads_through_the_root_by_default_where_the_shape_views_lead_only():
    shape_led = SignalNet(Imager("gaf", size=32).fit(np.zeros((2, 1, 64), np.float32)), create_backbone("tinynet"))
    spectral = SignalNet(Imager("spectrogram", size=32).fit(np.zeros((2, 1, 512), np.float32)),
                         create_backbone("tinynet"))
    assert Auto(power=None).power_for(shape_led) == 0.5 and Auto(power=None).power_for(spectral) == 1.0
    assert Auto(power=1.0).power_for(shape_led) == 1.0
    assert Auto().power is None and Auto().power_for(shape_led) == 0.5  # the default


def test_the_onnx_export_and_the_stream_read_through_the_map(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from sigxfer.data.gestures import make_gesture_stream, make_gestures
    from sigxfer.deploy.onnx import export_onnx
    from sigxfer.deploy.stream import StreamEngine

    model = TransferClassifier(imaging={"name": "spectrogram", "n_fft": 32, "hop_length": 4}, backbone="tinynet",
                               image_size=32, random_state=0, progress=False,
                               strategy=LinearProbe(power=0.5)).fit(make_gestures(12, seed=0))
    X = make_gestures(3, seed=5).X[:5]
    path = export_onnx(model, tmp_path / "power.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"signals": np.ascontiguousarray(X, dtype=np.float32)})[0]
    np.testing.assert_allclose(got, model.predict_proba(X), atol=1e-4)
    model.net_.set_power(1.0)  # the same head on the plain features: other answers, so the export did apply it
    assert not np.allclose(got, model.predict_proba(X), atol=1e-4)
    model.net_.set_power(0.5)

    recording = make_gesture_stream(8.0, seed=4).signal
    windows = StreamEngine(model, hop=0.5).feed(recording)
    starts = [int(round(w.start_s * model.sr_)) for w in windows]
    batch = model.predict_proba(np.stack([recording[:, s:s + model.n_timepoints_] for s in starts]).astype(np.float32))
    assert len(windows) >= 5
    np.testing.assert_allclose(np.array([w.probabilities for w in windows]), batch, atol=1e-5)


def test_auto_fine_tunes_a_powered_model_from_its_kept_front(devices):
    settings = dict(time_budget=None, features=["multi"], pooling=["mean"], Cs=2, cv=3, large_n=10, epochs=2,
                    unfreeze=1)
    model = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0,
                               progress=False, strategy=Auto(power=0.5, **settings)).fit(devices)
    tuned = [r for r in model.history_["selection"]["table"] if r["kind"] == "finetune"]
    assert tuned and tuned[-1]["status"] == "scored", tuned
    assert model.net_.power == 0.5
    assert all(bool(torch.isfinite(p).all()) for p in model.net_.parameters())
    proba = model.predict_proba(devices.X)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
