"""The command line never loses a user's files, and checks every output before any work."""

from __future__ import annotations

import pytest

from sigxfer.cli import main
from sigxfer.estimators import TransferClassifier

FAST = ["--backbone", "tinynet", "--image-size", "32"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("safety")
    assert main(["synth", "devices", str(root / "project" / "data"), "--n-per-class", "4", "--n-timepoints", "128",
                 "--sr", "128", "--seed", "1"]) == 0
    return root / "project" / "data"


def _files(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_error(capsys, argv, *needles) -> str:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("sigxfer: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture()
def no_fit(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started before the outputs were checked")

    monkeypatch.setattr(TransferClassifier, "fit", refuse)


def test_render_never_writes_into_or_over_its_input(data, capsys):
    before = _files(data.parent)
    for out in (data, data.parent):
        _one_line_error(capsys, ["render", str(data), str(out), "--overwrite", *FAST], "input data")
    _one_line_error(capsys, ["render", str(data), str(data / "low"), "--overwrite", *FAST], "not written by sigxfer")
    assert _files(data.parent) == before


def test_render_overwrite_spares_a_users_folder_and_files(data, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "user.txt").write_text("mine")
    _one_line_error(capsys, ["render", str(data), str(out), "--overwrite", *FAST],
                    "was not written by sigxfer", "--overwrite will not replace it")
    assert _files(out) == {"user.txt": b"mine"}
    # A folder of signals is sigxfer's, but not pictures: render does not replace it either.
    assert main(["synth", "devices", str(tmp_path / "sig"), "--n-per-class", "2", "--n-timepoints", "64"]) == 0
    _one_line_error(capsys, ["render", str(data), str(tmp_path / "sig"), "--overwrite", *FAST],
                    "write_signals, not of save_pictures")


def test_render_overwrite_replaces_only_its_own_pictures(data, tmp_path, capsys):
    pics = tmp_path / "pics"
    assert main(["render", str(data), str(pics), *FAST]) == 0
    (pics / "user.txt").write_text("mine")
    (pics / "low" / "notes.md").write_text("about low")
    capsys.readouterr()
    assert main(["render", str(data), str(pics), "--overwrite", "--imaging", "spectrum", *FAST]) == 0
    out = capsys.readouterr().out
    assert "replaced 8 files sigxfer wrote earlier" in out and "other files there are kept" in out
    files = _files(pics)
    assert files["user.txt"] == b"mine" and files["low/notes.md"] == b"about low"
    assert sum(name.endswith(".png") for name in files) == 8


def test_demo_overwrite_keeps_a_users_files(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "user.txt").write_text("mine")
    _one_line_error(capsys, ["demo", "--out", str(out), "--overwrite", "--backbone", "tinynet", "-q"],
                    "was not written by sigxfer", "--overwrite")
    _one_line_error(capsys, ["demo", "--out", str(out), "--backbone", "tinynet", "-q"],
                    "exists and is not empty; pass --overwrite")
    assert _files(out) == {"user.txt": b"mine"}


@pytest.mark.slow
def test_demo_overwrite_replaces_its_own_output_only(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--n-per-class", "4", "--backbone", "tinynet", "-q"]
    assert main(argv) == 0
    (out / "user.txt").write_text("mine")
    capsys.readouterr()
    assert main([*argv, "--overwrite"]) == 0
    text = capsys.readouterr().out
    assert "replacing the" in text and "(ImageNet)" not in text and "fixed init, no pretrained weights" in text
    assert (out / "user.txt").read_text() == "mine" and (out / "model.sigx").is_file()


def test_train_checks_its_output_before_training(data, tmp_path, capsys, no_fit):
    folder = tmp_path / "models"
    folder.mkdir()
    _one_line_error(capsys, ["train", str(data), "-o", str(folder), "--overwrite", *FAST],
                    "is a folder; give a file name")
    _one_line_error(capsys, ["train", str(data), "-o", str(data / "sigxfer.json"), "--overwrite", *FAST],
                    "is part of the input data")
    (tmp_path / "m.sigx").write_text("earlier")
    _one_line_error(capsys, ["train", str(data), "-o", str(tmp_path / "m.sigx"), *FAST], "exists; pass --overwrite")
    assert (tmp_path / "m.sigx").read_text() == "earlier"


def test_evaluate_checks_its_json_before_evaluating(data, tmp_path, capsys, monkeypatch):
    import sigxfer.deploy

    def refuse(*args, **kwargs):
        raise AssertionError("the model was read before the outputs were checked")

    monkeypatch.setattr(sigxfer.deploy, "load", refuse)
    (tmp_path / "e.json").write_text("{}")
    _one_line_error(capsys, ["evaluate", str(tmp_path / "m.sigx"), str(data), "--json", str(tmp_path / "e.json")],
                    "e.json exists; pass --overwrite")
    assert (tmp_path / "e.json").read_text() == "{}"


def test_compare_checks_its_folder_before_any_work(data, capsys, no_fit):
    _one_line_error(capsys, ["compare", str(data), "-o", str(data.parent), "--overwrite", *FAST], "input data")
