"""`sigxfer compare` on GunPoint, ArrowHead, BasicMotions (official splits) and the demo's devices.

Every contender of :func:`sigxfer.evaluation.compare.compare` runs on the same train/test split of
each data set; the table reports accuracy with its Wilson 95% interval, fit and predict time, and
the difference to MiniRocket (accuracy minus MiniRocket's; fit CPU time over MiniRocket's).

Settings, fixed before looking at any result:

- backbone efficientnet_lite0; frozen contenders (``linear``, ``embeddings-rf``) read 224-pixel
  images (``random-linear`` is left out for time; ``scratch`` is the no-transfer baseline), the
  trained ones (``finetune``, ``scratch``) 96-pixel images with short schedules
  (``--train-image-size``, ``--finetune-epochs``, ``--scratch-epochs``) so the whole run fits a
  2-core budget of about 20 minutes;
- timings: wall clock and this process's CPU seconds; the ratio to MiniRocket uses CPU seconds,
  which a shared machine disturbs less than wall time;
- UCR series have no sample rate: ``sr=1`` (frequencies in cycles per sample); their transform is
  the spectrogram with a window from the series length (the largest power of two not above a
  quarter of it, at least 16; hop an eighth of the window);
- devices: ``make_devices(60, seed=0)``, the demo's 70/30 stratified split (seed 0), compared with
  two transforms, ``spectrum`` and ``spectrogram``;
- MiniRocket's numba compilation is paid once, untimed, before its timed fit.

Usage::

    python bench/bench_compare.py                                   # print the table
    python bench/bench_compare.py --write BENCHMARKS_compare.md --out bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from sigxfer import make_devices
from sigxfer.data import train_test_split_signals
from sigxfer.data.ucr import load_ucr
from sigxfer.evaluation.compare import compare, list_contenders

UCR = ("GunPoint", "ArrowHead", "BasicMotions")
BACKBONE = "efficientnet_lite0"
SEED = 0


def spectrogram_params(n_timepoints: int) -> dict:
    """Window for short series: largest power of two <= n/4 (at least 16), hop of an eighth."""
    n_fft = 16
    while 2 * n_fft <= n_timepoints // 4:
        n_fft *= 2
    return {"name": "spectrogram", "n_fft": n_fft, "hop_length": max(1, n_fft // 8)}


def datasets():
    """(name, train, test, transforms) of each benchmarked data set."""
    out = []
    for name in UCR:
        train, test = load_ucr(name, split="train"), load_ucr(name, split="test")
        train.sr = test.sr = 1.0
        out.append((name, train, test, [spectrogram_params(train.n_timepoints)]))
    devices = make_devices(60, seed=SEED)
    train, test = train_test_split_signals(devices, test_size=0.3, random_state=SEED)
    out.append(("devices", train, test, ["spectrum", "spectrogram"]))
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores (torch threads {torch.get_num_threads()}), "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, torch {torch.__version__}")


def table(results: list[dict]) -> str:
    """Markdown table of all rows, with differences to MiniRocket on the same data set."""
    lines = ["| data set | contender | transform | accuracy (95% CI) | Δ acc vs MiniRocket | fit s (wall) | "
             "fit CPU s | fit CPU / MiniRocket's | predict ms/case (wall) |",
             "|---|---|---|---|---|---:|---:|---:|---:|"]
    for result in results:
        rows = result["rows"]
        ref = next((r for r in rows if r["contender"] == "minirocket" and r["status"] == "ok"), None)
        for r in rows:
            if r["status"] != "ok":
                lines.append(f"| {result['dataset']} | {r['contender']} | {r['imaging']} | {r['status']} | | | | | |")
                continue
            delta = f"{r['score'] - ref['score']:+.3f}" if ref else "n/a"
            ratio = f"{r['fit_cpu_seconds'] / ref['fit_cpu_seconds']:.1f}×" if ref else "n/a"
            transform = r["imaging"] if r["imaging"] != "-" else "raw signal"
            lines.append(f"| {result['dataset']} | {r['contender']} | {transform} | {r['score']:.3f} "
                         f"({r['ci_low']:.3f}–{r['ci_high']:.3f}) | {delta} | {r['fit_seconds']:.1f} | "
                         f"{r['fit_cpu_seconds']:.1f} | {ratio} | "
                         f"{r['predict_ms_per_case']:.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", default=None, help="write the Markdown fragment here")
    parser.add_argument("--out", default=None, help="folder for each data set's comparison.csv/json")
    parser.add_argument("--train-image-size", type=int, default=96)
    parser.add_argument("--finetune-epochs", type=int, default=5)
    parser.add_argument("--scratch-epochs", type=int, default=10)
    parser.add_argument("--only", default=None, help="comma-separated data sets (default: all)")
    args = parser.parse_args(argv)

    available = list_contenders(task="classification")
    # random-linear (the frozen random net) is left out to keep the CPU budget; scratch is the
    # no-transfer baseline the issue asks for.
    contenders = [c for c in available if c != "random-linear"]
    params = {}
    if "finetune" in available:
        params["finetune"] = {"image_size": args.train_image_size, "epochs": args.finetune_epochs, "head_epochs": 2}
    if "scratch" in available:
        params["scratch"] = {"image_size": args.train_image_size, "epochs": args.scratch_epochs}
    results, started = [], time.perf_counter()
    for name, train, test, transforms in datasets():
        if args.only and name not in args.only.split(","):
            continue
        print(f"== {name}: {len(train)} train, {len(test)} test, {train.n_channels} channel(s) x "
              f"{train.n_timepoints} samples", flush=True)
        out = Path(args.out) / name if args.out else None
        result = compare(train, test, contenders=contenders, imaging=transforms, backbone=BACKBONE,
                         contender_params=params,
                         random_state=SEED, progress=False, out=out, overwrite=True,
                         echo=lambda line: print(line, flush=True))
        print(result.format_table(), flush=True)
        results.append({"dataset": name, "n_train": len(train), "n_test": len(test), "rows": result.rows,
                        "seconds": result.config["seconds"]})
    total = time.perf_counter() - started
    command = "python bench/bench_compare.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join([
        "## Comparisons: transfer against the alternatives (`sigxfer compare`)",
        "",
        f"Command: `{command.strip()}` (total {total / 60:.1f} min).",
        f"Machine: {machine()}.",
        "",
        "Each data set: every contender fitted on the same official train split (UCR) or the demo's 70/30 "
        "split (devices), scored once on the test split. Accuracy with Wilson's 95% interval; Δ is accuracy "
        "minus MiniRocket's on the same data; fit-time ratio is fit CPU seconds over MiniRocket's. "
        f"Backbone {BACKBONE}: frozen contenders at 224 px; finetune/scratch at {args.train_image_size} px "
        f"({args.finetune_epochs} and {args.scratch_epochs} epochs) to stay within the CPU budget. "
        "UCR: sr=1, spectrogram window from the series length.",
        "",
        table(results),
        "",
    ])
    print(text)
    if args.write:
        Path(args.write).write_text(text)
        json_path = Path(__file__).with_name("compare_results.json")
        json_path.write_text(json.dumps({"command": command, "machine": machine(), "seconds": total,
                                         "results": results}, indent=2, default=float) + "\n")
        print(f"wrote {args.write} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
