"""Checks made once, at the public entry points: user input (:func:`as_signals`).

Below these entry points code assumes float32 ``(n_cases, n_channels, n_timepoints)`` arrays
without NaN and never re-checks them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sigxfer.errors import DataError, DataTypeError


class Signals(NamedTuple):
    """Checked input: ``X`` float32 C-contiguous (n_cases, n_channels, n_timepoints), its case
    names, and the sample rate it carried (or the one given)."""

    X: np.ndarray
    names: list
    sr: float | None


def as_signals(X, *, sr: float | None = None, allow_empty: bool = False) -> Signals:
    """The one entry for user signals: coercion, shape, finiteness and names.

    Parameters
    ----------
    X : SignalSet, array-like or Tensor
        Shape (n_cases, n_channels, n_timepoints), or (n_cases, n_timepoints) for one channel.
    sr : float, optional
        Sample rate to use when ``X`` carries none (a SignalSet's own ``sr`` wins).
    allow_empty : bool
        Accept zero cases (prediction on an empty batch); samples are always required.

    Returns
    -------
    Signals
        ``(X, names, sr)``.

    Raises
    ------
    DataError
        Sparse, complex or non-numeric data, a wrong number of dimensions, no samples, or a case
        holding NaN or infinite values (named by its file when X came from files).

    Examples
    --------
    >>> s = as_signals(np.zeros((2, 100)))
    >>> s.X.shape, s.X.dtype, s.names
    ((2, 1, 100), dtype('float32'), ['case-0', 'case-1'])
    """
    names = getattr(X, "names", None)
    sr = getattr(X, "sr", None) or sr
    arr = X.X if hasattr(X, "X") and not isinstance(X, np.ndarray) else X
    if hasattr(arr, "tocsr") or type(arr).__module__.startswith("scipy.sparse"):
        raise DataError("sparse input is not supported; pass a dense array (n_cases, n_channels, n_timepoints)")
    if hasattr(arr, "detach"):  # a torch tensor, without importing torch here
        arr = arr.detach().cpu().numpy()
    try:
        arr = np.asarray(arr)
    except (TypeError, ValueError) as err:
        raise DataError(
            f"X cannot be read as numbers ({err}); pass a float array (n_cases, n_channels, n_timepoints)"
        ) from None
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError("Complex data not supported; pass real-valued signals (take .real or abs() first)")
    try:
        arr = arr.astype(np.float32, copy=False)
    except (TypeError, ValueError) as err:
        raise DataTypeError(
            f"X cannot be read as numbers ({err}); pass a float array (n_cases, n_channels, n_timepoints)"
        ) from None
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise DataError(
            f"X has shape {arr.shape}. Reshape your data to (n_cases, n_channels, n_timepoints) or (n_cases, n_timepoints)"
        )
    if (arr.shape[0] == 0 and not allow_empty) or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise DataError(f"X has shape {arr.shape}: no cases, channels or samples; pass at least one non-empty signal")
    finite = np.isfinite(arr).reshape(len(arr), -1).all(axis=1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        where = names[i] if names is not None else f"case {i}"
        raise DataError(f"{where}: signal holds NaN or infinite values; clean or drop it before fitting or predicting")
    names = list(names) if names is not None else [f"case-{i}" for i in range(len(arr))]
    return Signals(np.ascontiguousarray(arr), names, sr)
