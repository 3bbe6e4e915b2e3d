"""Calibration of the "auto" strategy's domain distance: real photos against signal images.

Prints :func:`sigxfer.learning.domain.domain_distance` of a pretrained backbone for crops of
scikit-learn's two sample photos (colour and grey), for images of synthetic device signals under
each transform, and for pixel noise, then where the threshold ``DOMAIN_THRESHOLD`` falls. The
threshold should sit between the farthest photo set and the nearest signal image.

    python bench/bench_domain_distance.py [--backbone efficientnet_lite0] [--n 16] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_sample_image

from sigxfer.backbones import create_backbone, get_backbone_config
from sigxfer.data import make_devices
from sigxfer.imaging import Imager, list_transforms
from sigxfer.learning.domain import DOMAIN_THRESHOLD, domain_distance


def photo_crops(name: str, n: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """``n`` random square crops (160 px to the full height) of a sample photo, resized, in [0, 1]."""
    photo = torch.tensor(load_sample_image(name)).permute(2, 0, 1).float() / 255
    height, width = photo.shape[1:]
    crops = []
    for _ in range(n):
        side = int(rng.integers(160, height + 1))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        crop = photo[None, :, top:top + side, left:left + side]
        crops.append(F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
    return torch.cat(crops)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--n", type=int, default=16, help="images per set")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = get_backbone_config(args.backbone)
    backbone = create_backbone(args.backbone, pretrained=True)
    size = config.input_size
    mean, std = torch.tensor(config.mean).view(1, 3, 1, 1), torch.tensor(config.std).view(1, 3, 1, 1)
    rng = np.random.default_rng(args.seed)
    half = args.n // 2

    china, flower = photo_crops("china.jpg", args.n, size, rng), photo_crops("flower.jpg", args.n, size, rng)
    both = torch.cat([china[:half], flower[:half]])
    sets = {"photos: china.jpg crops": china, "photos: flower.jpg crops": flower,
            "photos: both": both, "photos: both, grey": both.mean(1, keepdim=True).expand(-1, 3, -1, -1)}
    devices = make_devices(half, n_timepoints=4096, sr=4096.0, seed=args.seed)

    def signal_images(transform, X, **params):
        imager = Imager(transform, sr=4096.0, size=size, mean=config.mean, std=config.std, **params).fit(X)
        return imager.pictures(torch.as_tensor(X))

    for transform in list_transforms():
        sets[f"device signals: {transform}"] = signal_images(transform, devices.X)
    sets["device signals: spectrogram, viridis"] = signal_images("spectrogram", devices.X, colormap="viridis")
    noise = rng.standard_normal((args.n, 1, 4096)).astype(np.float32)
    sets["white-noise signals: spectrogram"] = signal_images("spectrogram", noise)
    sets["pixel noise: uniform"] = torch.rand(args.n, 3, size, size, generator=torch.Generator().manual_seed(args.seed))

    print(f"domain distance, {args.backbone}, {args.n} images per set (threshold {DOMAIN_THRESHOLD})")
    for name, pictures in sets.items():
        d = domain_distance(backbone, (pictures - mean) / std)
        print(f"  {name:40s} {d:7.3f}  {'far' if d >= DOMAIN_THRESHOLD else 'close'}")


if __name__ == "__main__":
    main()
