"""What a backbone costs on this machine, measured: frozen and training images per second.

A strategy that plans within a time budget (how many fine-tuning epochs fit, whether a linear
probe is all there is time for) asks :func:`measure_costs` once and then does arithmetic with
:func:`affordable_epochs`, instead of guessing from CPU names.
"""

from __future__ import annotations

import copy
import math
import time

import torch
from torch import nn

from sigxfer.errors import ParameterError
from sigxfer.learning.engines import choose_engine, split_model
from sigxfer.learning.prefix import entry_shape
from sigxfer.learning.step import autocast_dtype


def _train_rate(model: nn.Module, inputs: torch.Tensor, *, seconds: float, amp, batchnorm: str = "train") -> float:
    """Cases per second of training steps (forward, backward, AdamW) of ``model``, a throwaway copy.

    Only the parameters that require gradients learn. An output of shape (N, K) is scored as
    logits; a map as its mean, which backpropagates through every position as pooling does.
    ``batchnorm="frozen"`` runs the copy in eval mode, as the fine-tune runs frozen statistics.
    """
    model.train(batchnorm == "train")
    learning = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(learning, lr=1e-6) if learning else None
    device = inputs.device
    dtype = autocast_dtype(device, amp)
    target = torch.zeros(len(inputs), dtype=torch.long, device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(inputs).float()
            loss = nn.functional.cross_entropy(out, target) if out.dim() == 2 else out.mean()
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    step()  # first step: kernel selection and optimiser state
    start, reps = time.perf_counter(), 0
    while reps < 1 or (time.perf_counter() - start < seconds and reps < 100):
        step()
        reps += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(inputs) * reps / (time.perf_counter() - start)


def tail_train_rate(net, cut: int, *, start: int = 0, batch_size: int = 32, seconds: float = 1.0,
                    amp="auto", batchnorm: str = "frozen") -> float:
    """Cases per second of fine-tuning steps that train the stages from ``cut``, run from stage ``start``.

    What one epoch of fine-tuning the last stages costs, measured on this machine in the loop's own
    eager steps (the frozen engine's speed says little about training: on the shipped audio clips
    an estimate from it was 2-2.5x short, BENCHMARKS.md). ``start=cut`` times steps from the maps
    the frozen front keeps (:class:`~sigxfer.learning.prefix.FrozenPrefix`), ``start=0`` steps
    through the whole network, its front without gradients. Measured on copies of the stages and
    random inputs, so ``net``'s weights and statistics stay as they are. A backbone whose stages
    are not a chain is timed whole, every weight learning: an upper bound. ``batchnorm`` as the
    fine-tune's: "frozen" layers normalise with their running statistics (eval mode).

    Examples
    --------
    >>> import numpy as np
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> from sigxfer.learning.network import SignalNet
    >>> net = SignalNet(Imager("waveform", size=32).fit(np.zeros((2, 1, 64))), create_backbone("tinynet"))
    >>> tail_train_rate(net, 2, start=2, batch_size=4, seconds=0.05) > 0
    True
    """
    backbone, views = net.backbone, net.n_planes
    if not getattr(backbone, "sequential_stages", False):
        model, shape = copy.deepcopy(backbone), entry_shape(net, 0)
        model.requires_grad_(True)
    else:
        stages = list(backbone.stages())
        if not 0 <= start <= cut <= len(stages):
            raise ParameterError(f"start={start} and cut={cut} must satisfy 0 <= start <= cut <= {len(stages)} stages")
        shape = entry_shape(net, start)
        model = copy.deepcopy(nn.Sequential(*stages[start:]))
        model.requires_grad_(False)
        for stage in list(model)[cut - start:]:
            stage.requires_grad_(True)
    inputs = torch.randn(batch_size * views, *shape, generator=torch.Generator().manual_seed(0)).to(net.device)
    rate = _train_rate(model, inputs.contiguous(memory_format=torch.channels_last), seconds=seconds, amp=amp,
                       batchnorm=batchnorm)
    return rate / views


def measure_costs(model: nn.Module, image_size: int | None = None, *, batch_size: int = 16,
                  seconds: float = 1.0, engine: str = "auto", amp="auto") -> dict:
    """Frozen and training throughput of ``model``'s backbone at ``image_size``, in images per second.

    Parameters
    ----------
    model : SignalNet or backbone
        Measured on copies and random images: its weights and BatchNorm statistics are kept.
    image_size : int, optional
        Side of the square images; the backbone's input size by default.
    batch_size : int
        Images per training step.
    seconds : float
        Time spent timing training steps (after one warm-up step).
    engine : str
        Frozen engine; ``"auto"`` calibrates as :func:`~sigxfer.learning.engines.choose_engine`.
    amp : "auto", True or False
        Mixed precision of the training steps, as in :func:`~sigxfer.learning.loop.train`.

    Returns
    -------
    dict
        ``frozen_images_per_s``, ``train_images_per_s``, ``image_size``, ``batch_size`` and the
        frozen ``engine`` record.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> costs = measure_costs(create_backbone("tinynet"), seconds=0.05)
    >>> costs["frozen_images_per_s"] > 0 and costs["train_images_per_s"] > 0
    True
    """
    _, body = split_model(model)
    config = getattr(body, "config", None)
    size = image_size or getattr(config, "input_size", None)
    if not size or size < 8:
        raise ParameterError(f"image_size={image_size!r} must be a side in pixels of at least 8")
    device = next(body.parameters()).device
    images = torch.rand(max(32, batch_size), 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    chosen = choose_engine(body, images, engine=engine, calibrate=True)
    frozen = chosen.record.get("images_per_s")
    if frozen is None:  # an engine fixed by the caller: time it on the sample
        start = time.perf_counter()
        chosen.run(images[:chosen.spec.batch_size])
        frozen = chosen.spec.batch_size / (time.perf_counter() - start)
    trainable = getattr(config, "trainable", True)
    copied = copy.deepcopy(body)  # the caller's weights and statistics stay untouched
    copied.requires_grad_(True)
    train = _train_rate(copied, images[:batch_size].contiguous(memory_format=torch.channels_last),
                        seconds=seconds, amp=amp) if trainable else None
    return {"frozen_images_per_s": float(frozen), "train_images_per_s": train, "image_size": int(size),
            "batch_size": int(batch_size), "engine": chosen.record}


def affordable_epochs(costs: dict, n_cases: int, budget_seconds: float, *, n_val: int = 0) -> int:
    """Fine-tuning epochs of ``n_cases`` (plus scoring ``n_val`` each epoch) that fit in the budget.

    Examples
    --------
    >>> affordable_epochs({"frozen_images_per_s": 100.0, "train_images_per_s": 10.0}, 100, 60.0)
    6
    """
    train = costs.get("train_images_per_s")
    if not train:
        return 0
    per_epoch = n_cases / train + n_val / costs["frozen_images_per_s"]
    return max(0, math.floor(budget_seconds / per_epoch)) if per_epoch > 0 else 0
