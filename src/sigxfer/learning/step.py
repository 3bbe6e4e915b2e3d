"""One optimisation step of the training loop, and the mixed precision it runs in.

:func:`~sigxfer.learning.loop.train` owns the epochs, the schedule and the callbacks; a
:class:`Step` owns what happens to one batch: augmentation, imaging, the forward pass (through
the whole network, or from the maps :class:`~sigxfer.learning.prefix.FrozenPrefix` keeps), the
loss, and the backward pass and update, split across processes under ``torchrun``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sigxfer.errors import ParameterError
from sigxfer.learning import distributed
from sigxfer.learning.augment import mixup as mix
from sigxfer.learning.network import SignalNet
from sigxfer.learning.prefix import FrozenPrefix


def autocast_dtype(device: torch.device, amp) -> torch.dtype | None:
    """Mixed precision of training passes: on a GPU by default (bf16 where supported, else fp16).

    On CPU only when asked (``amp=True``: bf16, which pays on CPUs with bf16 units alone).
    """
    if amp not in ("auto", True, False):
        raise ParameterError(f"amp={amp!r} must be 'auto', True or False")
    if amp is False or (amp == "auto" and device.type != "cuda"):
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


class Step:
    """One optimisation step on a batch: augment and image it whole, learn on this rank's share.

    Every rank draws the whole batch's randomness (as one process would), so augmentation and
    mixup are the same with any number of processes; each rank then runs the backbone on its part
    and weights its loss by that part's size, which makes DDP's averaged gradient the whole batch's.
    """

    def __init__(self, net: SignalNet, *, task, loss_fn, augmenter, mixup, memory_format, amp, ctx):
        self.net, self.task, self.loss_fn, self.augmenter, self.mixup, self.ctx = net, task, loss_fn, augmenter, mixup, ctx
        device = next(net.parameters()).device
        self.autocast = autocast_dtype(device, amp)
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler("cuda") if self.autocast == torch.float16 else None
        self.fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
        # Images are normalised; masks fill with the normalised value of a black (silent) pixel.
        self.fill = ((0.0 - net.imager.mean) / net.imager.std).repeat(1, net.n_planes, 1, 1)
        self.body: nn.Module = net.backbone

    def __call__(self, signals: torch.Tensor, target: torch.Tensor, optimizer, rng) -> float:
        net, augmenter = self.net, self.augmenter
        with torch.no_grad():  # the imager has no weights; augmentation needs no gradient
            if augmenter is not None:
                signals = augmenter.signals(signals, rng)
            images = net.images(signals)
            if augmenter is not None:
                images = augmenter.images(images, rng, fill=self.fill)
            if self.mixup > 0:
                if self.task == "classification":
                    target = F.one_hot(target, net.head.out_features).float()
                images, target, _ = mix(images, target, self.mixup, rng)
        n = len(images)
        share = distributed.batch_share(np.arange(n), self.ctx)
        images, target = images[share].contiguous(memory_format=self.fmt), target[share]
        with torch.autocast(self.device_type, dtype=self.autocast, enabled=self.autocast is not None):
            out = self.body(images) if self.net.plain else self.net.forward_images(images)
            batch_loss = self.loss_fn(out.float(), target)
        return self._learn(batch_loss, optimizer, len(share), n)

    def kept(self, prefix: FrozenPrefix, rows: np.ndarray, target: torch.Tensor, optimizer) -> float:
        """The same step from the maps ``prefix`` keeps for cases ``rows`` (one process, no augmentation)."""
        with torch.autocast(self.device_type, dtype=self.autocast, enabled=self.autocast is not None):
            batch_loss = self.loss_fn(prefix.outputs(rows).float(), target)
        return self._learn(batch_loss, optimizer, len(rows), len(rows))

    def _learn(self, batch_loss: torch.Tensor, optimizer, n_share: int, n: int) -> float:
        optimizer.zero_grad(set_to_none=True)
        scaled = batch_loss * (n_share * self.ctx.world_size / n) if self.ctx.enabled else batch_loss
        if self.scaler is not None:
            self.scaler.scale(scaled).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            scaled.backward()
            optimizer.step()
        if not self.ctx.enabled:
            return batch_loss.item()
        return distributed.all_reduce_sum(batch_loss.item() * n_share, self.ctx) / n
