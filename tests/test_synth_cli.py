"""`sigxfer synth spectra|digits` end to end: files written, and `train --targets` reads the spectra."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sigxfer.cli import main
from sigxfer.data import load_signals, load_targets, make_spectra
from sigxfer.data.synth import DIGIT_WORDS

FAST = ["--backbone", "tinynet", "--image-size", "32", "-q"]


def test_synth_spectra_writes_files_and_a_targets_table(tmp_path, capsys):
    out = tmp_path / "xas"
    assert main(["synth", "spectra", str(out), "--n", "6", "--seed", "2"]) == 0
    assert "train with: sigxfer train" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("."))[:2] == ["sigxfer.json", "simulated-00000.npy"]
    lines = (out / "targets.csv").read_text().splitlines()
    assert lines[0] == "file,disorder" and len(lines) == 7
    back = load_targets(out / "targets.csv")
    expected = make_spectra(6, seed=2)
    np.testing.assert_array_equal(back.X, expected.X)
    assert back.y.tolist() == expected.y.tolist() and back.sr == pytest.approx(expected.sr)
    assert json.loads((out / "sigxfer.json").read_text())["sr"] == pytest.approx(expected.sr)


def test_synth_spectra_both_then_train_on_the_table_and_evaluate_on_experiments(tmp_path, capsys):
    out = tmp_path / "xas"
    assert main(["synth", "spectra", str(out), "--n", "16", "--kind", "both", "--seed", "0"]) == 0
    for table, n in (("targets.csv", 32), ("simulated.csv", 16), ("experimental.csv", 16)):
        assert len((out / table).read_text().splitlines()) == n + 1
    assert {line.split(",")[2] for line in (out / "experimental.csv").read_text().splitlines()[1:]} == {"experimental"}
    model = tmp_path / "m.sigx"
    assert main(["train", str(out), "--targets", str(out / "targets.csv"), "-o", str(model), *FAST]) == 0
    assert "R²" in capsys.readouterr().out and model.is_file()
    assert main(["evaluate", str(model), str(out), "--targets", str(out / "experimental.csv")]) == 0
    assert "n=16" in capsys.readouterr().out


def test_synth_digits_writes_class_folders_of_wav_files(tmp_path, capsys):
    out = tmp_path / "digits"
    assert main(["synth", "digits", str(out), "--n-per-class", "2", "--duration", "0.5", "--seed", "1"]) == 0
    assert "20 signals (2 per class, wav)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(DIGIT_WORDS)
    assert len(list(out.rglob("*.wav"))) == 20
    s = load_signals(out)
    assert s.X.shape == (20, 1, 4000) and s.sr == 8000.0 and sorted(set(s.y)) == sorted(DIGIT_WORDS)


def test_synth_refuses_a_folder_with_earlier_files(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep")
    assert main(["synth", "spectra", str(out), "--n", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sigxfer: error: ") and "exists and is not empty" in err and err.count("\n") == 1
    assert (out / "notes.txt").read_text() == "keep" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
