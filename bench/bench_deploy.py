"""Deployment figures: latency per window (torch and onnxruntime), batch throughput, a long live stream.

1. Latency of one window (batch of one, the streaming case): median and p99 in ms, for the torch
   model and for its ONNX export in onnxruntime, and the real-time factor at the stream's hop
   (hop / latency: how many times faster than the signal the model keeps up).
2. ``predict_files`` throughput on long recordings: windows per second, its first job in the
   process (the engine calibrated for the job) and a later one, against each batch of 32 windows
   predicted on its own (what it did before its batches shared one engine).
3. A 10-minute 100 Hz three-axis stream, as text lines with malformed ones mixed in, through
   ``stream``: seconds of signal per second of wall time, and the process's resident memory
   (RSS) at the start, the end and its peak, sampled while streaming.

    python bench/bench_deploy.py [--backbone efficientnet_lite0] [--repeats 200] [--quick]

``--quick`` runs everything tiny (tinynet, one minute of stream) to check the script itself.
"""

from __future__ import annotations

import argparse
import io
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sigxfer import TransferClassifier
from sigxfer.data.gestures import make_gesture_stream, make_gestures
from sigxfer.deploy.onnx import export_onnx
from sigxfer.deploy.predict import predict_files
from sigxfer.deploy.stream import stream

IMAGING, IMAGING_PARAMS = "spectrogram", {"n_fft": 32, "hop_length": 4}


