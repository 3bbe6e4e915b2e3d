"""The model file: exact round trip, self-description, atomic writes, refusal of foreign files."""

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import sigxfer
from sigxfer import ModelFileError, OutputExistsError, TransferClassifier, make_devices
from sigxfer.deploy import read_config


@pytest.fixture(scope="module")
def model_and_data():
    signals = make_devices(12, n_timepoints=256, sr=256.0, seed=2)
    model = TransferClassifier(backbone="tinynet", image_size=32, imaging={"name": "spectrogram", "n_fft": 64}, random_state=0, progress=False).fit(signals)
    return model, signals


def test_saved_and_loaded_model_predicts_exactly_the_same(model_and_data, tmp_path):
    model, signals = model_and_data
    path = sigxfer.save(model, tmp_path / "m.sigx")
    loaded = sigxfer.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(signals), model.predict_proba(signals))
    np.testing.assert_array_equal(loaded.predict(signals), model.predict(signals))
    assert loaded.get_params() == model.get_params()


def test_config_describes_the_model(model_and_data, tmp_path):
    model, _ = model_and_data
    config = read_config(sigxfer.save(model, tmp_path / "m.sigx"))
    assert config["sigxfer_version"] == sigxfer.__version__
    assert config["imager"]["transform"] == "spectrogram"
    assert config["imager"]["params"]["n_fft"] == 64
    lo, hi = config["imager"]["scale"]
    assert hi > lo
    assert config["backbone"]["name"] == "tinynet"
    assert config["classes"] == ["high", "low"]
    assert config["n_timepoints"] == 256 and config["sr"] == 256.0
    assert config["strategy"]["name"] == "linear"
    assert config["history"]["n_train"] == 24


def test_refuses_to_overwrite_and_leaves_no_temporary_files(model_and_data, tmp_path):
    model, _ = model_and_data
    path = tmp_path / "m.sigx"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="exists"):
        sigxfer.save(model, path)
    assert path.read_bytes() == b"precious"
    sigxfer.save(model, path, overwrite=True)
    assert sigxfer.load(path).n_timepoints_ == 256
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.sigx"]


def test_foreign_files_are_refused(tmp_path):
    text = tmp_path / "notes.sigx"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a sigxfer model file"):
        sigxfer.load(text)
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(3)}, str(other))
    with pytest.raises(ModelFileError, match="written by another tool"):
        sigxfer.load(other)
    with pytest.raises(ModelFileError, match="no such model file"):
        sigxfer.load(tmp_path / "missing.sigx")


class _Trap:
    def __reduce__(self):
        return (open, (str(_Trap.target), "w"))


def test_a_pickle_is_never_executed(tmp_path):
    _Trap.target = tmp_path / "pwned"
    evil = tmp_path / "evil.sigx"
    evil.write_bytes(pickle.dumps(_Trap()))
    with pytest.raises(ModelFileError):
        sigxfer.load(evil)
    assert not _Trap.target.exists()


def test_edited_weights_are_refused(model_and_data, tmp_path):
    model, _ = model_and_data
    path = sigxfer.save(model, tmp_path / "m.sigx")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["backbone.classifier.weight"] = torch.zeros(5, 5)
    save_file(tensors, str(tmp_path / "edited.sigx"), metadata=meta)
    with pytest.raises(ModelFileError, match="do not match"):
        sigxfer.load(tmp_path / "edited.sigx")
    newer = json.loads(meta["sigxfer"])
    newer["format_version"] = 99
    save_file(tensors, str(tmp_path / "newer.sigx"), metadata={"sigxfer": json.dumps(newer)})
    with pytest.raises(ModelFileError, match="upgrade sigxfer"):
        sigxfer.load(tmp_path / "newer.sigx")
