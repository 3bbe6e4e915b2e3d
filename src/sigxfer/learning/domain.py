"""How far a set of images lies from the domain a pretrained backbone learned on.

A pretrained network's BatchNorm layers carry the per-channel mean and variance of their inputs
over its training images (ImageNet): a summary of that domain at every depth, free with the
weights. Passing the user's images through the network and comparing the mean and variance they
produce in the same channels with those running statistics says how unfamiliar the images are
to the early layers, the ones transfer learning relies on.

For each BatchNorm in the first third of ``backbone.stages()``, each channel's activations are
summarised as a Gaussian N(m, v) over images and pixels and compared with the running N(mu, s)
by the symmetric Kullback-Leibler divergence

    0.5 * (v / s + s / v - 2) + 0.5 * (m - mu)**2 * (1 / v + 1 / s),

the median over channels is taken (a few channels that are dead on grey images, such as colour
contrasts, would otherwise dominate a mean), then the mean over layers. 0 is "ImageNet-like".

Calibration (``bench/bench_domain_distance.py``, efficientnet_lite0, 8-16 images per set, seeds
0-2): random crops of scikit-learn's sample photos give 0.04-0.06 (china.jpg), 0.12-0.15
(flower.jpg alone: one scene is narrower than ImageNet; 0.17 in an earlier run with 12 crops),
0.03-0.05 (both), 0.05-0.09 (both, in grey). Images of the synthetic device signals give 0.28
(scalogram), 0.44-0.47 (spectrogram, grey or viridis), 0.51-0.55 (recurrence plot, waveform),
0.72-0.77 (spectrum, Gramian angular field), 0.97 (mel); spectrograms of white noise 0.43; uniform
pixel noise 0.70. :data:`DOMAIN_THRESHOLD` = 0.22 is the geometric mean of the farthest photo set
(0.17) and the nearest signal image (0.28).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

#: Distance at and above which images count as far from the backbone's domain (see module doc).
DOMAIN_THRESHOLD = 0.22

_NORMS = (nn.BatchNorm2d,)


class _Enough(Exception):
    """Raised by a hook to end the forward pass once the compared stages have run."""


def _early_stages(backbone: nn.Module, fraction: float) -> tuple[list[nn.BatchNorm2d], nn.Module]:
    stages = list(backbone.stages())
    n = max(1, math.ceil(len(stages) * fraction))
    norms = [m for stage in stages[:n] for m in stage.modules()
             if isinstance(m, _NORMS) and m.track_running_stats and m.running_var is not None]
    return norms, stages[n - 1]


@torch.no_grad()
def domain_distance(backbone: nn.Module, images, *, fraction: float = 1 / 3, batch_size: int = 32) -> float:
    """Median-over-channels symmetric KL between the images' and the pretrained BatchNorm statistics.

    Parameters
    ----------
    backbone : nn.Module
        Pretrained backbone with ``stages()`` and ``forward_features``; not modified.
    images : Tensor or iterable of Tensor
        Normalised images (N, 3, H, W) as the backbone expects, or batches of them.
    fraction : float
        Share of the stages, from the input, whose BatchNorm layers are compared.

    Returns
    -------
    float
        Mean over layers; NaN if those stages hold no BatchNorm.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> backbone = create_backbone("tinynet")  # a real test uses a pretrained backbone
    >>> distance = domain_distance(backbone, torch.randn(8, 3, 32, 32))
    >>> distance >= 0
    True
    """
    norms, last = _early_stages(backbone, fraction)
    if not norms:
        return float("nan")
    # Per layer: count, mean and sum of squared deviations per channel, merged over batches
    # with Chan et al.'s pairwise update (one pass, no cancellation).
    moments: dict[nn.Module, tuple] = {m: (0, 0.0, 0.0) for m in norms}

    def hook(module, inputs):
        a = inputs[0].detach()
        var, mean = torch.var_mean(a, dim=(0, 2, 3), correction=0)
        nb, mb, m2b = a.numel() // a.shape[1], mean.double(), var.double() * (a.numel() // a.shape[1])
        na, ma, m2a = moments[module]
        n = na + nb
        delta = mb - ma
        moments[module] = (n, ma + delta * nb / n, m2a + m2b + delta.pow(2) * na * nb / n)

    def enough(module, inputs, output):
        raise _Enough

    if torch.is_tensor(images):
        images = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
    was_training = backbone.training
    handles = [m.register_forward_pre_hook(hook) for m in norms]
    # The later stages would only cost time: stop the pass after the last compared stage.
    handles.append(last.register_forward_hook(enough))
    try:
        backbone.eval()
        device = next(backbone.parameters()).device
        for batch in images:
            try:
                backbone.forward_features(batch.to(device))
            except _Enough:
                pass
    finally:
        for handle in handles:
            handle.remove()
        backbone.train(was_training)
    per_layer = []
    for m, (count, mean, m2) in moments.items():
        if count == 0:
            continue
        var = m2 / count + m.eps
        mu, ref = m.running_mean.double(), m.running_var.double() + m.eps
        skl = 0.5 * (var / ref + ref / var - 2) + 0.5 * (mean - mu).pow(2) * (1 / var + 1 / ref)
        per_layer.append(float(skl.median()))
    return float(np.mean(per_layer)) if per_layer else float("nan")
