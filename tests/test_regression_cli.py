"""Regression from the command line: a targets table, `train --targets`, `evaluate`, `predict`."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import sigxfer
from sigxfer.cli import main
from sigxfer.data.targets import load_targets
from sigxfer.errors import DataError, ParameterError

SR = 256.0
FAST = ["--backbone", "tinynet", "--image-size", "32", "--imaging", "waveform", "-q"]


def _write_set(folder, n: int, seed: int) -> np.ndarray:
    """Sine bursts of random frequency and amplitude; returns their RMS, the target to learn.

    Globally average-pooled tinynet features cannot find a peak's frequency, but on the waveform
    picture they do follow how far the curve swings, i.e. the amplitude.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(256) / SR
    signal_dir = folder / "signals"
    signal_dir.mkdir(parents=True)
    (folder / "sigxfer.json").write_text(json.dumps({"sr": SR}))
    rms = np.empty(n)
    with open(folder / "targets.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "rms", "frequency"])
        for i in range(n):
            freq, amp = rng.uniform(10, 100), rng.uniform(0.2, 5.0)
            x = amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) + 0.02 * rng.standard_normal(256)
            np.save(signal_dir / f"s{i:02d}.npy", x.astype(np.float32))
            rms[i] = float(np.sqrt(np.mean(x ** 2)))
            writer.writerow([f"signals/s{i:02d}.npy", f"{rms[i]:.6f}", f"{freq:.2f}"])
    return rms


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("regression")
    _write_set(root / "train", 48, seed=0)
    truth = _write_set(root / "test", 20, seed=1)
    model = root / "rms.sigx"
    code = main(["train", str(root / "train"), "-o", str(model), "--targets", str(root / "train" / "targets.csv"),
                 "--test-size", "0.25", *FAST])
    assert code == 0
    return root, model, truth


def test_train_fits_a_regressor_and_reports(trained, capsys):
    root, model, _ = trained
    loaded = sigxfer.load(model)
    assert isinstance(loaded, sigxfer.TransferRegressor)
    metrics = loaded.metrics_["test"]
    assert metrics["n"] == 12 and metrics["r2"] > 0.5
    code = main(["info", str(model)])
    assert code == 0 and "R²" in capsys.readouterr().out


def test_evaluate_prints_mae_rmse_r2(trained, capsys):
    root, model, _ = trained
    out_json = root / "eval.json"
    code = main(["evaluate", str(model), str(root / "test"), "--targets", str(root / "test" / "targets.csv"),
                 "--json", str(out_json)])
    out = capsys.readouterr().out
    assert code == 0
    for label in ("R²", "MAE", "RMSE"):
        assert label in out
    summary = json.loads(out_json.read_text())
    assert summary["n"] == 20 and summary["r2"] > 0.5


def test_predict_prints_file_and_prediction(trained, capsys):
    root, model, truth = trained
    files = sorted((root / "test" / "signals").glob("*.npy"))
    code = main(["predict", str(model), *map(str, files)])
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert code == 0 and rows[0] == ["file", "start_s", "end_s", "prediction", "padded"] and len(rows) == 21
    assert [r[0] for r in rows[1:]] == [str(f) for f in files]
    pred = np.array([float(r[3]) for r in rows[1:]])
    assert np.corrcoef(pred, truth)[0, 1] > 0.8
    code = main(["predict", str(model), str(files[0]), "--format", "json"])
    assert code == 0 and set(json.loads(capsys.readouterr().out)[0]) == {"file", "start_s", "end_s", "prediction",
                                                                          "padded"}


def test_other_target_column(trained, capsys):
    root, _, _ = trained
    out = root / "freq.sigx"
    code = main(["train", str(root / "train"), "-o", str(out), "--targets", str(root / "train" / "targets.csv"),
                 "--target", "frequency", "--test-size", "0", *FAST])
    assert code == 0 and "target column 'frequency'" in capsys.readouterr().out
    assert sigxfer.load(out).y_mean_[0] > 10  # frequencies, not RMS values


def _table(folder, text: str, files=("a.npy", "b.npy", "c.npy")):
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        np.save(folder / name, np.zeros(64, dtype=np.float32))
    path = folder / "t.csv"
    path.write_text(text)
    return path


