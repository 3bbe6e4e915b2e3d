"""Backbone and end-to-end throughput on this machine's CPU.

Prints embeddings per second of each backbone at its input size, and signals per second of the
whole path (imaging + backbone) for the demo's transforms, with the ratio end-to-end / backbone
alone measured in the same run (1.0 = imaging costs nothing).

    python bench/bench_backbone.py [--n 256] [--batch-size 32] [--backbones efficientnet_lite0]
"""

from __future__ import annotations

import argparse
import platform

import torch

from sigxfer.backbones import create_backbone, get_backbone_config
from sigxfer.data import make_devices
from sigxfer.imaging import Imager
from timing import best_rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=128, help="cases per timed pass")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0"])
    parser.add_argument("--transforms", nargs="+", default=["spectrum", "spectrogram"])
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    signals = make_devices(args.n // 2, n_timepoints=4096, sr=4096.0, seed=0)
    X = torch.as_tensor(signals.X)
    rows = []
    with torch.no_grad():
        for name in args.backbones:
            config = get_backbone_config(name)
            net = create_backbone(name).eval()
            size = config.input_size
            images = torch.rand(args.n, 3, size, size)

            def backbone_only():
                for i in range(0, args.n, args.batch_size):
                    net.forward_features(images[i:i + args.batch_size])

            b_rate = best_rate(backbone_only, args.n)
            print(f"{name:<20} backbone alone        {b_rate:7.1f} images/s at {size}px (batch {args.batch_size})")
            for transform in args.transforms:
                imager = Imager(transform, sr=signals.sr, size=size, mean=config.mean, std=config.std).fit(X)

                def end_to_end():
                    for i in range(0, args.n, args.batch_size):
                        net.forward_features(imager(X[i:i + args.batch_size]))

                def imaging_only():
                    for i in range(0, args.n, args.batch_size):
                        imager(X[i:i + args.batch_size])

                e_rate = best_rate(end_to_end, args.n)
                i_rate = best_rate(imaging_only, args.n)
                rows.append((name, transform, b_rate, i_rate, e_rate))
                print(f"{name:<20} {transform:<12} e2e   {e_rate:7.1f} signals/s   imaging alone {i_rate:8.1f}/s"
                      f"   e2e/backbone {e_rate / b_rate:.2f}")
    print("\n| backbone | transform | backbone alone (img/s) | imaging alone (sig/s) | end to end (sig/s) | end-to-end / backbone |")
    print("|---|---|---|---|---|---|")
    for name, transform, b, i, e in rows:
        print(f"| {name} | {transform} | {b:.1f} | {i:.0f} | {e:.1f} | {e / b:.2f} |")


if __name__ == "__main__":
    main()
