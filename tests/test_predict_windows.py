"""Batch prediction of long recordings: windows, padding, bad files, rates, channels, batching, writers."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import soundfile as sf

import sigxfer
from sigxfer import OutputExistsError, ParameterError, make_devices
from sigxfer.cli import main
from sigxfer.deploy.predict import predict_files, window_starts, write_predictions

from deploy_models import fit_model

pytestmark = pytest.mark.usefixtures("one_thread")
SR, N = 128.0, 128  # the model reads 1 s windows


@pytest.fixture(scope="module")
def model():
    return fit_model(make_devices(8, n_timepoints=N, sr=SR, seed=0), imaging="spectrum")


@pytest.fixture(scope="module")
def recording():
    """3.5 s: three whole 1 s windows and a half-second tail."""
    parts = make_devices(2, n_timepoints=N, sr=SR, seed=5).X
    return np.concatenate([parts[0], parts[2], parts[1], parts[3][:, :64]], axis=1)


def _windows(signal, starts, width=N):
    out = np.zeros((len(starts), signal.shape[0], N), dtype=np.float32)
    for i, s in enumerate(starts):
        piece = signal[:, s:s + width]
        out[i, :, :piece.shape[1]] = piece
    return out


def test_window_starts_cover_the_recording():
    assert window_starts(448, 128, 128) == [0, 128, 256, 384]  # the last one is the padded tail
    assert window_starts(448, 128, 64) == [0, 64, 128, 192, 256, 320]  # 320 + 128 = 448: no tail
    assert window_starts(100, 128, 64) == [0]
    assert window_starts(128, 128, 128) == [0]


def test_rows_are_the_windows_of_a_long_recording(model, recording, tmp_path):
    np.save(tmp_path / "rec.npy", recording)
    rows = list(predict_files(model, tmp_path / "rec.npy", proba=True))
    assert [(r["start_s"], r["end_s"], r["padded"]) for r in rows] == [
        (0.0, 1.0, False), (1.0, 2.0, False), (2.0, 3.0, False), (3.0, 3.5, True)]
    want = model.predict_proba(_windows(recording, [0, 128, 256, 384]))
    got = np.array([[r["probabilities"][c] for c in model.classes_] for r in rows])
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert [r["prediction"] for r in rows] == list(model.classes_[want.argmax(axis=1)])
    assert all(r["file"] == str(tmp_path / "rec.npy") for r in rows)


def test_hop_and_a_shorter_window(model, recording, tmp_path):
    np.save(tmp_path / "rec.npy", recording)
    rows = list(predict_files(model, tmp_path / "rec.npy", hop=0.5))
    assert [r["start_s"] for r in rows] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5] and not any(r["padded"] for r in rows)
    assert "probabilities" not in rows[0]
    short = list(predict_files(model, tmp_path / "rec.npy", window=0.5))
    assert len(short) == 7 and all(r["padded"] and r["end_s"] - r["start_s"] == 0.5 for r in short)
    want = model.predict(_windows(recording, [64 * i for i in range(7)], width=64))
    assert [r["prediction"] for r in short] == list(want)
    with pytest.raises(ParameterError, match=r"window=2 s is 256 samples, longer than the model's input"):
        predict_files(model, tmp_path / "rec.npy", window=2.0)
    with pytest.raises(ParameterError, match="hop=0 must be a positive number of seconds"):
        predict_files(model, tmp_path / "rec.npy", hop=0)


def test_a_recording_shorter_than_one_window_is_padded_and_flagged(model, recording, tmp_path):
    np.save(tmp_path / "short.npy", recording[:, :40])
    row, = predict_files(model, tmp_path / "short.npy", proba=True)
    assert row["padded"] and row["start_s"] == 0.0 and row["end_s"] == pytest.approx(40 / SR)
    np.testing.assert_allclose(list(row["probabilities"].values()),
                               model.predict_proba(_windows(recording[:, :40], [0]))[0], atol=1e-6)


def test_a_bad_file_is_reported_and_the_others_finish(model, recording, tmp_path):
    np.save(tmp_path / "a.npy", recording)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    (tmp_path / "notes.txt").write_text("hello")
    np.save(tmp_path / "b.npy", recording[:, :N])
    paths = [tmp_path / "a.npy", tmp_path / "broken.wav", tmp_path / "missing.npy", tmp_path / "notes.txt",
             tmp_path / "b.npy"]
    rows = list(predict_files(model, paths, batch_size=3))
    errors = [r for r in rows if "error" in r]
    assert [r["file"] for r in rows] == [str(tmp_path / "a.npy")] * 4 + [str(p) for p in paths[1:4]] + [
        str(tmp_path / "b.npy")]
    assert [e["file"] for e in errors] == [str(p) for p in paths[1:4]]
    assert "broken.wav: not a readable audio file" in errors[0]["error"]
    assert "missing.npy does not exist" in errors[1]["error"]
    assert "sigxfer reads .wav, .csv, .npy, .png, .jpg and .jpeg" in errors[2]["error"]
    assert all("\n" not in e["error"] for e in errors)


def test_a_folder_is_read_in_order_without_hidden_files(model, recording, tmp_path):
    (tmp_path / "rec" / "sub").mkdir(parents=True)
    np.save(tmp_path / "rec" / "b.npy", recording[:, :N])
    np.save(tmp_path / "rec" / "sub" / "a.npy", recording[:, :N])
    np.save(tmp_path / "rec" / ".hidden.npy", recording[:, :N])
    (tmp_path / "rec" / "sigxfer.json").write_text('{"sr": 128.0}')
    rows = list(predict_files(model, tmp_path / "rec"))
    assert [r["file"] for r in rows] == [str(tmp_path / "rec" / "b.npy"), str(tmp_path / "rec" / "sub" / "a.npy")]


def test_a_sample_rate_other_than_the_models_is_refused(model, recording, tmp_path):
    sf.write(tmp_path / "fast.wav", recording[0], 256, subtype="FLOAT")
    sf.write(tmp_path / "ok.wav", recording[0], 128, subtype="FLOAT")
    bad, *good = predict_files(model, [tmp_path / "fast.wav", tmp_path / "ok.wav"])
    assert bad["error"] == (f"{tmp_path / 'fast.wav'}: sample rate 256 Hz, but the model was trained at 128 Hz; "
                            "resample the file to 128 Hz (sigxfer does not resample)")
    assert len(good) == 4 and "error" not in good[0]
    with pytest.raises(ParameterError, match="sr=100 Hz differs from the 128 Hz the model was trained at"):
        predict_files(model, tmp_path / "ok.wav", sr=100.0)
    (tmp_path / "meta").mkdir()
    np.save(tmp_path / "meta" / "x.npy", recording)
    (tmp_path / "meta" / "sigxfer.json").write_text('{"sr": 64.0}')  # the folder says another rate
    row, = predict_files(model, tmp_path / "meta" / "x.npy")
    assert "sample rate 64 Hz, but the model was trained at 128 Hz" in row["error"]


def test_a_channel_count_other_than_the_models_has_its_own_message(model, recording, tmp_path):
    np.save(tmp_path / "two.npy", np.concatenate([recording, recording]))
    row, = predict_files(model, tmp_path / "two.npy")
    assert row["error"].endswith("two.npy: has 2 channel(s), but the model reads 1; "
                                 "give it recordings with the training channel layout")


def test_windows_are_predicted_in_batches_across_files(model, recording, tmp_path, monkeypatch):
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", recording)  # 4 windows each
    sizes = []
    real = type(model).predict_proba

    def spy(self, X):
        sizes.append(len(X))
        return real(self, X)

    monkeypatch.setattr(type(model), "predict_proba", spy)
    rows = list(predict_files(model, [tmp_path / "a.npy", tmp_path / "b.npy"], batch_size=3))
    assert len(rows) == 8 and sizes == [3, 3, 2]


def test_the_batches_of_a_job_share_one_engine_chosen_for_all_its_windows(model, recording, tmp_path,
                                                                           monkeypatch):
    from sigxfer.learning import embeddings

    for k in range(20):
        np.save(tmp_path / f"r{k:02d}.npy", recording)  # 4 windows each, 80 in all
    asked = []
    real = embeddings.resolve_engine

    def spy(net, X, **kwargs):
        asked.append(kwargs.get("n_cases"))
        return real(net, X, **kwargs)

    monkeypatch.setattr(embeddings, "resolve_engine", spy)
    rows = list(predict_files(model, tmp_path, batch_size=8))
    assert len(rows) == 80 and asked == [80]  # one choice, for the whole job, not one per batch of 8
    alone = model.predict(_windows(recording, [0, 128, 256, 384]))
    assert [r["prediction"] for r in rows[:4]] == list(alone)
    asked.clear()
    model.predict(_windows(recording, [0, 128]))  # outside the job: its own choice, as before
    assert asked == [2]


def test_writers_csv_jsonl_and_json(model, recording, tmp_path):
    np.save(tmp_path / "rec.npy", recording)
    out = io.StringIO()
    errors = write_predictions(predict_files(model, [tmp_path / "rec.npy", tmp_path / "gone.npy"], proba=True),
                               out, format="csv")
    table = list(csv.reader(io.StringIO(out.getvalue())))
    assert table[0] == ["file", "start_s", "end_s", "prediction", "p_high", "p_low", "padded"]
    assert [r[1:3] for r in table[1:]] == [["0", "1"], ["1", "2"], ["2", "3"], ["3", "3.5"]]
    assert [r[-1] for r in table[1:]] == ["0", "0", "0", "1"]
    assert len(errors) == 1 and "gone.npy" in errors[0]["error"]
    lines = io.StringIO()
    write_predictions(predict_files(model, tmp_path / "rec.npy"), lines, format="jsonl")
    rows = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert len(rows) == 4 and set(rows[0]) == {"file", "start_s", "end_s", "prediction", "padded"}
    path = tmp_path / "rows.json"
    write_predictions(predict_files(model, tmp_path / "rec.npy"), path, format="json")
    assert json.loads(path.read_text()) == rows
    with pytest.raises(OutputExistsError, match="rows.json exists"):
        write_predictions(predict_files(model, tmp_path / "rec.npy"), path, format="json")
    with pytest.raises(ParameterError, match="format='xml' must be one of csv, jsonl, json"):
        write_predictions([], io.StringIO(), format="xml")


def test_a_regressor_gives_numbers(recording, tmp_path):
    signals = make_devices(8, n_timepoints=N, sr=SR, seed=0)
    model = fit_model(signals, np.linspace(10, 20, len(signals)), imaging="spectrum", regressor=True)
    np.save(tmp_path / "rec.npy", recording)
    rows = list(predict_files(model, tmp_path / "rec.npy"))
    np.testing.assert_allclose([r["prediction"] for r in rows],
                               model.predict(_windows(recording, [0, 128, 256, 384])), rtol=1e-6)
    with pytest.raises(ParameterError, match="proba=True .* needs a classifier"):
        predict_files(model, tmp_path / "rec.npy", proba=True)


def test_cli_predict_prints_the_good_files_and_fails_for_the_bad(model, recording, tmp_path, capsys):
    path = sigxfer.save(model, tmp_path / "m.sigx")
    np.save(tmp_path / "rec.npy", recording)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    argv = ["predict", str(path), str(tmp_path / "broken.wav"), str(tmp_path / "rec.npy"), "--hop", "0.5",
            "--format", "jsonl"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 6
    assert captured.err.count("\n") == 1 and captured.err.startswith("sigxfer: error: ") and "broken.wav" in captured.err
    assert main(["predict", str(path), str(tmp_path / "rec.npy"), "--proba", "-o", str(tmp_path / "p.csv")]) == 0
    assert (tmp_path / "p.csv").read_text().startswith("file,start_s,end_s,prediction,p_high,p_low,padded\n")
    assert main(["predict", str(path), str(tmp_path / "rec.npy"), "-o", str(tmp_path / "p.csv")]) == 1
    assert "--overwrite" in capsys.readouterr().err
