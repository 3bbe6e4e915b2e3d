"""The training loop: one function, :func:`train`, with plain callbacks around it.

A recipe is a list of :class:`Phase` objects run in order ("head": the new head alone, then
"body": the head and the unfrozen stages at a lower rate). Within a phase the learning rate warms
up linearly and then follows a cosine down towards zero (:func:`lr_factor`). After every epoch the
model is scored on the validation split; the loop keeps a copy of the weights with the lowest
validation loss and puts them back at the end of each phase. Everything else (progress bars,
early stopping, checkpoints, TensorBoard) is a :class:`~sigxfer.learning.callbacks.Callback`.

Randomness is drawn per epoch from ``(seed, epoch)`` (data order, augmentation, dropout), never
carried over from the previous epoch, so a run resumed from a checkpoint after epoch ``k`` draws
exactly what the uninterrupted run drew from epoch ``k + 1`` on.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from sigxfer.errors import ParameterError
from sigxfer.learning import distributed
from sigxfer.learning.augment import Augmenter
from sigxfer.learning.batches import iter_batches
from sigxfer.learning.network import SignalNet
from sigxfer.learning.objectives import make_loss
from sigxfer.learning.prefix import FrozenPrefix, kept_front
from sigxfer.learning.step import Step, autocast_dtype

#: Training batch of :func:`default_batch_size`: a GPU with mixed precision fills only with more.
BATCH_SIZE = {"cpu": 32, "cuda": 128}


def default_batch_size(device) -> int:
    """Cases per training step when the caller gives none: 32 on CPU, 128 on a GPU.

    Examples
    --------
    >>> default_batch_size("cpu")
    32
    """
    return BATCH_SIZE.get(torch.device(device).type, BATCH_SIZE["cpu"])


@dataclass
class Phase:
    """One step of a recipe.

    Parameters
    ----------
    name : str
        Label in the history (``"head"``, ``"body"``).
    epochs : int
        Planned epochs; early stopping may end the phase sooner.
    groups : list of (list of nn.Module, float)
        Modules that learn in this phase and their peak learning rate, head first. Every other
        parameter of the network is frozen and every other module stays in eval mode, so the
        BatchNorm layers of frozen stages keep their running statistics.
    warmup_epochs : int
        Epochs of linear warm-up at the start of the phase (capped at half the phase).
    frozen_norm : bool
        Keep every BatchNorm layer in eval mode, those that learn included: they normalise with
        their running statistics (ImageNet's, for a pretrained body) and leave them as they are,
        while their scale and shift still learn. Batch statistics of a few cases are noisy, and
        a small set's would replace what the pretrained weights expect.
    """

    name: str
    epochs: int
    groups: list[tuple[list[nn.Module], float]]
    warmup_epochs: int = 0
    frozen_norm: bool = False


@dataclass
class TrainState:
    """Where a run stands; what a checkpoint saves (see :mod:`sigxfer.learning.checkpoint`).

    ``phase_index``/``phase_epoch`` say which phase is running and how many of its epochs are
    done; ``epoch`` counts all epochs done. ``best_*`` follow the lowest validation loss; ``wait``
    counts epochs since it last fell in this phase; a callback sets ``stop`` to end the phase.
    """

    phase_index: int = 0
    phase_epoch: int = 0
    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    wait: int = 0
    stop: bool = False
    stopped_phases: list[str] = field(default_factory=list)
    finished: bool = False
    # Set while running, for callbacks; not part of what a checkpoint saves.
    net: nn.Module | None = field(default=None, repr=False)
    optimizer: torch.optim.Optimizer | None = field(default=None, repr=False)
    phase: Phase | None = field(default=None, repr=False)
    n_batches: int = 0
    # The current phase's epochs as a callback re-planned them (Deadline); None: the phase's own.
    planned: int | None = None
    # The first stage run in each step when the frozen ones in front were run once (FrozenPrefix).
    kept_front: int | None = None
    # The averaged weights of the last epochs, as scored (train's average_last); None: not averaged.
    averaged: dict | None = None
    # Optimizer state loaded from a checkpoint, consumed when the phase's optimizer is built.
    optimizer_state: dict | None = field(default=None, repr=False)

    SAVED = ("phase_index", "phase_epoch", "epoch", "history", "best_loss", "best_epoch", "wait",
             "stop", "stopped_phases", "finished")

    @property
    def epochs_planned(self) -> int:
        """The current phase's epochs: as re-planned, else the phase's own."""
        return self.planned or self.phase.epochs

    def start_phase(self, index: int) -> None:
        self.phase_index, self.phase_epoch, self.wait, self.stop, self.planned = index, 0, 0, False, None


def lr_factor(step: int, total_steps: int, warmup_steps: int, final: float = 0.0) -> float:
    """Multiplier of the peak learning rate at optimisation step ``step`` (0-based) of a phase.

    Linear warm-up ``(step + 1) / warmup_steps`` for the first ``warmup_steps`` steps, then a
    half cosine from 1 at step ``warmup_steps`` down to ``final`` (reached just after the last step).
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _score(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Accuracy (classification) or R² averaged over outputs (regression)."""
    if task == "classification":
        return float((outputs.argmax(dim=1) == targets).double().mean())
    sse = (outputs - targets).pow(2).sum(dim=0)
    sst = (targets - targets.mean(dim=0)).pow(2).sum(dim=0).clamp_min(1e-12)
    return float((1.0 - sse / sst).mean())


@torch.no_grad()
def evaluate(net: SignalNet, X: np.ndarray, y: torch.Tensor, *, task: str, loss_fn, batch_size: int,
             memory_format: str | None = "channels_last", amp: str | bool = "auto",
             prefix: FrozenPrefix | None = None) -> dict:
    """Loss and metric of ``net`` (in eval mode) on ``X``, ``y``; with ``prefix``, ``X`` holds
    the rows of the cases in it instead of signals."""
    net.eval()
    device = next(net.parameters()).device
    autocast = autocast_dtype(device, amp)
    if prefix is not None:  # rows of the cases prefix keeps: the stages from its cut run now
        batches = ((prefix.outputs, X[start:start + batch_size]) for start in range(0, len(X), batch_size))
    else:
        batches = ((net.forward_images, images) for _, images in
                   iter_batches(X, batch_size, device=device, transform=net.images, memory_format=memory_format))
    outs = []
    for forward, batch in batches:
        with torch.autocast(device.type, dtype=autocast, enabled=autocast is not None):
            outs.append(forward(batch).float())
    out = torch.cat(outs)
    y = y.to(device)
    return {"val_loss": float(loss_fn(out, y)), "val_metric": _score(task, out, y)}


def _set_trainable(net: nn.Module, phase: Phase) -> None:
    net.requires_grad_(False)
    for modules, _ in phase.groups:
        for m in modules:
            m.requires_grad_(True)


def _set_modes(net: nn.Module, phase: Phase) -> None:
    net.eval()  # frozen stages: BatchNorm keeps its running statistics, dropout is off
    for modules, _ in phase.groups:
        for m in modules:
            m.train()
    if phase.frozen_norm:
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def _optimizer(phase: Phase, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW; weight decay on weights only, not on biases and normalisation scales (1-D)."""
    groups, seen = [], set()
    for spec, (modules, lr) in enumerate(phase.groups):
        params = [p for m in modules for p in m.parameters() if id(p) not in seen]
        seen.update(id(p) for p in params)
        for decay, subset in ((weight_decay, [p for p in params if p.ndim > 1]),
                              (0.0, [p for p in params if p.ndim <= 1])):
            if subset:
                groups.append({"params": subset, "lr": lr, "base_lr": lr, "spec": spec, "weight_decay": decay})
    if not groups:
        raise ParameterError(f"phase {phase.name!r} has nothing to train")
    return torch.optim.AdamW(groups)


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    # Near-equal batches: never a final batch of one case, which BatchNorm in training mode rejects.
    return np.array_split(rng.permutation(n), max(1, math.ceil(n / batch_size)))


def _phase_optimizer(state: TrainState, phase: Phase, weight_decay: float) -> torch.optim.Optimizer:
    optimizer = state.optimizer = _optimizer(phase, weight_decay)
    if state.optimizer_state is not None:
        optimizer.load_state_dict({"state": state.optimizer_state,
                                   "param_groups": optimizer.state_dict()["param_groups"]})
        state.optimizer_state = None
    return optimizer


def _score_average(state: TrainState, net: SignalNet, window, *, evaluate_val) -> None:
    """Score the mean of the weights in ``window`` on the validation split; make it the best when lower."""
    last = window[-1]
    averaged = {k: (torch.stack([w[k] for w in window]).mean(dim=0) if v.is_floating_point() else v)
                for k, v in last.items()}
    net.load_state_dict(averaged)
    record = evaluate_val()
    epochs = [state.epoch - len(window) + 1 + i for i in range(len(window))]
    kept = record["val_loss"] < state.best_loss
    state.averaged = {"epochs": epochs, "val_loss": record["val_loss"], "val_metric": record["val_metric"],
                      "kept": bool(kept)}
    if kept:
        state.best_loss, state.best_state = record["val_loss"], averaged
    elif state.best_state is None:
        net.load_state_dict(last)


def train(net: SignalNet, X: np.ndarray, y: np.ndarray, *, phases: list[Phase], task: str,
          X_val: np.ndarray | None = None, y_val: np.ndarray | None = None, batch_size: int = 32,
          weight_decay: float = 0.01, loss: str = "cross_entropy", weights: np.ndarray | None = None,
          augmenter: Augmenter | None = None, mixup: float = 0.0, seed: int = 0,
          callbacks=(), state: TrainState | None = None, memory_format: str | None = "channels_last",
          amp: str | bool = "auto", keep_front: bool = True, progress: bool | None = False,
          average_last: int = 0) -> TrainState:
    """Train ``net`` in place through ``phases``; return the final :class:`TrainState`.

    Parameters
    ----------
    net : SignalNet
        Imager (fitted), backbone and head; trained on its own device.
    X : ndarray, shape (n_cases, n_channels, n_timepoints)
        Training signals.
    y : ndarray
        Class indices, shape (n_cases,), or standardised targets, shape (n_cases, n_outputs).
    phases : list of Phase
    task : {"classification", "regression"}
    X_val, y_val : ndarray, optional
        Validation split. Without it nothing is scored and the last weights are kept.
    batch_size, weight_decay : int, float
        Cases per step (across all processes under ``torchrun``); AdamW's decoupled weight decay.
    loss : str
        ``"cross_entropy"`` (classification), ``"mse"`` or ``"huber"`` (regression).
    weights : ndarray, optional
        Per-class loss weights (:func:`~sigxfer.learning.objectives.class_weights`).
    augmenter : Augmenter, optional
        Training-batch augmentation of signals and images.
    mixup : float
        Beta parameter of mixup on images and targets; 0 turns it off.
    seed : int
        Seeds data order, augmentation and dropout, per epoch.
    callbacks : sequence of Callback
        Called in order at each hook.
    state : TrainState, optional
        Where to start from (a loaded checkpoint); a fresh run by default.
    memory_format : {"channels_last", "contiguous"}, optional
        Layout of the images through the backbone; channels_last is oneDNN's and cuDNN's fast one.
    amp : "auto", True or False
        Mixed precision (autocast): "auto" uses it on a GPU only (bf16, or fp16 with loss scaling).
    keep_front : bool
        When no phase trains the stages in front of some stage of a chain backbone and every
        epoch sees the same images (no augmentation, no mixup, one process), run those stages
        once per case and train from their maps (:class:`~sigxfer.learning.prefix.FrozenPrefix`),
        if the maps fit in memory; ``state.kept_front`` says from which stage. False runs the
        whole network in every step.
    progress : bool, optional
        A bar over that one pass (epochs have theirs from a ProgressBar callback); None: on a terminal.
    average_last : int
        With a validation split, also score the mean of the weights after each of the last phase's
        last ``average_last`` epochs (stochastic weight averaging, Izmailov et al. 2018, over the
        low-rate end of the cosine) and keep it when its validation loss is lower than the best
        epoch's; ``state.averaged`` records it. 0 or 1: no averaging. A resumed run averages the
        epochs it ran itself. The BatchNorm statistics are averaged too, which is exact when they
        are frozen (the fine-tune's default) and an approximation when they train.

    Under ``torchrun`` (:mod:`sigxfer.learning.distributed`) every process runs this with the
    same arguments, each training on its share of every batch under DistributedDataParallel.

    Examples
    --------
    >>> import numpy as np
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> X = np.random.default_rng(0).standard_normal((8, 1, 256)).astype(np.float32)
    >>> net = SignalNet(Imager("spectrum", sr=256.0, size=32).fit(X), create_backbone("tinynet"))
    >>> net.backbone.reset_classifier(2)
    >>> phase = Phase("head", 1, [([net.backbone.classifier], 1e-3)])
    >>> state = train(net, X, np.arange(8) % 2, phases=[phase], task="classification", batch_size=4)
    >>> len(state.history)
    1
    """
    device = next(net.parameters()).device
    state = state if state is not None else TrainState()
    state.net = net
    step = Step(net, task=task, loss_fn=make_loss(task, loss, weights), augmenter=augmenter, mixup=mixup,
                 memory_format=memory_format, amp=amp, ctx=distributed.distributed_context())
    targets = torch.as_tensor(y, dtype=torch.long if task == "classification" else torch.float32)
    val_targets = None if y_val is None else torch.as_tensor(y_val, dtype=targets.dtype)
    steps = len(_batches(len(X), batch_size, np.random.default_rng(0)))
    state.n_batches = steps
    prefix = kept_front(net, [modules for phase in phases for modules, _ in phase.groups], X, X_val,
                        same_images=(augmenter is None or augmenter.identity) and not mixup > 0 and not step.ctx.enabled,
                        batch_size=batch_size, progress=progress) if keep_front else None
    state.kept_front = None if prefix is None else prefix.cut
    val_rows = None if prefix is None or X_val is None else np.arange(len(X), len(X) + len(X_val))
    distributed.sync_batchnorm(net.backbone, step.ctx)  # whole-batch statistics across processes
    try:
        for cb in callbacks:
            cb.on_train_begin(state)
        for index, phase in enumerate(phases):
            if index < state.phase_index:
                continue  # done before the checkpoint this run resumed from
            if index > state.phase_index or state.phase_epoch == 0:
                state.start_phase(index)
            state.phase = phase
            _set_trainable(net, phase)
            optimizer = _phase_optimizer(state, phase, weight_decay)
            if step.ctx.enabled and not net.plain:
                raise ParameterError("fine-tuning a model of several views or depths under torchrun is not "
                                     "supported; train it in one process, or use one view and the last layer")
            step.body = distributed.wrap(net.backbone, step.ctx)  # per phase: DDP syncs what learns
            warmup = min(phase.warmup_epochs * steps, phase.epochs * steps // 2)
            window = deque(maxlen=average_last) if average_last > 1 and index == len(phases) - 1 else None
            while state.phase_epoch < state.epochs_planned and not state.stop:
                total = state.epochs_planned * steps  # the cosine ends with the planned epochs
                epoch = state.epoch + 1
                rng = np.random.default_rng([seed, epoch])
                torch.manual_seed(int(rng.integers(2**62)))  # dropout
                _set_modes(net, phase)
                for cb in callbacks:
                    cb.on_epoch_begin(state)
                started, loss_sum = time.perf_counter(), 0.0
                order = _batches(len(X), batch_size, rng)
                batches = ((idx, None) for idx in order) if prefix is not None else \
                    iter_batches(X, indices=order, device=device)
                for b, (idx, signals) in enumerate(batches):
                    for group in optimizer.param_groups:
                        group["lr"] = group["base_lr"] * lr_factor(state.phase_epoch * steps + b, total, warmup)
                    if prefix is not None:
                        value = step.kept(prefix, idx, targets[idx].to(device), optimizer)
                    else:
                        value = step(signals, targets[idx].to(device), optimizer, rng)
                    loss_sum += value * len(idx)
                    for cb in callbacks:
                        cb.on_batch_end(state, value)
                record = {"epoch": epoch, "phase": phase.name, "train_loss": loss_sum / len(X),
                          "val_loss": None, "val_metric": None}
                if X_val is not None and len(X_val):
                    record.update(evaluate(net, X_val if prefix is None else val_rows, val_targets, task=task,
                                           loss_fn=step.loss_fn, batch_size=batch_size,
                                           memory_format=memory_format, amp=amp, prefix=prefix))
                for group in optimizer.param_groups:
                    record.setdefault("lr" if group["spec"] == 0 else "body_lr", group["lr"])
                record["seconds"] = round(time.perf_counter() - started, 3)
                state.phase_epoch, state.epoch = state.phase_epoch + 1, epoch
                state.history.append(record)
                if record["val_loss"] is not None and record["val_loss"] < state.best_loss:
                    state.best_loss, state.best_epoch, state.wait = record["val_loss"], epoch, 0
                    state.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
                else:
                    state.wait += 1
                if window is not None:
                    window.append({k: v.detach().clone() for k, v in net.state_dict().items()})
                for cb in callbacks:
                    cb.on_epoch_end(state, record)
            if window is not None and len(window) > 1 and X_val is not None and len(X_val):
                _score_average(state, net, window, evaluate_val=lambda: evaluate(
                    net, X_val if prefix is None else val_rows, val_targets, task=task, loss_fn=step.loss_fn,
                    batch_size=batch_size, memory_format=memory_format, amp=amp, prefix=prefix))
            if state.stop and phase.name not in state.stopped_phases:
                state.stopped_phases.append(phase.name)
            if state.best_state is not None:
                net.load_state_dict(state.best_state)
    finally:
        distributed.unsync_batchnorm(net.backbone)
    state.phase_index, state.finished = len(phases), True
    if state.best_state is None:
        state.best_epoch = state.epoch
    net.requires_grad_(True)
    net.eval()
    for cb in callbacks:
        cb.on_train_end(state)
    return state
