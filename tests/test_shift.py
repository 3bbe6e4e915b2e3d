"""Shift-averaged embeddings: each view read on the series and its copies moved a little later and
earlier, the features averaged; in the probe, auto, the model file, ONNX export and the stream."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import sigxfer
from sigxfer import ModelFileError, ParameterError, TransferClassifier, make_devices
from sigxfer.backbones import create_backbone
from sigxfer.deploy.bundle import read_config
from sigxfer.imaging import Imager
from sigxfer.learning import LinearProbe
from sigxfer.learning.network import SignalNet, shift_copies, shift_samples, shifted
from sigxfer.learning.prefix import keeps
from sigxfer.learning.strategies.auto import Auto
from sigxfer.learning.strategies.views import ViewEmbeddings

pytestmark = pytest.mark.usefixtures("module_one_thread")


@pytest.fixture(scope="module")
def devices():
    return make_devices(12, n_timepoints=128, sr=128.0, seed=3)


def _net(X, shift=0.0, views=("waveform", "gaf"), taps=None, pooling="mean", power=1.0):
    torch.manual_seed(0)
    imagers = [Imager(name, size=32).fit(X) for name in views]
    net = SignalNet(imagers, create_backbone("tinynet"), taps=taps, pooling=pooling, shift=shift, power=power)
    net.reset_head(3)
    return net.eval()


def test_a_shift_moves_the_series_and_repeats_the_edge_sample():
    x = torch.arange(10.0).view(1, 1, 10).repeat(2, 3, 1)
    later, earlier = shifted(x, 3), shifted(x, -3)
    assert later[0, 0].tolist() == [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    assert earlier[1, 2].tolist() == [3, 4, 5, 6, 7, 8, 9, 9, 9, 9]
    copies = shift_copies(x, 0.3)
    assert len(copies) == 3 and torch.equal(copies[0], x) and torch.equal(copies[1], later)
    assert len(shift_copies(x, 0.0)) == 1
    assert shift_samples(0.01, 20) == 1  # never a shift of nothing when one was asked for


@pytest.mark.parametrize("taps,pooling", [(None, "mean"), ([1, 2], "max")])
def test_the_embedding_is_each_views_mean_over_the_three_copies(devices, taps, pooling):
    X = torch.from_numpy(devices.X[:5])
    net = _net(devices.X, shift=0.05, taps=taps, pooling=pooling)
    assert (net.n_copies, net.n_planes, net.plain) == (3, 6, False)
    plain = _net(devices.X, shift=0.0, taps=taps, pooling=pooling)
    plain.load_state_dict(net.state_dict())
    k = shift_samples(0.05, X.shape[-1])
    with torch.no_grad():
        want = sum(plain.embed(c) for c in (X, shifted(X, k), shifted(X, -k))) / 3
        got = net.embed(X)
        assert got.shape == (5, net.embedding_dim) == want.shape
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(got, plain.embed(X), atol=1e-4)  # the copies do count
        torch.testing.assert_close(torch.from_numpy(net.outputs(X.numpy(), 2)), net.head(want), atol=1e-4, rtol=1e-4)


def test_auto_embeds_each_view_as_the_net_reads_it(devices):
    net = _net(devices.X, shift=0.05)
    views = ViewEmbeddings(net, devices.X, taps=None, poolings=("mean",))
    views.embed(1)  # gaf, through auto's own engine
    net.keep_views([1])
    with torch.no_grad():
        want = net.embed(torch.from_numpy(devices.X)).numpy()
    np.testing.assert_allclose(views.embedded[1]["mean"][-1], want, atol=1e-4, rtol=1e-4)


def test_the_probe_fits_predicts_and_round_trips_the_shift(devices, tmp_path):
    model = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0,
                               progress=False, strategy=LinearProbe(shift=0.1)).fit(devices)
    assert model.net_.shift == 0.1
    proba = model.predict_proba(devices.X)
    path = sigxfer.save(model, tmp_path / "shift.sigx")
    assert read_config(path)["network"]["shift"] == 0.1
    loaded = sigxfer.load(path)
    assert loaded.net_.shift == 0.1
    from sigxfer.workflows.models import describe_model
    assert "shift     each series also read 10% of its length later and earlier" in describe_model(path)
    np.testing.assert_allclose(loaded.predict_proba(devices.X), proba, atol=1e-5)
    unshifted = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0,
                                   progress=False, strategy=LinearProbe()).fit(devices)
    assert unshifted.net_.shift == 0.0 and not np.allclose(unshifted.embed(devices.X), model.embed(devices.X))


@pytest.mark.parametrize("bad", [0.7, -0.1, "0.05", True])
def test_a_model_file_with_a_bad_shift_is_called_damaged(devices, tmp_path, bad):
    model = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0,
                               progress=False).fit(devices)
    path = sigxfer.save(model, tmp_path / "m.sigx")
    assert read_config(path)["network"]["shift"] == 0.0
    edited = tmp_path / "edited.sigx"
    _edit_network(path, edited, shift=bad)
    with pytest.raises(ModelFileError, match="edited.sigx"):
        sigxfer.load(edited)


def _edit_network(src, dst, **changes):
    """Copy a model file with its config's ``network`` changed and signed again, as a tool that
    knows the format would write it: only the config's own check stands in the way."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    from sigxfer.deploy import bundle

    with safe_open(str(src), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    config = json.loads(meta[bundle._META_KEY])
    config["network"].update(changes)
    text = json.dumps(config)
    save_file(tensors, str(dst), metadata={**meta, bundle._META_KEY: text, bundle._DIGEST_KEY: bundle.digest(text, tensors)})


@pytest.mark.parametrize("bad", [0.5, -0.01, "a"])
def test_bad_shifts_are_refused_in_one_line(bad):
    with pytest.raises(ParameterError, match="shift"):
        Auto(shift=bad)
    with pytest.raises(ParameterError, match="shift"):
        LinearProbe(shift=bad)._check()
    with pytest.raises(ParameterError, match="shift"):
        _net(np.zeros((2, 1, 64), np.float32)).set_shift(bad)


def test_a_shifted_net_does_not_keep_its_frozen_front():
    X = np.random.default_rng(0).normal(size=(4, 1, 64)).astype(np.float32)
    assert keeps(_net(X, views=("waveform",)), 2, 4, same_images=True)
    assert not keeps(_net(X, shift=0.05, views=("waveform",)), 2, 4, same_images=True)


def test_auto_reads_the_shift_it_was_given_and_records_it(devices, tmp_path):
    model = TransferClassifier(imaging=["waveform", "gaf"], backbone="tinynet", image_size=32, random_state=0,
                               progress=False, strategy=Auto(shift=0.05, time_budget=None, features=["last"],
                                                             pooling=["mean"], Cs=2, cv=3))
    model.fit(devices)
    assert model.net_.shift == 0.05 and model.history_["shift"] == 0.05
    assert model.history_["strategy"]["shift"] == 0.05
    loaded = sigxfer.load(sigxfer.save(model, tmp_path / "auto.sigx"))
    np.testing.assert_allclose(loaded.predict_proba(devices.X), model.predict_proba(devices.X), atol=1e-5)


def test_auto_shifts_by_default_where_the_shape_views_lead_only():
    shape_led = SignalNet(Imager("gaf", size=32).fit(np.zeros((2, 1, 64), np.float32)), create_backbone("tinynet"))
    spectral = SignalNet(Imager("spectrogram", size=32).fit(np.zeros((2, 1, 512), np.float32)),
                         create_backbone("tinynet"))
    assert Auto(shift=None).shift_for(shape_led) == 0.05 and Auto(shift=None).shift_for(spectral) == 0.0
    assert Auto(shift=0.0).shift_for(shape_led) == 0.0


def test_the_onnx_export_and_the_stream_read_the_copies_too(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from sigxfer.data.gestures import make_gesture_stream, make_gestures
    from sigxfer.deploy.onnx import export_onnx
    from sigxfer.deploy.stream import StreamEngine

    model = TransferClassifier(imaging={"name": "spectrogram", "n_fft": 32, "hop_length": 4}, backbone="tinynet",
                               image_size=32, random_state=0, progress=False,
                               strategy=LinearProbe(shift=0.05)).fit(make_gestures(12, seed=0))
    assert model.net_.n_copies == 3
    X = make_gestures(3, seed=5).X[:5]
    path = export_onnx(model, tmp_path / "shift.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"signals": np.ascontiguousarray(X, dtype=np.float32)})[0]
    np.testing.assert_allclose(got, model.predict_proba(X), atol=1e-4)
    model.net_.set_shift(0.0)  # the same weights read once: other answers, so the export did read the copies
    assert not np.allclose(got, model.predict_proba(X), atol=1e-4)
    model.net_.set_shift(0.05)

    recording = make_gesture_stream(8.0, seed=4).signal
    engine = StreamEngine(model, hop=0.5)
    windows = engine.feed(recording)
    width = model.n_timepoints_
    starts = [int(round(w.start_s * model.sr_)) for w in windows]
    batch = model.predict_proba(np.stack([recording[:, s:s + width] for s in starts]).astype(np.float32))
    assert len(windows) >= 5
    np.testing.assert_allclose(np.array([w.probabilities for w in windows]), batch, atol=1e-5)


@pytest.mark.parametrize("key,good,bad", [("shift", 0.05, 0.9), ("power", 0.5, 2)])
def test_the_command_line_reaches_the_features_options_and_refuses_bad_ones(tmp_path, capsys, key, good, bad):
    """The shift here, and the power of the features (tests/test_power.py), as the probe's parameters."""
    from sigxfer.cli import main

    data, out = tmp_path / "data", tmp_path / "model.sigx"
    assert main(["synth", "devices", str(data), "--n-per-class", "6", "--n-timepoints", "128", "--seed", "2"]) == 0
    common = ["train", str(data), "--backbone", "tinynet", "--image-size", "32", "-q"]
    assert main([*common, "-o", str(out), "--strategy-param", f"{key}={good}"]) == 0
    assert getattr(sigxfer.load(out).net_, key) == good
    capsys.readouterr()
    assert main([*common, "-o", str(tmp_path / "x.sigx"), "--strategy-param", f"{key}={bad}"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err and not (tmp_path / "x.sigx").exists()


def test_auto_fine_tunes_a_shifted_model_through_every_copy(devices):
    """LP-FT on a shift-averaged net: no kept front (the copies change what each stage sees), a
    training step over every copy, and a model that predicts as it scored."""
    settings = dict(time_budget=None, features=["last"], pooling=["mean"], Cs=2, cv=3, large_n=10, epochs=2,
                    unfreeze=1)
    auto = Auto(shift=0.05, **settings)
    model = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0,
                               progress=False, strategy=auto).fit(devices)
    table = model.history_["selection"]["table"]
    tuned = [r for r in table if r["kind"] == "finetune"]
    assert tuned and tuned[-1]["status"] == "scored", tuned
    assert tuned[-1]["kept_front"] is None  # every step runs the frozen stages on the three copies
    assert model.net_.shift == 0.05 and model.net_.n_planes == 3
    proba = model.predict_proba(devices.X)
    assert proba.shape == (len(devices.X), 2) and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    plain = TransferClassifier(imaging="waveform", backbone="tinynet", image_size=32, random_state=0, progress=False,
                               strategy=Auto(shift=0.0, **settings)).fit(devices)
    assert [r for r in plain.history_["selection"]["table"] if r["kind"] == "finetune"][-1]["kept_front"] is not None
