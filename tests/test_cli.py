"""The command line, as a user runs it: synth -> train -> evaluate -> predict, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from sigxfer.cli import main

FAST = ["--backbone", "tinynet", "--image-size", "32", "--imaging", "spectrum", "-q"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    assert main(["synth", "devices", str(root / "data"), "--n-per-class", "12", "--n-timepoints", "256",
                 "--sr", "256", "--seed", "3"]) == 0
    return root


@pytest.fixture(scope="module")
def model_path(dataset):
    path = dataset / "model.sigx"
    assert main(["train", str(dataset / "data"), "-o", str(path), *FAST]) == 0
    return path


def test_synth_writes_class_folders(dataset):
    files = sorted(p.relative_to(dataset / "data").as_posix() for p in (dataset / "data").rglob("*.npy"))
    assert len(files) == 24
    assert {f.split("/")[0] for f in files} == {"low", "high"}
    assert (dataset / "data" / "sigxfer.json").exists()


def test_train_reports_held_out_metrics_and_saves(model_path, capsys):
    assert model_path.exists()
    assert main(["info", str(model_path), "--json"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["backbone"]["name"] == "tinynet"
    assert config["metrics"]["test"]["n"] == 6
    assert config["imager"]["transform"] == "spectrum"


def test_train_refuses_to_overwrite(dataset, model_path, capsys):
    before = model_path.read_bytes()
    assert main(["train", str(dataset / "data"), "-o", str(model_path), *FAST]) == 1
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and err.count("\n") == 1
    assert model_path.read_bytes() == before


def test_evaluate_prints_and_writes_json(dataset, model_path, capsys):
    out_json = dataset / "eval.json"
    assert main(["evaluate", str(model_path), str(dataset / "data"), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "confusion matrix" in out
    summary = json.loads(out_json.read_text())
    assert summary["n"] == 24
    assert np.array(summary["confusion_matrix"]).sum() == 24


def test_predict_csv_and_json(dataset, model_path, capsys):
    files = sorted(str(p) for p in (dataset / "data").rglob("*.npy"))[:3]
    assert main(["predict", str(model_path), *files, "--proba"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "file,start_s,end_s,prediction,p_high,p_low,padded"
    assert len(lines) == 4
    for line in lines[1:]:
        name, start, end, label, p1, p2, padded = line.split(",")
        assert label in {"high", "low"} and (start, padded) == ("0", "0")
        assert float(p1) + float(p2) == pytest.approx(1.0, abs=1e-5)
    assert main(["predict", str(model_path), *files, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in rows] == files


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("sigxfer: error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def test_bad_input_gives_one_line_errors(tmp_path, capsys, model_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(capsys, ["train", str(empty), "-o", str(tmp_path / "m.sigx"), *FAST], str(empty))

    one = tmp_path / "one" / "only"
    one.mkdir(parents=True)
    for i in range(3):
        np.save(one / f"s{i}.npy", np.random.default_rng(i).standard_normal(64).astype(np.float32))
    _one_line_error(capsys, ["train", str(tmp_path / "one"), "-o", str(tmp_path / "m.sigx"), *FAST],
                    "one class")

    bad = tmp_path / "bad"
    for label in ("a", "b"):
        (bad / label).mkdir(parents=True)
        for i in range(3):
            sf.write(bad / label / f"{i}.wav", np.zeros(64, dtype=np.float32), 100)
    (bad / "a" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    _one_line_error(capsys, ["train", str(bad), "-o", str(tmp_path / "m.sigx"), *FAST], "broken.wav")

    text = tmp_path / "text"
    for label in ("a", "b"):
        (text / label).mkdir(parents=True)
        for i in range(3):
            (text / label / f"{i}.csv").write_text("x\n1\n2\n3\n")
    (text / "b" / "2.csv").write_text("x\n1\nabc\n3\n")
    _one_line_error(capsys, ["train", str(text), "-o", str(tmp_path / "m.sigx"), *FAST], "2.csv")
    (text / "b" / "2.csv").write_text("x\n1\nnan\n3\n")
    _one_line_error(capsys, ["train", str(text), "-o", str(tmp_path / "m.sigx"), *FAST], "2.csv")

    (text / "b" / "2.csv").write_text("x\n1\n2\n3\n")
    _one_line_error(capsys, ["train", str(text), "-o", str(tmp_path / "m.sigx"), "--backbone", "tinynet",
                             "--imaging", "sonogram"], "sonogram", "use one of")
    _one_line_error(capsys, ["predict", str(tmp_path / "nothing.sigx"), "x.npy"], "nothing.sigx")
    not_model = tmp_path / "notes.txt"
    not_model.write_text("hello")
    _one_line_error(capsys, ["predict", str(not_model), "x.npy"], "not a sigxfer model file")
    assert not (tmp_path / "m.sigx").exists()


def test_console_script_exit_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sigxfer.cli", "train", str(tmp_path / "missing"), "-o",
                             str(tmp_path / "m.sigx")], capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("sigxfer: error:") and "missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_predict_evaluate_and_report_take_quiet_over_the_models_own_progress(dataset, model_path, tmp_path, capsys):
    import sigxfer

    loud = tmp_path / "loud.sigx"  # a model that shows its bars, as one trained without -q does
    sigxfer.save(sigxfer.load(model_path).set_params(progress=True), loud)
    files = sorted(str(p) for p in (dataset / "data").rglob("*.npy"))[:3]
    assert main(["predict", str(loud), *files]) == 0
    assert "predicting" in capsys.readouterr().err
    assert main(["predict", str(loud), *files, "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["evaluate", str(loud), str(dataset / "data"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "accuracy" in captured.out and "predicting" not in captured.err
    assert main(["report", str(loud), str(dataset / "data"), "-o", str(tmp_path / "r.html"), "-q"]) == 0
    assert "predicting" not in capsys.readouterr().err
    assert sigxfer.load(loud).progress is True  # the file is not changed by -q
    from sigxfer.deploy.predict import predict_files
    from sigxfer.workflows import evaluate_model

    estimator = sigxfer.load(loud)
    evaluate_model(estimator, dataset / "data", progress=False)
    assert len(list(predict_files(estimator, files, progress=False))) == 3
    assert "predicting" not in capsys.readouterr().err and estimator.progress is True  # nor a caller's model
