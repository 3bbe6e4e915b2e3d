"""`derivative=1`: an imaging of the series' first difference, in every form `imaging=` takes."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

import sigxfer
from sigxfer import TransferClassifier
from sigxfer.errors import ParameterError
from sigxfer.imaging import Imager
from sigxfer.imaging.resolve import ImagingSpec, build_imager, resolve_imaging

FAST = dict(backbone="tinynet", image_size=32, random_state=0, progress=False)
pytestmark = pytest.mark.usefixtures("one_thread")


def _walks(n_cases=6, n_channels=2, n=120, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.standard_normal((n_cases, n_channels, n)), axis=-1).astype(np.float32)


def _differenced(x):
    step = np.diff(x, axis=-1)
    return np.concatenate([step[..., :1], step], axis=-1)


@pytest.mark.parametrize("name", ["waveform", "gaf", "recurrence", "spectrogram"])
def test_pictures_are_those_of_the_first_difference_with_the_first_step_repeated(name):
    x = _walks()
    params = {"n_fft": 32} if name == "spectrogram" else {}
    on_steps = Imager(name, size=32, derivative=1, **params).fit(x)
    by_hand = Imager(name, size=32, **params).fit(_differenced(x))
    assert on_steps.scale.tolist() == pytest.approx(by_hand.scale.tolist())
    np.testing.assert_allclose(on_steps(x).numpy(), by_hand(_differenced(x)).numpy(), atol=1e-6)
    # A level the series sits at is gone from the difference: the pictures do not move with it.
    np.testing.assert_allclose(on_steps(x + 5.0).numpy(), on_steps(x).numpy(), atol=2e-3)  # float32 rounding
    assert not np.allclose(Imager(name, size=32, **params).fit(x)(x).numpy(), on_steps(x).numpy(), atol=1e-3)


def test_a_one_sample_series_has_no_change_to_picture():
    imager = Imager("waveform", size=16, derivative=1)
    np.testing.assert_array_equal(imager._select(torch.full((2, 1, 1), 7.0)).numpy(), np.zeros((2, 1, 1)))


def test_the_difference_follows_the_channels_the_view_reads():
    x = _walks(n_channels=4)
    view = Imager("waveform", size=32, channels=[2, 3], derivative=1).fit(x)
    alone = Imager("waveform", size=32, derivative=1).fit(x[:, 2:])
    np.testing.assert_allclose(view(x).numpy(), alone(x[:, 2:]).numpy(), atol=1e-6)


@pytest.mark.parametrize("bad", [2, -1, True, 0.5, "1"])
def test_other_orders_are_refused_with_the_values_that_work(bad):
    with pytest.raises(ParameterError, match=r"derivative=.* use 0 .* or 1"):
        Imager("waveform", derivative=bad)


def test_every_form_of_imaging_carries_it_and_the_label_says_so():
    spec = ImagingSpec("gaf", {"derivative": 1})
    assert resolve_imaging("gaf:derivative=1") == [spec]
    assert resolve_imaging({"name": "gaf", "derivative": 1}) == [spec]
    assert spec.label == "gaf:derivative=1"
    imager = build_imager(spec, sr=None, n_timepoints=100, size=32)
    assert imager.derivative == 1 and imager.transform.name == "gaf"
    assert "derivative" not in imager.transform.get_params()


def test_config_round_trip_and_configs_without_the_key_read_the_series():
    x = _walks()
    imager = Imager("recurrence", size=32, derivative=1).fit(x)
    config = imager.get_config()
    assert config["derivative"] == 1
    again = Imager.from_config(config)
    np.testing.assert_array_equal(again(x).numpy(), imager(x).numpy())
    plain = Imager("recurrence", size=32).fit(x).get_config()
    assert "derivative" not in plain  # files written before the option read the same
    assert Imager.from_config(plain).derivative == 0


def test_exports_to_onnx_and_runs_the_same():
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    x = _walks(n_cases=3)
    imager = Imager("waveform", size=32, derivative=1).fit(x).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(imager, (torch.as_tensor(x),), buffer, dynamo=False, opset_version=17,
                          input_names=["signals"], dynamic_axes={"signals": {0: "batch"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    other = _walks(n_cases=5, seed=1)
    np.testing.assert_allclose(session.run(None, {"signals": other})[0], imager(other).numpy(), atol=1e-4)


def test_a_model_on_a_difference_view_saves_loads_and_predicts_the_same(tmp_path):
    x = _walks(n_cases=12, n_channels=1, n=96)
    y = np.array(["a", "b"])[np.arange(12) % 2]
    x[y == "b"] += np.linspace(0, 20, 96, dtype=np.float32)  # a slope: what the difference shows
    model = TransferClassifier(imaging=["waveform", "waveform:derivative=1"], **FAST).fit(x, y)
    assert [s.label for s in model.imaging_] == ["waveform", "waveform:derivative=1"]
    again = sigxfer.load(sigxfer.save(model, tmp_path / "m.sigx"))
    assert [s.label for s in again.imaging_] == ["waveform", "waveform:derivative=1"]
    np.testing.assert_allclose(again.predict_proba(x), model.predict_proba(x), atol=1e-6)


def _folder(root, n=64):
    for label, slope in (("flat", 0.0), ("rising", 0.2)):
        (root / label).mkdir(parents=True)
        for i in range(3):
            walk = np.cumsum(np.random.default_rng(i).standard_normal(n)) + slope * np.arange(n)
            np.save(root / label / f"{i}.npy", walk.astype(np.float32))
    return root


def test_the_command_line_renders_a_difference_view_and_refuses_other_orders(tmp_path, capsys):
    from sigxfer.cli import main

    data = _folder(tmp_path / "data")
    out = tmp_path / "pictures"
    assert main(["render", str(data), str(out), "--imaging", "waveform:derivative=1", "--backbone", "tinynet",
                 "--image-size", "32"]) == 0
    assert sorted(p.parent.name for p in out.rglob("*.png")) == ["flat"] * 3 + ["rising"] * 3
    capsys.readouterr()
    assert main(["render", str(data), str(tmp_path / "other"), "--imaging", "gaf", "--imaging-param",
                 "derivative=2", "--backbone", "tinynet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "derivative=2 is not known" in err
    assert not (tmp_path / "other").exists()
    assert main(["list"]) == 0
    assert "waveform:derivative=1" in capsys.readouterr().out
