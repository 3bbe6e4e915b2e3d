"""The one rule that tells classification from regression, for every caller.

Class folders hold labels to classify; a targets table holds numbers to regress. Arrays given
directly are read by their values: labels (text, booleans, integers, whole-number floats) are
classes, other numbers are targets. ``task=`` confirms or overrides the reading where the values
alone cannot tell (whole-number targets such as ages or counts).
"""

from __future__ import annotations

import numpy as np

from sigxfer.errors import DataError, ParameterError

#: The two tasks, by name.
TASKS = ("classification", "regression")


def task_of(y=None, *, task: str | None = None, targets=None) -> str:
    """``"classification"`` or ``"regression"`` for the given labels, table and choice.

    In order: ``task`` when given (checked against the rest); else ``"regression"`` when the data
    came from a ``targets`` table; else what ``y`` holds (labels: classification, other numbers:
    regression); else classification (class folders hold labels).

    Parameters
    ----------
    y : array-like of shape (n_cases,) or (n_cases, n_targets), optional
        The labels or targets, when they are known.
    task : {"classification", "regression"}, optional
        The task asked for.
    targets : str or path-like, optional
        The targets table the data came from (``load_dataset(..., targets=)``), if any.

    Returns
    -------
    str

    Raises
    ------
    ParameterError
        ``task`` is unknown, regression is asked for without a table or targets to learn, or
        classification with a table of numbers.
    DataError
        ``y`` cannot serve the task: continuous values to classify, or text to regress.

    Examples
    --------
    >>> task_of(["low", "high"])
    'classification'
    >>> task_of([0.5, 1.25])
    'regression'
    >>> task_of([30.0, 41.0], targets="ages.csv")  # whole numbers, but from a targets table
    'regression'
    >>> task_of([30.0, 41.0], task="regression")
    'regression'
    """
    if task is not None and task not in TASKS:
        raise ParameterError(f"task={task!r} must be 'classification' or 'regression'")
    if task == "classification" and targets is not None:
        raise ParameterError(
            "targets= gives numbers to regress; drop task='classification' (class labels come from class folders)"
        )
    if task == "regression" and targets is None and y is None:
        raise ParameterError("task='regression' needs targets=CSV, a table of file,target rows")
    if y is None:
        return task or ("regression" if targets is not None else "classification")
    y = np.asarray(y)
    labels = _holds_labels(y)
    if task == "regression" and y.dtype.kind not in "biuf":
        raise DataError(
            "task='regression' needs numbers to learn, and the labels are text (class folders); "
            "give targets=CSV, a table of file,target rows"
        )
    if task == "classification" and not labels:
        raise DataError("the labels hold continuous values, not classes; use task='regression' or give class labels")
    if task is not None:
        return task
    if targets is not None:
        return "regression"
    return "classification" if labels else "regression"


def _holds_labels(y: np.ndarray) -> bool:
    if y.dtype.kind in "OUSbiu":
        return True
    # Whole-number floats (0.0, 1.0) are labels that passed through a float array.
    return bool(y.dtype.kind == "f" and y.ndim == 1 and np.all(np.isfinite(y)) and np.all(y == np.round(y)))


__all__ = ["TASKS", "task_of"]
