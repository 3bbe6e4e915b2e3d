"""Fine-tuning: the pretrained network learns too (:class:`FineTune`), or from scratch (:class:`Scratch`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import ClassVar

import numpy as np
import torch

from sigxfer._checks import Interval, Options
from sigxfer.errors import OutputExistsError, ParameterError
from sigxfer.learning.augment import Augmenter
from sigxfer.learning.cache import tensor_digest
from sigxfer.learning.callbacks import CheckpointWriter, EarlyStopping, ProgressBar, TensorBoardLogger
from sigxfer.learning.checkpoint import load_checkpoint, read_checkpoint_meta
from sigxfer.learning.loop import Phase, train
from sigxfer.learning.objectives import LOSSES, class_weights, validation_split
from sigxfer.learning.network import SignalNet
from sigxfer.learning.strategies.base import Strategy, register_strategy


@register_strategy
@dataclasses.dataclass
class FineTune(Strategy):
    """Fine-tune the pretrained network: the new head first, then the last stages too (fastai's recipe).

    Phase "head" trains a freshly initialised head for ``head_epochs`` with the whole body frozen.
    Phase "body" then unfreezes the last ``unfreeze`` stages of ``backbone.stages()`` (or all of
    them) and trains them with the head for ``epochs``, the body at the lower rate
    ``lr * body_lr_factor``. Each phase uses AdamW with a linear warm-up then a cosine decay.
    Frozen stages keep their weights and their BatchNorm statistics (eval mode); by default
    (``batchnorm="frozen"``) the stages that learn keep their running statistics too, while
    their BatchNorm scales and shifts learn with the rest. A validation
    split, stratified, is taken from the training data only; the weights with the lowest
    validation loss are restored at the end, and a phase stops after ``patience`` epochs without
    improvement.

    When the body phase trains the last ``unfreeze`` stages and nothing changes the images
    between epochs (no ``augment``, no ``mixup``), the frozen stages in front run once per case
    and each step runs only the stages that learn (:mod:`~sigxfer.learning.prefix`; the same
    training, ``history["kept_front"]`` says from which stage): EfficientNet-Lite0's last 6 of 18
    stages trained 3.6x faster than the whole backbone, against 2.3x without keeping the maps.

    With ``head="probe"`` the recipe is LP-FT: the head starts as a linear probe fitted on the
    frozen features of the fitting part (:class:`~sigxfer.learning.strategies.LinearProbe`),
    so the body's first gradients come from a good head instead of a random one.

    Parameters
    ----------
    unfreeze : "all" or int
        Stages trained in phase "body": all of them, or the last ``k``.
    head : {"new", "probe", "keep"}
        Where the head starts: freshly initialised, a linear probe fitted on the fitting part
        (LP-FT), or the head the network holds (a caller that fitted one already).
    epochs : int
        Epochs of phase "body" (0 trains the head only).
    head_epochs : int
        Epochs of phase "head" (0 skips it).
    lr : float
        Peak learning rate of the head; the body gets ``lr * body_lr_factor``.
    body_lr_factor : float
        Discriminative rate of the unfrozen body, relative to ``lr``.
    weight_decay : float
        AdamW's decoupled weight decay, on weights only (not biases or normalisation scales).
    warmup_epochs : int
        Linear warm-up at the start of each phase (at most half of it).
    batchnorm : {"frozen", "train"}
        BatchNorm layers of the stages that learn: ``"frozen"`` normalises with the pretrained
        running statistics and keeps them (the layers stay in eval mode, their scale and shift
        learn); ``"train"`` normalises each batch by its own statistics and updates the running
        ones, as in training from scratch. On six UCR sets of 36-200 training cases, in batches of
        16, ``"train"`` lost 10-62 points of test accuracy against ``"frozen"`` (BENCHMARKS.md): a
        few cases' statistics are noisy, and a small set's replace those the pretrained weights
        expect.
    patience : int, optional
        Epochs without a lower validation loss before a phase stops; None never stops early.
    val_size : float
        Fraction of the training cases held out for validation (0: none; the last weights are kept).
    average_last : int
        Also score the mean of the weights of the body phase's last ``average_last`` epochs (the
        low-rate end of its cosine; stochastic weight averaging) on the validation split, and keep
        it when its loss is lower than the best epoch's; ``history["averaged"]`` says what it
        scored. 0 or 1: no averaging; it needs a validation split.
    augment : dict, optional
        Training augmentation, e.g. ``{"time_shift": 0.1, "gain_db": 6, "snr_db": 20,
        "time_mask": 0.1, "freq_mask": 0.1}`` (see :class:`~sigxfer.learning.augment.Augmenter`).
    class_weight : None, "balanced" or list of float
        Per-class loss weights; "balanced" weighs classes by ``n / (n_classes * count)``.
    mixup : float
        Beta parameter of mixup (0.2-0.4 usual); 0 turns it off.
    loss : str, optional
        ``"cross_entropy"`` for classification; ``"mse"`` (default) or ``"huber"`` for regression.
    checkpoint_dir : str, optional
        Save a checkpoint (safetensors + JSON, :mod:`~sigxfer.learning.checkpoint`) after every
        epoch. A folder that already holds one is refused unless ``resume=True``.
    resume : bool
        Continue the run checkpointed in ``checkpoint_dir`` (same data and settings) from its
        last epoch; start afresh if the folder holds none.
    tensorboard_dir : str, optional
        Write TensorBoard logs there (needs the ``tensorboard`` package).
    callbacks : list
        Extra :class:`~sigxfer.learning.callbacks.Callback` objects (not saved in the model file).

    Examples
    --------
    >>> from sigxfer import TransferClassifier
    >>> model = TransferClassifier(strategy=FineTune(unfreeze=2, epochs=10, augment={"snr_db": 20}))
    >>> FineTune(epochs=-1)
    Traceback (most recent call last):
    ...
    sigxfer.errors.ParameterError: strategy 'finetune': epochs=-1 must be an integer >= 0
    """

    name: ClassVar[str] = "finetune"
    frozen: ClassVar[bool] = False
    unfreeze: str | int = "all"
    head: str = "new"
    epochs: int = 10
    head_epochs: int = 2
    lr: float = 1e-3
    body_lr_factor: float = 0.1
    weight_decay: float = 0.01
    warmup_epochs: int = 1
    batchnorm: str = "frozen"
    patience: int | None = 3
    val_size: float = 0.2
    average_last: int = 0
    augment: dict | None = None
    class_weight: str | list | None = None
    mixup: float = 0.0
    loss: str | None = None
    checkpoint_dir: str | None = None
    resume: bool = False
    tensorboard_dir: str | None = None
    callbacks: list = dataclasses.field(default_factory=list, repr=False, compare=False,
                                        metadata={"config": False})

    _parameter_constraints = {
        "unfreeze": [Interval(int, 1, None), "all"],
        "head": Options("new", "probe", "keep"),
        "epochs": Interval(int, 0, None),
        "head_epochs": Interval(int, 0, None),
        "lr": Interval(float, 0, None, closed="neither"),
        "body_lr_factor": Interval(float, 0, None, closed="neither"),
        "weight_decay": Interval(float, 0, None),
        "warmup_epochs": Interval(int, 0, None),
        "batchnorm": Options("frozen", "train"),
        "patience": [Interval(int, 1, None), None],
        "val_size": Interval(float, 0, 1, closed="left"),
        "average_last": Interval(int, 0, None),
        "augment": [None, dict],
        "class_weight": [None, "balanced", list, tuple],
        "mixup": Interval(float, 0, None),
        "loss": [None, Options(*dict.fromkeys(name for names in LOSSES.values() for name in names))],
        "checkpoint_dir": [None, str, os.PathLike],
        "resume": bool,
        "tensorboard_dir": [None, str, os.PathLike],
        "callbacks": [list, tuple],
    }

    def _check_together(self) -> None:
        if self.epochs + self.head_epochs < 1:
            raise ParameterError(
                f"strategy {self.name!r}: epochs and head_epochs are both 0: nothing would train; set epochs >= 1"
            )
        Augmenter.from_config(self.augment)
        for key in ("checkpoint_dir", "tensorboard_dir"):
            if getattr(self, key) is not None:
                setattr(self, key, os.fspath(getattr(self, key)))  # a Path would not survive the model file
        if self.resume and self.checkpoint_dir is None:
            raise ParameterError(
                f"strategy {self.name!r}: resume=True needs checkpoint_dir, the folder of the run to continue"
            )

    # ------------------------------------------------------------------ recipe
    def phases(self, net: SignalNet) -> tuple[list[Phase], int]:
        """The head and body phases for ``net``, and how many stages the body phase trains.

        Raises
        ------
        ParameterError
            ``unfreeze`` is more than the backbone's stages.

        Examples
        --------
        >>> phases, n_unfrozen = FineTune(unfreeze=1, epochs=3).phases(net)  # doctest: +SKIP
        >>> [(p.name, p.epochs) for p in phases], n_unfrozen  # doctest: +SKIP
        ([('head', 2), ('body', 3)], 1)
        """
        backbone = net.backbone
        stages = list(backbone.stages())
        head = [backbone.classifier]
        if isinstance(getattr(backbone, "dropout", None), torch.nn.Module):
            head.append(backbone.dropout)  # no weights, but it must be in training mode
        if self.unfreeze == "all":
            body, n_unfrozen = [backbone], len(stages)
        else:
            if self.unfreeze > len(stages):
                raise ParameterError(
                    f"unfreeze={self.unfreeze} but backbone {getattr(backbone.config, 'name', '?')!r} has "
                    f"{len(stages)} stages; use at most {len(stages)}, or 'all'"
                )
            body, n_unfrozen = stages[-self.unfreeze:], int(self.unfreeze)
        phases = []
        frozen_norm = self.batchnorm == "frozen"
        if self.head_epochs:
            phases.append(Phase("head", self.head_epochs, [(head, self.lr)], self.warmup_epochs, frozen_norm))
        if self.epochs:
            phases.append(Phase("body", self.epochs, [(head, self.lr), (body, self.lr * self.body_lr_factor)],
                                self.warmup_epochs, frozen_norm))
        return phases, n_unfrozen

    def _run_config(self) -> dict:
        """Settings that change the result (what a checkpoint must agree with)."""
        config = self.get_config()
        for key in ("checkpoint_dir", "resume", "tensorboard_dir"):
            config.pop(key, None)
        return config

    def _fingerprint(self, net, X, y, *, task, seed, batch_size) -> str:
        h = hashlib.sha256()
        h.update(json.dumps({"config": self._run_config(), "task": task, "seed": int(seed),
                             "batch_size": int(batch_size), "shape": list(X.shape),
                             "weights": tensor_digest(net.state_dict())}, sort_keys=True, default=str).encode())
        h.update(np.ascontiguousarray(X).tobytes())
        h.update(np.ascontiguousarray(y).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ fitting
    def _start_head(self, net, X, y, *, task, n_outputs, seed, batch_size, progress) -> None:
        if self.head == "new":
            net.reset_head(n_outputs)
        elif self.head == "probe":
            from sigxfer.learning.strategies.linear import LinearProbe

            LinearProbe().fit_head(net, X, y, task=task, n_outputs=n_outputs, random_state=seed,
                                   batch_size=batch_size, progress=progress)
        elif (net.head.out_features, net.head.in_features) != (n_outputs, net.embedding_dim):
            raise ParameterError(
                f"strategy {self.name!r}: head='keep' but the network's head maps {net.head.in_features} "
                f"features to {net.head.out_features} outputs, not {net.embedding_dim} to {n_outputs}; "
                "fit a head first or use head='probe'"
            )

    def fit(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None,
            warm_start=False):
        """Run the head and body phases on ``net``; see :meth:`Strategy.fit`.

        With ``warm_start`` and a head of ``n_outputs`` outputs, training continues from that head
        (an earlier stage's); otherwise the head starts afresh.

        Raises
        ------
        OutputExistsError
            ``checkpoint_dir`` holds an earlier run's checkpoint and ``resume`` is False.
        ParameterError
            ``loss`` does not fit the task, or the checkpoint is another run's.
        """
        self._check()
        started = time.perf_counter()
        meta = read_checkpoint_meta(self.checkpoint_dir) if self.checkpoint_dir else None
        if meta is not None and not self.resume:
            raise OutputExistsError(
                f"{self.checkpoint_dir} holds a checkpoint of an earlier run; pass resume=True to continue "
                "it, or choose an empty checkpoint_dir"
            )
        if random_state is not None:
            seed = int(random_state)
        elif meta is not None:
            seed = int(meta["seed"])  # a resumed run draws what the interrupted one drew
        else:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        loss = self.loss or ("cross_entropy" if task == "classification" else "mse")
        if loss not in LOSSES[task]:
            raise ParameterError(f"loss={loss!r} does not fit {task}; use one of {LOSSES[task]}")
        metric = "accuracy" if task == "classification" else "r2"
        logger = TensorBoardLogger(self.tensorboard_dir, metric=metric) if self.tensorboard_dir else None
        train_idx, val_idx, note = validation_split(y, self.val_size, task=task, seed=seed)
        weights = None
        if task == "classification":
            weights = class_weights(y[train_idx], n_outputs, self.class_weight)
        torch.manual_seed(seed)
        warm = bool(warm_start) and (net.head.out_features, net.head.in_features) == (n_outputs, net.embedding_dim)
        if not warm:  # else a later stage: continue from the earlier stage's head
            self._start_head(net, X[train_idx], y[train_idx], task=task, n_outputs=n_outputs, seed=seed,
                             batch_size=batch_size, progress=progress)
        phases, n_unfrozen = self.phases(net)
        callbacks = [ProgressBar(progress, metric="acc" if task == "classification" else "r2",
                                 total_epochs=sum(p.epochs for p in phases))]
        if len(val_idx) and self.patience is not None:
            callbacks.append(EarlyStopping(self.patience))
        state, resumed_from = None, None
        if self.checkpoint_dir:
            fingerprint = self._fingerprint(net, X, y, task=task, seed=seed, batch_size=batch_size)
            if meta is not None:
                state = load_checkpoint(self.checkpoint_dir, net, fingerprint=fingerprint)
                resumed_from = state.epoch
            callbacks.append(CheckpointWriter(self.checkpoint_dir, fingerprint=fingerprint, seed=seed))
        if logger is not None:
            callbacks.append(logger)
        state = train(net, X[train_idx], y[train_idx], phases=phases, task=task,
                      X_val=X[val_idx] if len(val_idx) else None, y_val=y[val_idx] if len(val_idx) else None,
                      batch_size=batch_size, weight_decay=self.weight_decay, loss=loss, weights=weights,
                      augmenter=Augmenter.from_config(self.augment), mixup=float(self.mixup), seed=seed,
                      callbacks=[*callbacks, *self.callbacks], state=state, progress=progress,
                      average_last=self.average_last)
        history = {
            "strategy": self.get_config(), "n_train": int(len(X)), "n_val": int(len(val_idx)), "seed": seed,
            "loss": loss, "val_metric_name": metric, "monitor": "val_loss",
            "n_stages": len(list(net.backbone.stages())), "unfrozen_stages": n_unfrozen,
            "epochs": state.history, "best_epoch": state.best_epoch, "stopped_early": bool(state.stopped_phases),
            "phases": [{"phase": p.name, "planned_epochs": p.epochs,
                        "epochs_run": sum(r["phase"] == p.name for r in state.history),
                        "stopped_early": p.name in state.stopped_phases} for p in phases],
            "train_seconds": round(time.perf_counter() - started, 2), "warm_start": warm,
            "kept_front": state.kept_front, "averaged": state.averaged,
        }
        if weights is not None:
            history["class_weights"] = [float(w) for w in weights]
        if note:
            history["note"] = note
        if resumed_from is not None:
            history["resumed_from_epoch"] = resumed_from
        return history


@register_strategy
@dataclasses.dataclass
class Scratch(FineTune):
    """Train the whole network from a random initialisation: the "no transfer" baseline of seed 002.

    The same network, loop and options as :class:`FineTune`, with every stage trained at ``lr``
    from the first epoch. The estimator builds the backbone without its pretrained weights for
    this strategy (:attr:`Strategy.uses_pretrained_weights` is False); BatchNorm statistics are
    learned in training (``batchnorm="train"``, the only choice: random weights have no
    statistics to keep). Defaults differ from FineTune's: more epochs, no head phase, equal rates.

    Examples
    --------
    >>> Scratch().epochs, Scratch().head_epochs
    (30, 0)
    >>> Scratch(unfreeze=2)
    Traceback (most recent call last):
    ...
    sigxfer.errors.ParameterError: strategy 'scratch': unfreeze=2 must be 'all'
    """

    name: ClassVar[str] = "scratch"
    uses_pretrained_weights: ClassVar[bool] = False
    unfreeze: str | int = "all"
    epochs: int = 30
    head_epochs: int = 0
    lr: float = 1e-3
    body_lr_factor: float = 1.0
    warmup_epochs: int = 2
    batchnorm: str = "train"
    patience: int | None = 5

    _parameter_constraints = {**FineTune._parameter_constraints, "unfreeze": ["all"], "batchnorm": ["train"]}
