"""The streaming demo: count high fives in a live wrist-accelerometer signal (seed 001's case).

Train a classifier on labelled two-second windows of synthetic 50 Hz three-axis acceleration
(``"gesture"`` / ``"idle"``), then play a long synthetic recording through :func:`stream` as if it
came from the sensor, and compare the gestures it counts with the times they truly happened.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from sigxfer.data.gestures import make_gesture_stream, make_gestures
from sigxfer.deploy.sources import ArraySource
from sigxfer.deploy.stream import stream

#: A light picture for 3 axes at 50 Hz: 0.64 s frames every 80 ms, 0-25 Hz, axes as R, G, B.
IMAGING = "spectrogram"
IMAGING_PARAMS = {"n_fft": 32, "hop_length": 4}


def run_stream_demo(out=None, *, duration_s: float = 120.0, seed: int = 0, backbone: str = "efficientnet_lite0",
                    n_per_class: int = 40, hop: float = 0.25, smooth: int = 3, threshold: float = 0.7,
                    realtime: bool = False, speed: float = 1.0, image_size: int | None = None,
                    overwrite: bool = False, progress: bool | None = None, echo=print) -> dict:
    """Train on gesture windows, stream a long recording, report counted gestures against the truth.

    Parameters
    ----------
    out : str or Path, optional
        Folder for ``model.sigx``, ``stream.wav`` (the recording, 3 channels at 50 Hz: replay it with
        ``sigxfer stream out/model.sigx --source wav:out/stream.wav --realtime``), ``events.jsonl`` and
        ``result.json``. Built aside and moved into place; an existing non-empty folder is refused
        unless ``overwrite``. None: nothing is written.
    duration_s : float
        Seconds of streamed signal (one gesture per 15 s on average).
    seed : int
        Seeds the training windows, the stream and the training.
    backbone : str
        Registered backbone (``"tinynet"`` for a fast smoke run).
    n_per_class : int
        Training windows per class.
    hop, smooth, threshold
        As :func:`~sigxfer.deploy.stream.stream`.
    realtime : bool
        Play the recording at ``speed`` times real time (else as fast as the model runs).
    speed : float
        Real-time factor with ``realtime``.
    image_size : int, optional
        Image side; the backbone's by default.
    echo : callable
        Where the text goes.

    Returns
    -------
    dict
        ``truth``, ``counted``, ``found``, ``missed``, ``false_alarms``, ``held_out_accuracy``,
        ``summary`` (the stream's) and ``seconds``.

    Examples
    --------
    >>> result = run_stream_demo(duration_s=60, backbone="tinynet")   # doctest: +SKIP
    >>> result["counted"], result["truth"]                             # doctest: +SKIP
    (4, 4)
    """
    from sigxfer._atomic import check_output, install_folder, new_staging_folder

    out = Path(out) if out is not None else None
    if out is not None:
        check_output(out, overwrite=overwrite, kind="folder", owner="stream-demo")
    tmp = new_staging_folder(out) if out is not None else None
    try:
        result = _run(tmp, duration_s=duration_s, seed=seed, backbone=backbone, n_per_class=n_per_class, hop=hop,
                      smooth=smooth, threshold=threshold, speed=speed if realtime else None,
                      image_size=image_size, progress=progress, echo=echo)
        if tmp is not None:
            (tmp / "result.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
            install_folder(tmp, out, owner="stream-demo")
            echo(f"wrote {out}/ (model.sigx, stream.wav, events.jsonl, result.json)")
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def _run(tmp, *, duration_s, seed, backbone, n_per_class, hop, smooth, threshold, speed, image_size, progress,
         echo) -> dict:
    from sigxfer.estimators import TransferClassifier

    t_start = time.perf_counter()
    train = make_gestures(n_per_class, seed=seed)
    held_out = make_gestures(max(n_per_class // 2, 5), seed=seed + 1)
    echo(f"1. {len(train)} labelled windows of 3-axis acceleration ({train.n_timepoints} samples at "
         f"{train.sr:g} Hz) -> {IMAGING} {IMAGING_PARAMS} -> {backbone} -> linear probe")
    model = TransferClassifier(imaging={"name": IMAGING, **IMAGING_PARAMS}, backbone=backbone,
                               strategy="linear", image_size=image_size, random_state=seed, progress=progress)
    model.fit(train)
    accuracy = float((model.predict(held_out) == held_out.y).mean())
    echo(f"   held-out windows: {accuracy:.1%} correct ({len(held_out)} windows)")

    recording = make_gesture_stream(duration_s, seed=seed + 2)
    pace = "as fast as the model runs" if speed is None else f"at {speed:g}x real time"
    echo(f"2. streaming {duration_s:g} s of signal {pace}: window {train.n_timepoints / train.sr:g} s, "
         f"hop {hop:g} s, smoothing over {smooth}, threshold {threshold:g}")
    events: list = []
    summary = stream(model, ArraySource(recording.signal, sr=recording.sr, speed=speed), hop=hop, smooth=smooth,
                     threshold=threshold, background="idle", on_event=events.append, echo=echo)
    found, false_alarms = match_events(events, recording.times, tolerance=train.n_timepoints / train.sr / 2)
    truth = len(recording.times)
    counted = summary["events"].get("gesture", 0)
    echo(f"3. counted {counted} gesture(s); truly {truth}: {found} found, {truth - found} missed, "
         f"{false_alarms} false alarm(s)")
    if tmp is not None:
        from sigxfer.deploy.bundle import save
        import soundfile as sf

        save(model, tmp / "model.sigx")
        sf.write(str(tmp / "stream.wav"), recording.signal.T, int(recording.sr), subtype="FLOAT", format="WAV")
        with open(tmp / "events.jsonl", "w", encoding="utf-8") as fh:
            for event in events:
                fh.write(json.dumps(event.to_dict()) + "\n")
    return {"truth": truth, "counted": counted, "found": found, "missed": truth - found,
            "false_alarms": false_alarms, "held_out_accuracy": accuracy, "true_times": recording.times.tolist(),
            "summary": summary, "backbone": backbone, "seed": seed, "seconds": time.perf_counter() - t_start}


def match_events(events, times: np.ndarray, *, tolerance: float = 1.0) -> tuple[int, int]:
    """Pair detected events with true ``(start, end)`` times; return (found, false alarms).

    A detection (its ``start`` to its ``end`` event) finds a true gesture when the two intervals
    come within ``tolerance`` seconds of each other; each true gesture is found at most once.

    Examples
    --------
    >>> from sigxfer.deploy.stream import Event
    >>> ev = [Event("start", "g", 1.0, 1, 0.9), Event("end", "g", 2.0, 1, 0.9)]
    >>> match_events(ev, np.array([[1.5, 1.8], [9.0, 9.5]]))
    (1, 0)
    """
    spans, open_at = [], {}
    for event in events:
        if event.kind == "start":
            open_at[event.label] = event.time_s
        elif event.label in open_at:
            spans.append((open_at.pop(event.label), event.time_s))
    used = np.zeros(len(times), dtype=bool)
    found = false_alarms = 0
    for start, end in spans:
        hits = [i for i, (t0, t1) in enumerate(times) if not used[i] and start - tolerance <= t1 and t0 <= end + tolerance]
        if hits:
            used[hits[0]] = True
            found += 1
        else:
            false_alarms += 1
    return found, false_alarms
