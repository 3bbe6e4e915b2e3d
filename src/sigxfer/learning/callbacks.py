"""Callbacks of the training loop: progress bars, early stopping, a deadline, checkpoints, TensorBoard.

A callback is any object with some of the hooks of :class:`Callback`; each gets the loop's
:class:`~sigxfer.learning.loop.TrainState`, and may set ``state.stop`` to end the current phase.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from tqdm.auto import tqdm

from sigxfer.errors import ParameterError


class Callback:
    """Hooks called by :func:`~sigxfer.learning.loop.train`; every one does nothing by default.

    Examples
    --------
    >>> class StopAfter(Callback):
    ...     def __init__(self, epochs):
    ...         self.epochs = epochs
    ...     def on_epoch_end(self, state, record):
    ...         state.stop = record["epoch"] + 1 >= self.epochs
    >>> from sigxfer.learning import FineTune
    >>> strategy = FineTune(callbacks=[StopAfter(3)])
    """

    def on_train_begin(self, state) -> None:
        """Before the first epoch (also when resuming)."""

    def on_epoch_begin(self, state) -> None:
        """Before each epoch; ``state.phase`` is the running phase."""

    def on_batch_end(self, state, loss: float) -> None:
        """After each optimisation step, with the batch's loss."""

    def on_epoch_end(self, state, record: dict) -> None:
        """After each epoch, with its history record (already in ``state.history``)."""

    def on_train_end(self, state) -> None:
        """After the last phase, once the best weights are back in place."""


class ProgressBar(Callback):
    """One tqdm bar per epoch over its batches, showing the running loss, then the validation scores.

    Parameters
    ----------
    progress : bool, optional
        Show bars; ``None`` shows them only on a terminal (tqdm's rule).
    metric : str
        Name of the validation metric in the bar (``"acc"``, ``"r2"``).
    total_epochs : int
        Epochs planned over all phases, for the bar's label.

    Examples
    --------
    >>> bar = ProgressBar(False, metric="acc", total_epochs=12)  # given to train(callbacks=[...])
    """

    def __init__(self, progress: bool | None, *, metric: str, total_epochs: int):
        self.disable = None if progress is None else not progress
        self.metric = metric
        self.total_epochs = total_epochs
        self.bar = None

    def on_epoch_begin(self, state) -> None:
        self.bar = tqdm(total=state.n_batches, unit="batch", leave=True, disable=self.disable,
                        desc=f"{state.phase.name} epoch {state.epoch + 1}/{self.total_epochs}")

    def on_batch_end(self, state, loss: float) -> None:
        self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        self.bar.update(1)

    def on_epoch_end(self, state, record: dict) -> None:
        post = {"loss": f"{record['train_loss']:.4f}"}
        if record["val_loss"] is not None:
            post.update(val_loss=f"{record['val_loss']:.4f}", **{f"val_{self.metric}": f"{record['val_metric']:.3f}"})
        self.bar.set_postfix(post)
        self.bar.close()


class EarlyStopping(Callback):
    """End a phase once the validation loss has not fallen for ``patience`` epochs in a row.

    The loop itself keeps the best weights and restores them; this only decides when to stop.

    Examples
    --------
    >>> stopper = EarlyStopping(patience=3)  # given to train(callbacks=[...])
    """

    def __init__(self, patience: int):
        self.patience = patience

    def on_epoch_end(self, state, record: dict) -> None:
        if record["val_loss"] is not None and state.wait >= self.patience:
            state.stop = True


