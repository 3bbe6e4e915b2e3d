"""Streaming: the engine against batch prediction, events, smoothing, bounded memory, sources, clocks, Ctrl-C."""

from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
import pytest
import soundfile as sf

import sigxfer
from sigxfer import DataError, ParameterError
from sigxfer.cli import main
from sigxfer.data.gestures import make_gesture_stream, make_gestures
from sigxfer.deploy.predict import predict_files
from sigxfer.deploy.sources import ArraySource, TailSource, TextSource, open_source
from sigxfer.deploy.stream import StreamEngine, stream

from deploy_models import fit_model

pytestmark = pytest.mark.usefixtures("one_thread")
GESTURE_IMAGING = {"n_fft": 32, "hop_length": 4}


@pytest.fixture(scope="module")
def gesture_model():
    """Two-second windows of 3-axis acceleration at 50 Hz."""
    return fit_model(make_gestures(20, seed=0), imaging="spectrogram", params=GESTURE_IMAGING)


class ScriptedModel:
    """A classifier with a known answer: P("on") is the window's mean sample value, clipped to [0, 1]."""

    classes_ = np.array(["off", "on"])
    sr_, n_channels_, n_timepoints_, batch_size, net_ = 10.0, 1, 4, 8, None

    def predict_proba(self, X):
        p = np.clip(np.asarray(X).mean(axis=(1, 2)), 0.0, 1.0)
        return np.stack([1 - p, p], axis=1)


def _bursts():
    """At 10 Hz: 1 s of zeros, 0.8 s of ones, 1 s of zeros, 0.8 s of ones, 1 s of zeros."""
    return np.concatenate([np.zeros(10), np.ones(8), np.zeros(10), np.ones(8), np.zeros(10)])[None, :]


def test_a_window_from_the_stream_equals_batch_prediction_of_that_window(gesture_model, tmp_path):
    recording = make_gesture_stream(30.0, seed=4).signal
    np.save(tmp_path / "rec.npy", recording)
    batch = [r for r in predict_files(gesture_model, tmp_path / "rec.npy", hop=0.5, proba=True) if not r["padded"]]
    engine = StreamEngine(gesture_model, hop=0.5)
    rng = np.random.default_rng(0)
    windows, i = [], 0
    while i < recording.shape[1]:  # blocks of random sizes, 1 to 137 samples
        k = int(rng.integers(1, 138))
        windows += engine.feed(recording[:, i:i + k])
        i += k
    assert len(windows) == len(batch) == 57
    assert [w.start_s for w in windows] == [r["start_s"] for r in batch]
    got = np.array([w.probabilities for w in windows])
    want = np.array([[r["probabilities"][c] for c in gesture_model.classes_] for r in batch])
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_events_start_and_end_with_smoothing_and_a_count_per_class():
    engine = StreamEngine(ScriptedModel(), hop=0.2, background="off")
    events = [e for w in engine.feed(_bursts()) for e in w.events]
    assert [(e.kind, e.label, round(e.time_s, 3), e.count) for e in events] == [
        ("start", "on", 1.2, 1), ("end", "on", 1.6, 1), ("start", "on", 3.0, 2), ("end", "on", 3.4, 2)]
    smoothed = StreamEngine(ScriptedModel(), hop=0.2, smooth=2, background="off")
    events = [e for w in smoothed.feed(_bursts()) for e in w.events]
    assert [(e.kind, round(e.time_s, 3)) for e in events][:2] == [("start", 1.2), ("end", 1.8)]
    assert smoothed.summary()["events"] == {"on": 2}


def test_the_threshold_and_the_end_of_the_stream():
    engine = StreamEngine(ScriptedModel(), hop=0.2, threshold=0.9, background="off")
    signal = np.concatenate([np.zeros(10), np.full(10, 0.8), np.ones(6)])[None, :]  # never sure, then sure
    windows = engine.feed(signal)
    assert [w.label for w in windows][-2:] == ["on", "on"]
    assert all(w.label is None for w in windows if w.smoothed[1] < 0.9)
    last, = engine.close()  # still "on" when the stream stops: it ends there
    assert (last.kind, last.label, last.count) == ("end", "on", 1)
    assert engine.close() == []


def test_without_a_background_every_class_holds_events():
    engine = StreamEngine(ScriptedModel(), hop=0.2)
    events = [e for w in engine.feed(_bursts()) for e in w.events]
    assert [(e.kind, e.label) for e in events[:3]] == [("start", "off"), ("end", "off"), ("start", "on")]
    assert engine.summary()["events"] == {"off": 3, "on": 2}


