"""channel_mode="groups": each group of up to three channels is a view of its own."""

import numpy as np
import pytest
import torch

import sigxfer
from sigxfer import DataError, ParameterError, TransferClassifier
from sigxfer.imaging import Imager
from sigxfer.learning import Auto

pytestmark = pytest.mark.usefixtures("module_one_thread")


def model(**params):
    """The one place these tests build an estimator."""
    base = dict(backbone="tinynet", image_size=32, random_state=0, progress=False, channel_mode="groups")
    return TransferClassifier(**{**base, **params})


@pytest.fixture(scope="module")
def seven_channels():
    """Seven channels; only the last one (channel 6) tells the classes apart."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 7, 64)).astype("float32")
    y = np.repeat([0, 1], 16)
    X[y == 1, 6] += 2.0 * np.sin(np.arange(64) / 2).astype("float32")
    return X, y


def test_an_imager_reads_only_its_channels_and_keeps_them_in_its_config():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(4, 5, 64)).astype("float32")
    imager = Imager("waveform", size=16, channels=[3, 4]).fit(X)
    assert imager.n_channels == 5
    pictures = imager.pictures(torch.from_numpy(X))
    changed = X.copy()
    changed[:, :3] = 0.0  # channels the imager does not read
    assert torch.equal(imager.pictures(torch.from_numpy(changed)), pictures)
    changed[:, 4] *= 3.0
    assert not torch.equal(imager.pictures(torch.from_numpy(changed)), pictures)
    same = Imager.from_config(imager.get_config())
    assert same.channels == [3, 4] and torch.equal(same.pictures(torch.from_numpy(X)), pictures)
    assert Imager("waveform", size=16, channels=[0, 1, 2]).fit(X).pictures(torch.from_numpy(X)).shape == (4, 3, 16, 16)
    with pytest.raises(ParameterError, match="distinct non-negative channel indices"):
        Imager("waveform", channels=[1, 1])
    with pytest.raises(DataError, match=r"reads channels \[3, 4\] but the signals have 2"):
        Imager("waveform", size=16, channels=[3, 4]).fit(X[:, :2])


def test_groups_make_one_view_per_three_channels_and_the_head_reads_each(seven_channels, tmp_path):
    X, y = seven_channels
    fitted = model(imaging=["waveform", "gaf"]).fit(X, y)
    assert fitted.net_.view_names == ["waveform[0:3]", "waveform[3:6]", "waveform[6:7]",
                                      "gaf[0:3]", "gaf[3:6]", "gaf[6:7]"]
    assert [imager.channels for imager in fitted.net_.imagers[:3]] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [spec.label for spec in fitted.imaging_] == ["waveform", "gaf"]
    assert fitted.net_.embedding_dim == 6 * 16
    proba = fitted.predict_proba(X)
    loaded = sigxfer.load(sigxfer.save(fitted, tmp_path / "groups.sigx"))
    assert loaded.net_.view_names == fitted.net_.view_names
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-6)
    with pytest.raises(DataError, match=r"6 channel\(s\) but the model was fitted on 7"):
        fitted.predict(X[:, :6])


def test_groups_with_three_channels_or_fewer_are_the_usual_single_view(seven_channels):
    X, y = seven_channels
    fitted = model(imaging="waveform").fit(X[:, 4:], y)
    assert fitted.net_.view_names == ["waveform"] and fitted.net_.imager.channels is None
    tiled = model(imaging="waveform", channel_mode="auto").fit(X[:, 4:], y)
    np.testing.assert_allclose(fitted.predict_proba(X[:, 4:]), tiled.predict_proba(X[:, 4:]), atol=1e-6)


def test_auto_chooses_among_the_groups_as_among_views(seven_channels):
    X, y = seven_channels
    fitted = model(imaging="waveform", strategy=Auto(Cs=2, features=["last"])).fit(X, y)
    table = fitted.history_["selection"]["table"]
    scored = {row["candidate"] for row in table if row["status"] == "scored"}
    assert {"waveform[0:3] / last", "waveform[3:6] / last", "waveform[6:7] / last"} <= scored
    assert all(name.startswith("waveform[") for name in fitted.net_.view_names)
    assert [spec.label for spec in fitted.imaging_] == ["waveform"]


def test_groups_export_to_onnx_with_the_same_probabilities(seven_channels, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    X, y = seven_channels
    fitted = model(imaging="waveform").fit(X, y)
    path = sigxfer.deploy.export_onnx(fitted, tmp_path / "groups.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: X[:5]})[0]
    np.testing.assert_allclose(got, fitted.predict_proba(X[:5]), atol=1e-4)


def test_cli_train_takes_channel_mode_groups(tmp_path, seven_channels):
    from sigxfer.cli import main

    X, y = seven_channels
    data = tmp_path / "data"
    for label in (0, 1):
        (data / f"c{label}").mkdir(parents=True)
        for i in np.flatnonzero(y == label)[:8]:
            np.save(data / f"c{label}" / f"{i}.npy", X[i])
    out = tmp_path / "m.sigx"
    assert main(["train", str(data), "-o", str(out), "--backbone", "tinynet", "--image-size", "32",
                 "--imaging", "waveform", "--channel-mode", "groups", "-q"]) == 0
    assert sigxfer.load(out).net_.view_names == ["waveform[0:3]", "waveform[3:6]", "waveform[6:7]"]


def test_auto_with_many_channels_weighs_one_tiled_picture_against_groups(seven_channels):
    X, y = seven_channels
    fitted = model(imaging="waveform", channel_mode="auto", strategy=Auto(Cs=2, features=["last"])).fit(X, y)
    scored = {row["candidate"] for row in fitted.history_["selection"]["table"] if row["status"] == "scored"}
    assert {"waveform / last", "waveform[0:3] / last", "waveform[6:7] / last"} <= scored
    # Only channel 6 separates the classes: a view that reads it is kept.
    assert any(name in ("waveform", "waveform[6:7]") for name in fitted.net_.view_names)
    assert fitted.score(X, y) == 1.0
    few = model(imaging="waveform", channel_mode="auto", strategy=Auto(Cs=2, features=["last"])).fit(X[:, 4:], y)
    assert few.net_.view_names == ["waveform"]  # three channels: one picture, as usual
    linear = model(imaging="waveform", channel_mode="auto").fit(X, y)
    assert linear.net_.view_names == ["waveform"]  # fixed strategies read channels as channel_mode says


def test_the_baselines_read_groups_too(seven_channels):
    from sigxfer.evaluation.baselines import EmbeddingForest, PixelNaiveBayes

    X, y = seven_channels
    pixels = PixelNaiveBayes(imaging="waveform", image_size=16, channel_mode="groups").fit(X, y)
    assert [imager.channels for imager in pixels.imagers_] == [[0, 1, 2], [3, 4, 5], [6]]
    assert pixels._pixels(X[:2]).shape == (2, 3 * 3 * 16 * 16)
    assert pixels.predict(X).shape == (32,)
    forest = EmbeddingForest(imaging="waveform", backbone="tinynet", image_size=32, n_estimators=10,
                             channel_mode="groups", random_state=0).fit(X, y)
    assert forest.net_.n_views == 3 and forest._embed(X[:2]).shape == (2, 3 * 16)


def test_render_refuses_groups_in_one_line(tmp_path, seven_channels, capsys):
    from sigxfer.cli import main

    X, _ = seven_channels
    (tmp_path / "data" / "a").mkdir(parents=True)
    np.save(tmp_path / "data" / "a" / "0.npy", X[0])
    assert main(["render", str(tmp_path / "data"), str(tmp_path / "pics"), "--channel-mode", "groups"]) == 1
    err = capsys.readouterr().err
    assert "pass --channel-mode tile" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "pics").exists()