class Deadline(Callback):
    """Fit a phase to the time left before ``deadline``, re-planned from each epoch's measured length.

    After every epoch the phase is planned again to the epochs that fit at the length of its longest
    so far (never more than ``most``, by default the phase's own), so its learning rate, a cosine
    over the planned epochs (:func:`~sigxfer.learning.loop.lr_factor`), anneals by the deadline
    instead of being cut at a high rate; the phase ends when not one more epoch fits. With ``most``
    above the phase's epochs, a phase planned from an estimate that was long grows to what the
    measured epochs leave room for. ``deadline`` is a :func:`time.perf_counter` value. The loop
    keeps the weights of the lowest validation loss as ever. ``planned`` is the epochs the phase
    was last planned to run (None: never re-planned); ``hit`` says whether the deadline stopped or
    shortened the run below ``most``.

    Examples
    --------
    >>> stopper = Deadline(time.perf_counter() + 300)  # five minutes from now
    >>> stopper.hit, stopper.planned
    (False, None)
    """

    def __init__(self, deadline: float, *, most: int | None = None):
        self.deadline = float(deadline)
        self.most = most
        self.hit = False
        self.planned: int | None = None

    def on_epoch_end(self, state, record: dict) -> None:
        # Epochs vary by a fifth on a shared machine: the phase's longest so far keeps the plan inside the time.
        # The history holds this phase's epochs (the last of them is ``record``), from a checkpoint too.
        seconds = max(float(r.get("seconds") or 0.0) for r in [*state.history[-state.phase_epoch:], record])
        if seconds <= 0.0 or not math.isfinite(self.deadline):  # no deadline (no budget): the phase's own plan
            return
        more = max(0, int((self.deadline - time.perf_counter()) // seconds))
        most = state.phase.epochs if self.most is None else max(self.most, state.phase_epoch)
        planned = min(most, state.phase_epoch + more)
        if planned != state.epochs_planned:
            state.planned = self.planned = planned
        if planned < most:
            self.hit = True
            state.stop = state.stop or more == 0


class CheckpointWriter(Callback):
    """Save the run after every epoch and at the end (see :mod:`sigxfer.learning.checkpoint`).

    Examples
    --------
    >>> writer = CheckpointWriter("run/", fingerprint="ab12", seed=0)  # given to train(callbacks=[...])
    """

    def __init__(self, directory, *, fingerprint: str, seed: int):
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.seed = seed

    def _save(self, state) -> None:
        from sigxfer.learning.checkpoint import save_checkpoint

        save_checkpoint(self.directory, state, fingerprint=self.fingerprint, seed=self.seed)

    def on_epoch_end(self, state, record: dict) -> None:
        self._save(state)

    def on_train_end(self, state) -> None:
        self._save(state)


def require_tensorboard():
    """torch's SummaryWriter, or a ParameterError saying which package to install.

    Examples
    --------
    >>> SummaryWriter = require_tensorboard()  # doctest: +SKIP
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch imports the tensorboard package lazily, here
        raise ParameterError(
            "tensorboard_dir needs the tensorboard package: pip install tensorboard "
            "(or pip install 'sigxfer[test]'), or leave tensorboard_dir=None"
        ) from None
    return SummaryWriter


class TensorBoardLogger(Callback):
    """Write train/val loss, the validation metric and the learning rate per epoch to ``log_dir``.

    Raises
    ------
    ParameterError
        The ``tensorboard`` package is not installed.

    Examples
    --------
    >>> logger = TensorBoardLogger("runs/", metric="accuracy")  # doctest: +SKIP
    """

    def __init__(self, log_dir, *, metric: str):
        self.writer_class = require_tensorboard()
        self.log_dir = str(log_dir)
        self.metric = metric
        self.writer = None

    def on_train_begin(self, state) -> None:
        self.writer = self.writer_class(log_dir=self.log_dir)

    def on_epoch_end(self, state, record: dict) -> None:
        step = record["epoch"]
        self.writer.add_scalar("loss/train", record["train_loss"], step)
        if record["val_loss"] is not None:
            self.writer.add_scalar("loss/val", record["val_loss"], step)
            self.writer.add_scalar(f"{self.metric}/val", record["val_metric"], step)
        self.writer.add_scalar("lr/head", record["lr"], step)
        if "body_lr" in record:
            self.writer.add_scalar("lr/body", record["body_lr"], step)
        self.writer.flush()

    def on_train_end(self, state) -> None:
        self.writer.close()