def test_memory_stays_bounded_over_ten_minutes_of_100_hz_samples():
    model = fit_model(make_gestures(8, sr=100.0, seed=0), imaging="spectrogram", params=GESTURE_IMAGING)
    engine = StreamEngine(model, hop=1.0, smooth=4, batch_size=16)
    before = (engine._ring.shape, engine._batch.shape, engine.memory_nbytes)
    signal = make_gesture_stream(600.0, sr=100.0, seed=1).signal
    n_windows = 0
    for start in range(0, signal.shape[1], 997):  # chunks that do not line up with the hop
        n_windows += len(engine.feed(signal[:, start:start + 997]))
        assert not engine._batch_ends
    assert n_windows == engine.n_windows == 599 and engine.n_samples == 60_000
    assert (engine._ring.shape, engine._batch.shape, engine.memory_nbytes) == before
    assert engine._ring.shape == (3, 200) and engine._recent.shape == (4, 2) and len(engine.notices) == 0


def test_malformed_lines_are_counted_and_skipped(gesture_model):
    good = make_gesture_stream(6.0, seed=2).signal
    lines = ["ax,ay,az", "# a comment", ""]
    for i, row in enumerate(good.T):
        lines.append(",".join(f"{v:.7g}" for v in row))
        if i % 50 == 7:
            lines += ["0.1,0.2", "0.1,abc,0.3", "nan,0,0", "1,2,3,4", "0.5,0.5,0.5\x00garbage"]
    printed = []
    summary = stream(gesture_model, io.StringIO("\n".join(lines) + "\n"), hop=0.5, echo=printed.append)
    assert summary["malformed_lines"] == 1 + 5 * 6 and summary["samples"] == good.shape[1]
    assert summary["windows"] == 9 and not summary["interrupted"]
    assert "malformed 31 line(s) skipped, e.g. 'ax,ay,az'" in printed[-1]
    reference = StreamEngine(gesture_model, hop=0.5).feed(good)
    assert summary["windows"] == len(reference)


def test_keyboard_interrupt_ends_with_a_summary(gesture_model):
    signal = make_gesture_stream(10.0, seed=3).signal

    class Interrupted(ArraySource):
        def chunks(self, size):
            yield from list(super().chunks(size))[:12]
            raise KeyboardInterrupt

    printed = []
    summary = stream(gesture_model, Interrupted(signal, sr=50.0), hop=0.5, echo=printed.append)
    assert summary["interrupted"] and summary["samples"] == 12 * 25 and summary["windows"] == 9
    assert printed[-1].startswith("interrupted after 6.0 s of signal (300 samples)")
    assert "windows   9" in printed[-1] and "events" in printed[-1]


def test_json_lines_hold_events_and_the_summary():
    printed, seen = [], []
    summary = stream(ScriptedModel(), ArraySource(_bursts(), sr=10.0), hop=0.2, background="off",
                     json_lines=True, on_event=seen.append, echo=printed.append)
    records = [json.loads(line) for line in printed]
    assert [r["type"] for r in records] == ["event"] * 4 + ["summary"]
    assert records[0] == {"type": "event", "kind": "start", "label": "on", "time_s": pytest.approx(1.2),
                          "count": 1, "probability": 1.0}
    assert records[-1]["events"] == {"on": 2} == summary["events"] and len(seen) == 4


def test_gaps_and_drift_in_timestamps_are_reported():
    t = np.arange(300) / 10.0
    t[150:] += 2.0  # two seconds lost
    lines = "\n".join(f"{ti:.3f},{0.0}" for ti in t) + "\n"
    printed = []
    summary = stream(ScriptedModel(), io.StringIO(lines), timestamps=True, echo=printed.append)
    assert summary["gaps"] == 1 and summary["gap_s"] == pytest.approx(2.0, abs=1e-6)
    assert summary["drift_notices"] == 0
    assert any(line.startswith("notice: gap of 2.000 s in the timestamps after t=14.900 s") for line in printed)
    engine = StreamEngine(ScriptedModel(), drift_tolerance=0.5)
    slow = np.arange(1000) / 9.8  # the device's clock says 9.8 samples/s, not 10
    for start in range(0, 1000, 100):
        engine.feed(np.zeros((1, 100)), timestamps=slow[start:start + 100])
    assert engine.n_drift == 4 and engine.notices[0]["type"] == "drift"


def test_a_source_slower_than_its_rate_is_noticed_against_the_wall_clock():
    engine = StreamEngine(ScriptedModel(), drift_tolerance=1.0)
    for second in range(1, 13):  # 5 samples arrive per wall-clock second at sr = 10
        engine.feed(np.zeros((1, 5)), received_at=100.0 + second)
    assert engine.n_drift >= 5 and "drops samples or runs at another rate" in engine.notices[-1]["message"]
    fast = StreamEngine(ScriptedModel())
    for second in range(1, 13):  # a replay, faster than real time: nothing to report
        fast.feed(np.zeros((1, 50)), received_at=100.0 + second)
    assert fast.n_drift == 0


