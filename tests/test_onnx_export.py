"""ONNX export from the raw signal: parity with torch on every imaging, metadata, safety, no torch needed."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import sigxfer
from sigxfer import NotFittedError, OutputExistsError, ParameterError, make_devices
from sigxfer.cli import main
from sigxfer.data.gestures import make_gestures
from sigxfer.deploy.onnx import export_onnx
from sigxfer.learning.strategies import LinearProbe
from sigxfer.imaging import list_transforms

from deploy_models import fit_model, write_trap

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytestmark = pytest.mark.usefixtures("one_thread")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "onnx_predict.py"
PARAMS = {"spectrogram": {"n_fft": 32}, "mel": {"n_fft": 64, "n_mels": 16}}


@pytest.fixture(scope="module")
def devices():
    return make_devices(8, n_timepoints=128, sr=128.0, seed=0)


@pytest.fixture(scope="module")
def classifier(devices):
    return fit_model(devices, imaging="spectrogram", params={"n_fft": 32})


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(path, x):
    return _session(path).run(None, {"signals": np.ascontiguousarray(x, dtype=np.float32)})[0]


@pytest.mark.parametrize("imaging", list_transforms())
def test_probabilities_match_torch_on_every_imaging(imaging, devices, tmp_path):
    model = fit_model(devices, imaging=imaging, params=PARAMS.get(imaging))
    path = export_onnx(model, tmp_path / "m.onnx")
    other = make_devices(3, n_timepoints=128, sr=128.0, seed=9).X[:5]  # another batch size than the trace's
    got = _run(path, other)
    np.testing.assert_allclose(got, model.predict_proba(other), atol=1e-4)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert _run(path, other[:1]).shape == (1, 2)


def test_three_axes_as_rgb_and_embeddings(tmp_path):
    gestures = make_gestures(6, seed=0)
    model = fit_model(gestures, imaging="spectrogram", params={"n_fft": 32, "hop_length": 4})
    np.testing.assert_allclose(_run(export_onnx(model, tmp_path / "p.onnx"), gestures.X),
                               model.predict_proba(gestures.X), atol=1e-4)
    emb = _run(export_onnx(model, tmp_path / "e.onnx", embeddings=True), gestures.X[:4])
    assert emb.shape == (4, 16)
    np.testing.assert_allclose(emb, model.embed(gestures.X[:4]), atol=1e-4)
    assert _session(tmp_path / "e.onnx").get_outputs()[0].name == "embeddings"


def test_banded_multi_depth_features_export_at_widths_not_divisible_by_the_bands(devices, tmp_path):
    # 40 px: tinynet's maps are 20, 10 and 5 wide, none a multiple of the 3 bands; the exporter
    # refuses adaptive pooling there, so the bands are written as slices of the same boundaries.
    model = fit_model(devices, imaging="waveform", image_size=40,
                      strategy=LinearProbe(C=1.0, features="multi", pooling="bands"))
    path = export_onnx(model, tmp_path / "b.onnx")
    np.testing.assert_allclose(_run(path, devices.X[:5]), model.predict_proba(devices.X[:5]), atol=1e-4)


def test_max_pooled_multi_depth_features_export(devices, tmp_path):
    model = fit_model(devices, imaging="waveform", image_size=40,
                      strategy=LinearProbe(C=1.0, features="multi", pooling="max"))
    path = export_onnx(model, tmp_path / "m.onnx")
    np.testing.assert_allclose(_run(path, devices.X[:5]), model.predict_proba(devices.X[:5]), atol=1e-4)


@pytest.mark.parametrize("two_targets", [False, True])
def test_regression_comes_out_in_the_users_units(devices, tmp_path, two_targets):
    y = 1000.0 + 50.0 * np.arange(len(devices), dtype=float)
    if two_targets:
        y = np.stack([y, -y / 10], axis=1)
    model = fit_model(devices, y, imaging="spectrum", regressor=True)
    got = _run(export_onnx(model, tmp_path / "r.onnx"), devices.X[:4])
    want = model.predict(devices.X[:4])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)
    assert np.abs(got).min() > 50  # targets, not standardised values


def test_metadata_describes_the_input_and_output(classifier, tmp_path):
    session = _session(export_onnx(classifier, tmp_path / "m.onnx"))
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["sr"]) == 128.0
    assert json.loads(meta["n_timepoints"]) == 128 and json.loads(meta["n_channels"]) == 1
    assert json.loads(meta["classes"]) == ["high", "low"]
    imaging = json.loads(meta["imaging"])
    assert imaging == json.loads(json.dumps(classifier.net_.imager.get_config()))
    assert imaging["params"]["n_fft"] == 32 and imaging["scale"][1] > imaging["scale"][0]
    assert (meta["task"], meta["input"], meta["output"]) == ("classification", "signals", "probabilities")
    assert meta["sigxfer_version"] == sigxfer.__version__
    signals_in, = session.get_inputs()
    assert signals_in.name == "signals" and signals_in.shape[1:] == [1, 128] and isinstance(signals_in.shape[0], str)


def test_existing_files_are_kept_and_no_temporary_file_is_left(classifier, tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="m.onnx exists; pass overwrite=True"):
        export_onnx(classifier, path)
    assert path.read_bytes() == b"precious"
    export_onnx(classifier, path, overwrite=True)
    assert _run(path, np.zeros((1, 1, 128))).shape == (1, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_bad_calls_are_refused(classifier, tmp_path):
    with pytest.raises(ParameterError, match="opset=9 must be an integer from 14 to 20"):
        export_onnx(classifier, tmp_path / "m.onnx", opset=9)
    with pytest.raises(ParameterError, match="is a folder"):
        export_onnx(classifier, tmp_path)
    with pytest.raises(NotFittedError, match="not fitted"):
        export_onnx(sigxfer.TransferClassifier(), tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


class _Body(nn.Module):
    def __init__(self, pool: bool):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(3, 6, 3, stride=2), pool

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return y.mean(dim=(2, 3)) if self.pool else y


def _write_body(path, *, pool: bool, dynamic: bool = True, opset: int = 13):
    torch.manual_seed(0)
    axes = {"images": {0: "n"}, "features": {0: "n"}} if dynamic else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Body(pool).eval(), (torch.zeros(1, 3, 32, 32),), str(path), dynamo=False,
                          opset_version=opset, input_names=["images"], output_names=["features"], dynamic_axes=axes)
    return path


@pytest.mark.parametrize("pool", [True, False], ids=["embedding-out", "feature-maps-out"])
def test_an_onnx_backbone_is_composed_into_one_graph(devices, tmp_path, pool):
    body = _write_body(tmp_path / "body.onnx", pool=pool)
    model = fit_model(devices, imaging="spectrum", backbone=f"file:{body}", image_size=None)
    path = export_onnx(model, tmp_path / "m.onnx")
    np.testing.assert_allclose(_run(path, devices.X[:5]), model.predict_proba(devices.X[:5]), atol=1e-4)
    emb = _run(export_onnx(model, tmp_path / "e.onnx", embeddings=True), devices.X[:3])
    np.testing.assert_allclose(emb, model.embed(devices.X[:3]), atol=1e-4)
    body.unlink()  # the composed file holds the body: it runs without it
    assert _run(path, devices.X[:2]).shape == (2, 2)


def test_an_onnx_backbone_with_a_fixed_batch_is_refused(devices, tmp_path):
    body = _write_body(tmp_path / "fixed.onnx", pool=True, dynamic=False)
    model = fit_model(devices, imaging="spectrum", backbone=f"file:{body}", image_size=None)
    with pytest.raises(ParameterError, match="fixed batch size; re-export it with a dynamic batch axis"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


_NO_TORCH = """
import runpy, sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("torch imported")
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None], "torch was loaded"
assert not any(m.startswith("sigxfer") for m in sys.modules), "sigxfer was loaded"
"""


@pytest.mark.slow
def test_the_exported_file_runs_where_torch_cannot_be_imported(classifier, devices, tmp_path):
    path = export_onnx(classifier, tmp_path / "m.onnx")
    recording = np.concatenate([devices.X[0], devices.X[9], devices.X[3]], axis=1)  # three windows and...
    recording = np.concatenate([recording, recording[:, :50]], axis=1)             # ...a tail that is dropped
    np.save(tmp_path / "rec.npy", recording)
    result = subprocess.run([sys.executable, "-c", _NO_TORCH, str(EXAMPLE), str(path), str(tmp_path / "rec.npy")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    want = classifier.predict_proba(devices.X[[0, 9, 3]])
    assert len(lines) == 3
    for line, p in zip(lines, want):
        label, *probs = line.split(":", 1)[1].split()
        assert label == classifier.classes_[p.argmax()]
        np.testing.assert_allclose([float(q.split("=")[1]) for q in probs], p, atol=2e-3)


def test_cli_export_writes_a_runnable_file(classifier, tmp_path, capsys):
    model = sigxfer.save(classifier, tmp_path / "m.sigx")
    assert main(["export", str(model), "-o", str(tmp_path / "m.onnx")]) == 0
    assert "wrote" in capsys.readouterr().out
    np.testing.assert_allclose(_run(tmp_path / "m.onnx", np.zeros((2, 1, 128))),
                               classifier.predict_proba(np.zeros((2, 1, 128))), atol=1e-4)
    assert main(["export", str(model), "-o", str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--overwrite" in err
    assert main(["export", str(model), "-o", str(tmp_path / "e.onnx"), "--embeddings"]) == 0
    assert _session(tmp_path / "e.onnx").get_outputs()[0].shape == ["batch", 16]


@pytest.mark.parametrize("command", [
    ["export", "{model}", "-o", "{tmp}/out.onnx"],
    ["predict", "{model}", "{tmp}/x.npy"],
    ["stream", "{model}", "--source", "{tmp}/x.csv", "--idle-timeout", "0.1"],
    ["info", "{model}"],
    ["evaluate", "{model}", "{tmp}/data"],
])
def test_a_pickle_posing_as_a_model_is_refused_and_runs_nothing(command, tmp_path, capsys):
    target = tmp_path / "created-by-the-pickle"
    model = write_trap(tmp_path / "evil.sigx", target)
    np.save(tmp_path / "x.npy", np.zeros(128, dtype=np.float32))
    (tmp_path / "x.csv").write_text("0\n1\n")
    argv = [a.format(model=model, tmp=tmp_path) for a in command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("sigxfer: error: ") and err.count("\n") == 1 and "not a sigxfer model file" in err
    assert not target.exists()
    assert not (tmp_path / "out.onnx").exists()
