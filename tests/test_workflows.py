"""The workflows behind the commands: one call each, every output checked before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sigxfer
from sigxfer.data import make_devices, write_signals
from sigxfer.errors import OutputExistsError, ParameterError
from sigxfer.estimators import TransferClassifier, TransferRegressor
from sigxfer.workflows import (
    compare_data,
    describe_model,
    describe_weights,
    evaluate_model,
    render_signals,
    report_model,
    train_and_report,
)

FAST = {"backbone": "tinynet", "image_size": 32, "imaging": "spectrum"}


def _classifier(**kwargs) -> TransferClassifier:
    """The one place tests here build an estimator."""
    return TransferClassifier(**{**FAST, "progress": False, **kwargs})


@pytest.fixture(scope="module")
def devices():
    return make_devices(8, n_timepoints=128, sr=128.0, seed=0)


@pytest.fixture(scope="module")
def fitted(devices):
    return _classifier(random_state=0).fit(devices)


@pytest.fixture()
def no_work(monkeypatch):
    """Make any loading or fitting fail loudly: a check that comes first never reaches them."""
    def refuse(*args, **kwargs):
        raise AssertionError("work started before the outputs were checked")

    import sigxfer.workflows._common as common

    for name in ("load_dataset", "load_dataset_splits"):
        monkeypatch.setattr(common, name, refuse)
    monkeypatch.setattr(sigxfer.deploy, "load", refuse)
    monkeypatch.setattr(TransferClassifier, "fit", refuse)
    monkeypatch.setattr(TransferRegressor, "fit", refuse)


def _ages(root, n=16):
    """Signals whose whole-number target (an 'age') is their amplitude: a regression, not classes."""
    (root / "s").mkdir(parents=True)
    rows = ["file,age"]
    for i in range(n):
        age = 20 + 3 * i
        np.save(root / "s" / f"c{i:02d}.npy", (age / 20 * np.sin(np.arange(128) * 0.4)).astype(np.float32))
        rows.append(f"s/c{i:02d}.npy,{age}")
    (root / "ages.csv").write_text("\n".join(rows) + "\n")
    return root / "ages.csv"


def test_train_and_report_fits_scores_and_saves(devices, tmp_path):
    lines = []
    model, summary = train_and_report(devices, tmp_path / "m.sigx", random_state=0, progress=False,
                                      echo=lines.append, **FAST)
    assert isinstance(model, TransferClassifier) and summary["n"] == 4 and model.metrics_["test"] == summary
    assert sigxfer.load(tmp_path / "m.sigx").metrics_["test"]["n"] == 4
    assert lines[0].startswith("held-out test (4 of 16 signals)") and lines[-1] == f"saved {tmp_path / 'm.sigx'}"
    lines.clear()
    _, none = train_and_report(devices, tmp_path / "m.sigx", test_size=0, overwrite=True, progress=False,
                               echo=lines.append, **FAST)
    assert none is None and "test_size=0" in lines[0] and "replaced the earlier" in lines[-1]


def test_whole_number_targets_are_regressed(tmp_path):
    table = _ages(tmp_path / "d")
    model, summary = train_and_report(tmp_path / "d", targets=table, imaging="waveform", backbone="tinynet",
                                      image_size=32, progress=False)
    assert isinstance(model, TransferRegressor) and "r2" in summary
    result = compare_data(tmp_path / "d", targets=table, contenders="pixels-ridge", imaging="waveform", cv=2)
    assert result.rows[0]["metric"] == "r2"


def test_train_checks_its_output_before_any_work(devices, tmp_path, no_work):
    (tmp_path / "m.sigx").write_text("earlier")
    with pytest.raises(OutputExistsError, match=r"m\.sigx exists; pass overwrite=True"):
        train_and_report(tmp_path / "data", tmp_path / "m.sigx", **FAST)
    with pytest.raises(OutputExistsError, match="is a folder; give a file name"):
        train_and_report(tmp_path / "data", tmp_path, overwrite=True, **FAST)
    with pytest.raises(ParameterError, match="sonogram"):
        train_and_report(tmp_path / "data", tmp_path / "new.sigx", imaging="sonogram", backbone="tinynet")
    with pytest.raises(ParameterError, match=r"task='regression' needs targets=CSV"):
        train_and_report(tmp_path / "data", tmp_path / "new.sigx", task="regression", **FAST)
    assert (tmp_path / "m.sigx").read_text() == "earlier"


def test_evaluate_model_scores_and_cross_validates(devices, fitted, tmp_path):
    fresh = make_devices(4, n_timepoints=128, sr=128.0, seed=1)
    lines = []
    summary = evaluate_model(fitted, fresh, json=tmp_path / "e.json", echo=lines.append)
    assert summary["n"] == 8 and json.loads((tmp_path / "e.json").read_text())["n"] == 8
    assert lines[0].startswith("the TransferClassifier on 8 signals")
    groups = np.repeat(np.arange(8), 2)
    result = evaluate_model(fitted, devices, cv=2, groups=groups)
    assert result["grouped"] is True and len(result["folds"]) == 2
    with pytest.raises(ParameterError, match="give cv=K or drop them"):
        evaluate_model(fitted, devices, group_pattern="x")


def test_evaluate_checks_its_json_before_reading_the_model(tmp_path, no_work):
    (tmp_path / "e.json").write_text("{}")
    with pytest.raises(OutputExistsError, match=r"e\.json exists; pass overwrite=True"):
        evaluate_model(tmp_path / "m.sigx", tmp_path / "data", json=tmp_path / "e.json")


def test_report_checks_its_output_before_any_work(tmp_path, no_work):
    (tmp_path / "r.html").write_text("mine")
    with pytest.raises(OutputExistsError, match="exists"):
        report_model(tmp_path / "m.sigx", tmp_path / "data", tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text() == "mine"


def test_report_model_writes_html(fitted, tmp_path):
    path = report_model(fitted, make_devices(3, n_timepoints=128, sr=128.0, seed=2), tmp_path / "r.html")
    assert path.read_text().startswith("<!DOCTYPE html>")


def test_compare_checks_its_folder_before_any_work(devices, tmp_path, no_work):
    data = tmp_path / "data"
    data.mkdir()
    for out in (data, tmp_path):
        with pytest.raises(OutputExistsError, match="input data"):
            compare_data(data, output=out, overwrite=True, contenders="pixels-nb")


def test_render_signals_mirrors_the_class_folders(devices, tmp_path):
    data = write_signals(devices, tmp_path / "data")
    paths, imager = render_signals(data, tmp_path / "pics", backbone="tinynet", image_size=32)
    assert len(paths) == 16 and {p.parent.name for p in paths} == {"low", "high"}
    assert paths[0].parent.parent == tmp_path / "pics" and imager.size == (32, 32)
    (tmp_path / "pics" / "user.txt").write_text("mine")
    lines = []
    render_signals(data, tmp_path / "pics", imaging="spectrum", backbone="tinynet", image_size=32,
                   overwrite=True, echo=lines.append)
    assert (tmp_path / "pics" / "user.txt").read_text() == "mine"
    assert lines == [f"replaced 16 files sigxfer wrote earlier in {tmp_path / 'pics'}; other files there are kept"]


def test_describe_names_the_weights_a_backbone_has(fitted, tmp_path):
    assert describe_weights("tinynet") == "fixed init, no pretrained weights"
    assert describe_weights("efficientnet_lite0").startswith("ImageNet")
    assert describe_weights("tinynet", pretrained=False) == "random init"
    text = describe_model(sigxfer.save(fitted, tmp_path / "m.sigx"))
    assert "backbone  tinynet (fixed init, no pretrained weights)" in text and "ImageNet" not in text


def test_compare_data_splits_without_stratifying_on_request(devices):
    lonely = devices[:9]
    lonely.y = lonely.y.astype(object)
    lonely.y[-1] = "rare"
    options = {"contenders": "pixels-nb", "imaging": "spectrum", "image_size": 32, "test_size": 3}
    with pytest.raises(sigxfer.DataError, match=r"\['rare'\] have a single case.*stratify=False"):
        compare_data(lonely, **options)
    result = compare_data(lonely, stratify=False, **options)
    assert result.rows[0]["n_test"] == 3 and "holdout" == result.config["splits"]["mode"]
