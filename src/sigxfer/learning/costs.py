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
from sigxfer.learning.loop import autocast_dtype


def _train_rate(body: nn.Module, images: torch.Tensor, *, seconds: float, amp) -> float:
    """Images per second of full fine-tuning steps (forward, backward, AdamW) on a copy of ``body``."""
    model = copy.deepcopy(body).train()  # the caller's weights and statistics stay untouched
    model.requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    device = images.device
    dtype = autocast_dtype(device, amp)
    target = torch.zeros(len(images), dtype=torch.long, device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = nn.functional.cross_entropy(model(images).float(), target)
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
    return len(images) * reps / (time.perf_counter() - start)


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
    train = _train_rate(body, images[:batch_size].contiguous(memory_format=torch.channels_last),
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