def rss_mib() -> float:
    """Resident memory of this process in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit(sr: float, backbone: str, n_per_class: int) -> TransferClassifier:
    train = make_gestures(n_per_class, sr=sr, seed=0)
    return TransferClassifier(imaging={"name": IMAGING, **IMAGING_PARAMS}, backbone=backbone,
                              random_state=0, progress=False).fit(train)


def latency(model, repeats: int, hop_s: float, tmp: Path) -> list[tuple]:
    import onnxruntime as ort

    x = make_gestures(1, sr=model.sr_, seed=1).X[:1]
    session = ort.InferenceSession(str(export_onnx(model, tmp / "m.onnx")), providers=["CPUExecutionProvider"])
    paths = {"torch": lambda: model.predict_proba(x), "onnxruntime": lambda: session.run(None, {"signals": x})}
    rows = []
    for name, call in paths.items():
        for _ in range(5):
            call()  # warm-up: first calls allocate and choose kernels
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        median, p99 = np.median(times), np.percentile(times, 99)
        rows.append((name, median * 1e3, p99 * 1e3, hop_s / median))
    return rows


def throughput(model, n_files: int, seconds: float, tmp: Path) -> list[tuple[str, int, float]]:
    """``(path, windows, seconds)``: predict_files as a new process's first job (its engine
    calibrated for the job) and as a later one (the choice kept), against each batch predicted on
    its own as predict_files did before (each file read and cut the same way; 32 windows a call,
    too few to calibrate for: eager torch)."""
    from sigxfer.deploy.predict import window_starts

    files = []
    for i in range(n_files):
        files.append(tmp / f"rec{i}.npy")
        np.save(files[-1], make_gesture_stream(seconds, sr=model.sr_, seed=10 + i).signal)
    width = int(model.n_timepoints_)
    model.predict_proba(np.zeros((32, model.n_channels_, width), np.float32))  # warm-up of the per-batch path
    t0 = time.perf_counter()
    n, batch = 0, np.zeros((32, model.n_channels_, width), np.float32)
    for file in files:
        signal, filled = np.load(file).astype(np.float32), 0
        for start in window_starts(signal.shape[1], width, width // 2):
            piece = signal[:, start:start + width]
            batch[filled] = 0.0
            batch[filled, :, :piece.shape[1]] = piece
            filled, n = filled + 1, n + 1
            if filled == 32:
                model.predict_proba(batch)
                filled = 0
        if filled:
            model.predict_proba(batch[:filled])
    rows = [("each batch of 32 on its own (before)", n, time.perf_counter() - t0)]
    window_s = model.n_timepoints_ / model.sr_
    for label in ("predict_files, first job (calibration included)", "predict_files, a later job (choice kept)"):
        t0 = time.perf_counter()
        n = len(list(predict_files(model, files, hop=window_s / 2)))
        rows.append((label, n, time.perf_counter() - t0))
    return rows


def long_stream(model, minutes: float, malformed_every: int) -> dict:
    signal = make_gesture_stream(minutes * 60, sr=model.sr_, seed=3).signal
    lines = []
    for i, row in enumerate(signal.T):
        lines.append(f"{row[0]:.5g},{row[1]:.5g},{row[2]:.5g}\n")
        if i % malformed_every == malformed_every - 1:
            lines.append("0.1,oops,0.3\n")
    text = io.StringIO("".join(lines))
    del lines
    samples = [rss_mib()]

    def sample(window):
        if window.index % 50 == 0:
            samples.append(rss_mib())

    t0 = time.perf_counter()
    summary = stream(model, text, hop=0.5, smooth=3, threshold=0.7, background="idle", on_window=sample, echo=None)
    wall = time.perf_counter() - t0
    samples.append(rss_mib())
    return {"summary": summary, "wall_s": wall, "rss_start": samples[0], "rss_end": samples[-1],
            "rss_peak": max(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--repeats", type=int, default=200, help="timed single-window calls per path")
    parser.add_argument("--files", type=int, default=16, help="recordings for the throughput test")
    parser.add_argument("--file-seconds", type=float, default=120.0, help="length of each recording")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the live stream")
    parser.add_argument("--quick", action="store_true", help="tiny settings, to check the script runs")
    args = parser.parse_args()
    if args.quick:
        args.backbone, args.repeats, args.files, args.file_seconds, args.minutes = "tinynet", 20, 2, 20.0, 1.0
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, backbone {args.backbone}")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        model50 = fit(50.0, args.backbone, 20 if args.quick else 40)
        lat = latency(model50, args.repeats, 0.25, tmp)
        through = throughput(model50, args.files, args.file_seconds, tmp)
    model100 = fit(100.0, args.backbone, 20 if args.quick else 40)
    live = long_stream(model100, args.minutes, malformed_every=500)

    print(f"\n### One window ({model50.n_channels_} x {model50.n_timepoints_} samples at {model50.sr_:g} Hz), "
          f"{args.repeats} calls\n")
    print("| path | median (ms) | p99 (ms) | real-time factor at hop 0.25 s |")
    print("|---|---|---|---|")
    for name, median, p99, rtf in lat:
        print(f"| {name} | {median:.2f} | {p99:.2f} | {rtf:.0f}x |")
    print(f"\n### predict_files: {args.files} recordings of {args.file_seconds:g} s, hop = half a window\n")
    print("| path | windows | seconds | windows/s | x before |")
    print("|---|---|---|---|---|")
    base = through[0][1] / through[0][2]
    for label, n_windows, seconds in through:
        print(f"| {label} | {n_windows} | {seconds:.2f} | {n_windows / seconds:.0f} | {n_windows / seconds / base:.2f} |")
    s = live["summary"]
    print(f"\n### Live stream: {args.minutes:g} min of 3-axis text at 100 Hz, a malformed line every 500\n")
    print("| signal (s) | wall (s) | faster than real time | windows | malformed lines | RSS start (MiB) "
          "| RSS end (MiB) | RSS peak (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {s['duration_s']:.0f} | {live['wall_s']:.1f} | {s['duration_s'] / live['wall_s']:.0f}x | {s['windows']} "
          f"| {s['malformed_lines']} | {live['rss_start']:.0f} | {live['rss_end']:.0f} | {live['rss_peak']:.0f} |")


if __name__ == "__main__":
    main()
