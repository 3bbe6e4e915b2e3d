"""Memory a batch will take, estimated before it is allocated, so a too-large setting fails in words.

A 10,000-pixel image on Lite0 asks for about 19 GB a batch; on a machine with no swap that takes the
machine down rather than raising. :func:`check_batch_memory` measures the backbone's activations
once on a small probe image (forward hooks), scales them by the pixel count and compares the
estimate with the memory the system reports available.
"""

from __future__ import annotations

import weakref

import torch
from torch import nn

from sigxfer.errors import ParameterError

#: Side of the probe image whose activations are counted; activations scale with the pixel count.
PROBE_SIZE = 32
#: The estimate may use at most this share of the available memory.
MAX_SHARE = 0.8
#: Inference keeps a few activations alive at once (input, output, a residual branch).
_LIVE_ACTIVATIONS = 3
#: Training keeps every activation for the backward pass, plus gradients of the same size.
_TRAINING_FACTOR = 2
#: Activations per input pixel of a body that cannot be watched: EfficientNet-Lite0's first layers
#: (the largest holds 24 values per input pixel) and all of its layers together (about 400).
_FALLBACK_LARGEST, _FALLBACK_TOTAL = 24, 400


def available_bytes() -> int | None:
    """Memory the system could give this process now (Linux ``MemAvailable``), or None if unknown.

    Examples
    --------
    >>> available_bytes() is None or available_bytes() > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


_COUNTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _activation_counts(backbone: nn.Module, from_stage: int = 0) -> tuple[int, int]:
    """(largest single activation, sum of all activations) in elements per probe image, of the
    layers in ``backbone.stages()[from_stage:]`` (every layer when ``from_stage`` is 0 or the
    backbone has no chain of stages)."""
    if not getattr(backbone, "sequential_stages", False):
        from_stage = 0
    counts = _COUNTS.setdefault(backbone, {})
    if from_stage in counts:
        return counts[from_stage]
    largest, total = 0, 0
    watched = backbone if not from_stage else nn.ModuleList(list(backbone.stages())[from_stage:])

    def hook(_module, _inputs, output):
        nonlocal largest, total
        if torch.is_tensor(output):
            largest = max(largest, output.numel())
            total += output.numel()

    handles = []
    for m in watched.modules():
        if not list(m.children()) and not isinstance(m, torch.jit.ScriptModule):
            handles.append(m.register_forward_hook(hook))
    was_training = backbone.training
    try:
        backbone.eval()
        device = next((p.device for p in backbone.parameters()), torch.device("cpu"))
        with torch.no_grad():
            backbone.forward_features(torch.zeros(1, 3, PROBE_SIZE, PROBE_SIZE, device=device))
    finally:
        for h in handles:
            h.remove()
        backbone.train(was_training)
    if largest == 0:  # a body whose layers cannot be watched (TorchScript, ONNX): a CNN's usual share
        largest, total = _FALLBACK_LARGEST * PROBE_SIZE ** 2, _FALLBACK_TOTAL * PROBE_SIZE ** 2
    counts[from_stage] = (largest, total)
    return largest, total


def estimate_batch_bytes(backbone: nn.Module, image_size, batch_size: int, *, training: bool = False,
                         n_views: int = 1, from_stage: int = 0) -> int:
    """Bytes one batch of ``batch_size`` images of ``image_size`` pixels will need in ``backbone``.

    ``from_stage``: training runs from that stage's input, the maps in front kept from one frozen
    pass (:class:`~sigxfer.learning.prefix.FrozenPrefix`, which checks its own room), so only the
    activations of the stages from there are kept for the backward pass.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> net = create_backbone("tinynet", pretrained=False)
    >>> estimate_batch_bytes(net, 64, 8) < estimate_batch_bytes(net, 128, 8)
    True
    >>> tail = estimate_batch_bytes(net, 64, 8, training=True, from_stage=2)
    >>> 0 < tail < estimate_batch_bytes(net, 64, 8, training=True)
    True
    """
    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    largest, total = _activation_counts(backbone, from_stage if training else 0)
    per_pixel = (total * _TRAINING_FACTOR if training else largest * _LIVE_ACTIVATIONS) / PROBE_SIZE ** 2
    images = 3 * height * width  # the image tensor itself
    return int(4 * batch_size * n_views * (per_pixel * height * width + images))


def check_batch_memory(backbone: nn.Module, image_size, batch_size: int, *, training: bool = False,
                       n_views: int = 1, from_stage: int = 0, size_name: str = "image_size",
                       batch_name: str = "batch_size") -> None:
    """Raise before allocating when a batch would not fit in the memory available now
    (``from_stage``: see :func:`estimate_batch_bytes`).

    Raises
    ------
    ParameterError
        ``"image_size=10000 would need about 19.3 GB for a batch of 32 (20.1 GB available); lower
        image_size or batch_size"``.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> check_batch_memory(create_backbone("tinynet", pretrained=False), 32, 8)  # fits: no error
    """
    available = available_bytes()
    if available is None:
        return
    need = estimate_batch_bytes(backbone, image_size, batch_size, training=training, n_views=n_views,
                                from_stage=from_stage)
    if need > MAX_SHARE * available:
        side = image_size if isinstance(image_size, int) else "x".join(map(str, image_size))
        raise ParameterError(
            f"{size_name}={side} would need about {need / 1e9:.1f} GB for a batch of {batch_size} "
            f"({available / 1e9:.1f} GB available); lower {size_name} or {batch_name}"
        )