def test_a_followed_file_is_read_as_it_grows(tmp_path):
    path = tmp_path / "live.csv"
    path.write_text("")
    samples = (np.arange(60) % 20 >= 10).astype(float)  # 1 s off, 1 s on, ...

    def writer():
        with open(path, "a") as fh:
            for i, v in enumerate(samples):
                text = "oops\n" if i == 45 else f"{v:.1f}\n"
                if i == 30:  # half a line, finished a moment later
                    fh.write(text[:2])
                    fh.flush()
                    time.sleep(0.05)
                    text = text[2:]
                fh.write(text)
                fh.flush()
                if i % 10 == 0:
                    time.sleep(0.01)

    thread = threading.Thread(target=writer)
    thread.start()
    summary = stream(ScriptedModel(), TailSource(path, n_channels=1, poll=0.01, stop=lambda: not thread.is_alive()),
                     hop=0.4, background="off", echo=None)
    thread.join()
    assert summary["samples"] == 59 and summary["malformed_lines"] == 1
    assert summary["events"] == {"on": 3}


def test_a_wav_file_played_at_real_time_gives_the_fast_answer(gesture_model, tmp_path):
    signal = make_gesture_stream(8.0, seed=5).signal
    sf.write(tmp_path / "s.wav", signal.T, 50, subtype="FLOAT")
    fast = stream(gesture_model, f"wav:{tmp_path / 's.wav'}", hop=0.5, echo=None)
    paced = stream(gesture_model, f"wav:{tmp_path / 's.wav'}", hop=0.5, realtime=True, speed=40.0, echo=None)
    assert fast == paced and fast["windows"] == 13
    sf.write(tmp_path / "fast.wav", signal.T, 100, subtype="FLOAT")
    with pytest.raises(DataError, match="fast.wav: sample rate 100 Hz, but the model was trained at 50 Hz"):
        stream(gesture_model, f"wav:{tmp_path / 'fast.wav'}", echo=None)
    sf.write(tmp_path / "mono.wav", signal[0], 50, subtype="FLOAT")
    with pytest.raises(DataError, match="mono.wav: has 1 channel.*reads 3"):
        stream(gesture_model, f"wav:{tmp_path / 'mono.wav'}", echo=None)


def test_source_descriptions_and_their_errors(tmp_path):
    assert isinstance(open_source(io.StringIO(""), n_channels=2), TextSource)
    with pytest.raises(DataError, match="nowhere.csv: no such file to follow"):
        open_source(tmp_path / "nowhere.csv", n_channels=1)
    with pytest.raises(ParameterError, match="serial:PORT@BAUD"):
        open_source("serial:/dev/ttyX@fast", n_channels=1)
    try:
        import serial  # noqa: F401
    except ImportError:
        with pytest.raises(ParameterError, match=r"needs pyserial; pip install 'sigxfer\[serial\]'"):
            open_source("serial:/dev/ttyUSB0@9600", n_channels=1)


def test_bad_engine_parameters_are_refused(gesture_model):
    with pytest.raises(ParameterError, match="smooth=0 must be a positive number of windows"):
        StreamEngine(gesture_model, smooth=0)
    with pytest.raises(ParameterError, match=r"threshold=1.5 must be a probability in \(0, 1\]"):
        StreamEngine(gesture_model, threshold=1.5)
    with pytest.raises(ParameterError, match="background='rest' is not one of the model's classes"):
        StreamEngine(gesture_model, background="rest")
    engine = StreamEngine(gesture_model)
    with pytest.raises(DataError, match=r"a chunk of shape \(1, 5\) does not fit the model's 3 channel"):
        engine.feed(np.zeros((1, 5)))


def test_cli_stream_follows_a_file_and_prints_json_lines(gesture_model, tmp_path, capsys):
    model = sigxfer.save(gesture_model, tmp_path / "g.sigx")
    recording = make_gesture_stream(20.0, seed=6)
    (tmp_path / "live.csv").write_text("\n".join(",".join(f"{v:.6g}" for v in row) for row in recording.signal.T) + "\n")
    argv = ["stream", str(model), "--source", str(tmp_path / "live.csv"), "--idle-timeout", "0.2", "--hop", "0.25",
            "--smooth", "3", "--threshold", "0.7", "--background", "idle", "--json"]
    assert main(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records[-1]["type"] == "summary" and records[-1]["samples"] == 1000
    starts = [r for r in records if r["type"] == "event" and r["kind"] == "start"]
    assert records[-1]["events"] == {"gesture": len(starts)} and len(starts) >= 1


@pytest.mark.slow
def test_the_demo_counts_the_gestures_of_a_long_stream(tmp_path, capsys):
    from sigxfer.deploy.stream_demo import run_stream_demo

    result = run_stream_demo(tmp_path / "demo", duration_s=120.0, backbone="tinynet", seed=0)
    assert result["truth"] == 8
    assert result["found"] >= 7 and result["false_alarms"] <= 1
    assert result["counted"] == result["found"] + result["false_alarms"]
    out = capsys.readouterr().out
    assert f"3. counted {result['counted']} gesture(s); truly 8" in out
    written = sorted(p.name for p in (tmp_path / "demo").iterdir() if not p.name.startswith("."))
    assert written == ["events.jsonl", "model.sigx", "result.json", "stream.wav"]
    assert main(["demo", "stream", "--backbone", "tinynet", "--duration", "30", "-q"]) == 0
    assert "counted" in capsys.readouterr().out
