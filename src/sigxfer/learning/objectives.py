"""What a training run is judged by: the validation split of the training cases, class weights and the loss.

The strategies prepare these before they call :func:`~sigxfer.learning.loop.train` (a fine-tune
holds out its validation cases and weighs its classes); the loop builds the loss from the names
here.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedShuffleSplit

from sigxfer.errors import ParameterError

#: Losses each task accepts; the first is the default.
LOSSES = {"classification": ("cross_entropy",), "regression": ("mse", "huber")}


def validation_split(y: np.ndarray, val_size: float, *, task: str,
                     seed: int) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Split training cases into fitting and validation indices (stratified for classes).

    Returns ``(train_idx, val_idx, note)``; ``val_idx`` is empty, with a note saying why, when
    ``val_size`` is 0 or the data are too few to hold cases out (a class with a single case,
    or fewer than two cases on either side).
    """
    n = len(y)
    everything, none = np.arange(n), np.arange(0)
    if val_size == 0:
        return everything, none, None
    n_val = int(round(val_size * n))
    if task == "classification":
        counts = np.bincount(y)
        counts = counts[counts > 0]
        n_val = max(n_val, len(counts))
        if counts.min() < 2 or n - n_val < len(counts):
            return everything, none, "too few cases per class to hold out a validation split; no early stopping"
        splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed % 2**32)
        train_idx, val_idx = next(splitter.split(np.zeros(n), y))
    else:
        if n_val < 2 or n - n_val < 2:
            return everything, none, "too few cases to hold out a validation split; no early stopping"
        order = np.random.default_rng(seed).permutation(n)
        train_idx, val_idx = order[n_val:], order[:n_val]
    return np.sort(train_idx), np.sort(val_idx), None


def class_weights(y: np.ndarray, n_classes: int, mode) -> np.ndarray | None:
    """Per-class loss weights: None, ``"balanced"`` (``n / (n_classes * count)``) or one per class."""
    if mode is None:
        return None
    if mode == "balanced":
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        with np.errstate(divide="ignore"):
            w = np.where(counts > 0, len(y) / (n_classes * counts), 0.0)
        return w
    w = np.asarray(mode, dtype=np.float64)
    if w.shape != (n_classes,) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ParameterError(
            f"class_weight={mode!r} must be None, 'balanced' or {n_classes} non-negative numbers, one per class"
        )
    return w


def make_loss(task: str, loss: str, weights: np.ndarray | None = None):
    """``loss_fn(outputs, targets) -> scalar``; targets are class indices or probabilities, or floats."""
    if loss not in LOSSES[task]:
        raise ParameterError(f"loss={loss!r} does not fit {task}; use one of {LOSSES[task]}")
    if loss == "cross_entropy":
        w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        return lambda out, target: F.cross_entropy(out, target, weight=None if w is None else w.to(out.device))
    if loss == "huber":
        return lambda out, target: F.huber_loss(out, target, delta=1.0)
    return F.mse_loss