def test_load_targets_reads_tables(tmp_path):
    signals = load_targets(_table(tmp_path / "a", "file,y\na.npy,1.5\nb.npy,2\n"), sr=100.0)
    assert signals.y.dtype == np.float64 and signals.y.tolist() == [1.5, 2.0]
    assert signals.names[0].endswith("a.npy") and signals.sr == 100.0
    headerless = load_targets(_table(tmp_path / "b", "a.npy;3\nc.npy;4\n"))
    assert headerless.y.tolist() == [3.0, 4.0]
    chosen = load_targets(_table(tmp_path / "c", "file,y,z\na.npy,1,10\nb.npy,2,20\n"), target="z")
    assert chosen.y.tolist() == [10.0, 20.0]


@pytest.mark.parametrize("text, error, match", [
    ("file,y\na.npy,1\nmissing.npy,2\n", DataError, r"t.csv: row 3 lists missing.npy, but .*missing.npy does not exist"),
    ("file,y\na.npy,1\nb.npy,heavy\n", DataError, r"t.csv: row 3 column 'y' is 'heavy', not a number"),
    ("file,y\na.npy,1\nb.npy,\n", DataError, r"t.csv: row 3 column 'y' is empty"),
    ("file,y\na.npy,1\nb.npy,inf\n", DataError, r"t.csv: row 3 column 'y' is 'inf'; give a finite number"),
    ("file,y\na.npy,1\nb.npy,2\n./a.npy,3\n", DataError, r"t.csv: row 4 lists ./a.npy again \(first on row 2\)"),
    ("file,y\na.npy,1,7\n", DataError, r"t.csv: row 2 has 3 cells but the table has 2 columns"),
    ("file,y\n", DataError, r"t.csv: has a header but no rows"),
    ("file,y\na.npy,1\n", ParameterError, r"t.csv: has no target column 'z'; its columns are y"),
])
def test_load_targets_errors_name_file_and_row(tmp_path, text, error, match):
    with pytest.raises(error, match=match):
        load_targets(_table(tmp_path, text), target="z" if "column 'z'" in match else None)


def test_cli_errors_are_one_line(trained, tmp_path, capsys):
    root, model, _ = trained
    table = _table(tmp_path / "data", "file,y\na.npy,1\nb.npy,x\n")
    base = ["train", str(tmp_path / "data"), "-o", str(tmp_path / "m.sigx"), *FAST]
    cases = [
        (base + ["--targets", str(table)], "row 3 column 'y' is 'x', not a number"),
        (base + ["--task", "regression"], "--task regression needs --targets CSV"),
        (["train", str(root / "test"), "-o", str(tmp_path / "m.sigx"), "--targets",
          str(root / "train" / "targets.csv"), *FAST], "lists signals/s00.npy, which is outside"),
        (["evaluate", str(model), str(root / "test")], "TransferRegressor: it is evaluated on a targets table"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "m.sigx").exists()


def test_a_ucr_regression_set_trains_and_evaluates_a_regressor(tmp_path, capsys):
    pytest.importorskip("aeon")
    from sigxfer.data import load_dataset, task_of

    train = load_dataset("ucr:Covid3Month:train")  # aeon's regression set: numbers, not labels
    assert train.y.dtype.kind == "f" and task_of(train.y) == "regression" and len(train) == 140
    model = tmp_path / "covid.sigx"
    assert main(["train", "ucr:Covid3Month", "-o", str(model), *FAST]) == 0
    assert isinstance(sigxfer.load(model), sigxfer.TransferRegressor)
    capsys.readouterr()
    out_json = tmp_path / "eval.json"
    assert main(["evaluate", str(model), "ucr:Covid3Month", "--json", str(out_json)]) == 0
    assert "RMSE" in capsys.readouterr().out and json.loads(out_json.read_text())["n"] == 61  # the test split
    assert main(["evaluate", str(model), "ucr:GunPoint"]) == 1
    err = capsys.readouterr().err
    assert "TransferRegressor and ucr:GunPoint holds class labels" in err and err.count("\n") == 1
