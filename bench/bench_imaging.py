"""Imaging speed: images per second per transform, against the tutorial pipeline and the backbone.

Usage::

    python bench/bench_imaging.py                  # 1,000 signals of 4,096 samples, 2 threads
    python bench/bench_imaging.py --threads 1 --out BENCHMARKS_imaging.table.md

For each transform, an :class:`~sigxfer.imaging.Imager` is fitted on 200 signals, then turns all
``--n-signals`` signals into normalised 224x224 images in batches of 64 (the best of ``--repeats``
passes counts, to damp other processes on the machine). In the same run, for ``spectrum`` and
``spectrogram``, the pipeline tutorials use (a matplotlib figure, saved as a PNG file, read back
with Pillow, resized, normalised) makes ``--n-naive`` images; it is slow, so it sees fewer
signals and the comparison is per image. Last, EfficientNet-Lite0's ``forward_features`` reads
224x224 images, and each transform's time per case is given as a fraction of it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sigxfer.imaging import Imager, list_transforms

SR = 8192.0
SIZE = 224


def make_signals(n_signals: int, n_timepoints: int, seed: int = 0) -> np.ndarray:
    """Three noisy tones of random frequency and amplitude per signal, as in seed 000."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_timepoints) / SR
    freqs = rng.uniform(50, 3000, size=(n_signals, 3, 1))
    amps = rng.uniform(0.1, 10, size=(n_signals, 3, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(n_signals, 3, 1))
    x = (amps * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=1, keepdims=True)
    return (x + rng.uniform(0, 3, size=x.shape)).astype(np.float32)


def time_imager(imager: Imager, x: torch.Tensor, repeats: int, batch: int = 64) -> float:
    """Best seconds per image over ``repeats`` passes through all of ``x``."""
    with torch.no_grad():
        imager(x[:batch])  # warm-up: bases and filter banks are built and cached here
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(0, len(x), batch):
                imager(x[i:i + batch])
            best = min(best, (time.perf_counter() - start) / len(x))
    return best


def naive_images(x: np.ndarray, transform: str, mean, std) -> float:
    """The tutorial pipeline: figure -> PNG file -> Pillow -> resize -> tensor; seconds per image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    mean_t = torch.tensor(mean).view(3, 1, 1)
    std_t = torch.tensor(std).view(3, 1, 1)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "image.png")
        start = time.perf_counter()
        for signal in x[:, 0]:
            fig = plt.figure(figsize=(3, 3), dpi=100)
            ax = fig.add_axes((0, 0, 1, 1))
            if transform == "spectrum":
                mag = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
                ax.fill_between(np.fft.rfftfreq(len(signal), 1 / SR), 20 * np.log10(mag + 1e-10) - 120,
                                color="black")
                ax.set_ylim(-60, 60)
            else:
                ax.specgram(signal, NFFT=256, Fs=SR, noverlap=192, cmap="gray")
            ax.set_axis_off()
            fig.savefig(path)
            plt.close(fig)
            img = Image.open(path).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
            tensor = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
            _ = (tensor - mean_t) / std_t
        return (time.perf_counter() - start) / len(x)


def time_backbone(n_images: int, repeats: int) -> tuple[float, str, tuple, tuple]:
    from sigxfer.backbones import create_backbone, get_backbone_config

    name = "efficientnet_lite0"
    config = get_backbone_config(name)
    net = create_backbone(name).eval()
    images = torch.randn(n_images, 3, SIZE, SIZE)
    with torch.no_grad():
        net.forward_features(images[:8])
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(0, n_images, 32):
                net.forward_features(images[i:i + 32])
            best = min(best, (time.perf_counter() - start) / n_images)
    return best, name, tuple(config.mean), tuple(config.std)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-signals", type=int, default=1000)
    parser.add_argument("--n-timepoints", type=int, default=4096)
    parser.add_argument("--n-naive", type=int, default=50, help="signals through the tutorial pipeline")
    parser.add_argument("--n-backbone", type=int, default=96, help="images through the backbone")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--transforms", nargs="*", default=list_transforms())
    parser.add_argument("--out", type=Path, help="also write the markdown table here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
          f"torch {torch.__version__}, {args.threads} thread(s); load average at start "
          f"{load[0]:.1f}", file=sys.stderr)
    x_np = make_signals(args.n_signals, args.n_timepoints)
    x = torch.as_tensor(x_np)

    backbone_s, backbone, mean, std = time_backbone(args.n_backbone, args.repeats)
    print(f"backbone {backbone}: {backbone_s * 1e3:.1f} ms/image", file=sys.stderr)

    rows = []
    for name in args.transforms:
        imager = Imager(name, sr=SR, size=SIZE, mean=mean, std=std).fit(x_np[:200])
        ours = time_imager(imager, x, args.repeats)
        naive = None
        if name in ("spectrum", "spectrogram") and args.n_naive > 0:
            naive = naive_images(x_np[:args.n_naive], name, mean, std)
        rows.append((name, ours, naive))
        print(f"{name}: {1 / ours:.0f} img/s" + (f", naive {1 / naive:.1f} img/s" if naive else ""),
              file=sys.stderr)

    load_end = os.getloadavg()[0]
    lines = [
        f"| transform | sigxfer img/s | ms/img | naive img/s | speed-up | imaging / backbone |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, ours, naive in rows:
        naive_cells = (f"{1 / naive:.1f} | {naive / ours:.0f}x" if naive else "- | -")
        lines.append(f"| {name} | {1 / ours:.0f} | {ours * 1e3:.2f} | {naive_cells} | "
                     f"{ours / backbone_s:.3f} |")
    lines.append("")
    lines.append(f"{args.n_signals} signals x {args.n_timepoints} samples -> {SIZE}x{SIZE}, "
                 f"{args.threads} thread(s), best of {args.repeats}; naive pipeline on "
                 f"{args.n_naive} signals; {backbone} forward_features {backbone_s * 1e3:.1f} ms/img "
                 f"({1 / backbone_s:.1f} img/s); load average {load[0]:.1f} at start, "
                 f"{load_end:.1f} at end.")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
