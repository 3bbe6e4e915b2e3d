"""Checks of user input shared by every layer of sigxfer.

The sections are independent: each needs nothing but :mod:`sigxfer.errors`. Below the public
entry points that call :func:`as_signals`, code assumes float32 ``(n_cases, n_channels,
n_timepoints)`` arrays without NaN and never re-checks them.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping

from typing import NamedTuple

import numpy as np

from sigxfer.errors import DataError, DataTypeError, ParameterError

# ============================================================================ parameter constraints
# A class declares one table ``{parameter: constraint or [constraints]}``; ``check_params`` checks
# every parameter against it, so every class words its messages the same way:
#     strategy 'finetune': epochs=-1 must be an integer >= 0
# A constraint is an :class:`Interval`, an :class:`Options`, a type (``isinstance``), ``None`` (the
# value None) or a string (that very string, e.g. ``"all"``).

_TYPE_NAMES = {bool: "True or False", dict: "a dict", list: "a list", tuple: "a tuple", str: "a string",
               os.PathLike: "a path"}
_CLOSED = ("both", "left", "right", "neither")


class Interval:
    """Numbers between two bounds, as a parameter constraint.

    Parameters
    ----------
    kind : {int, float}
        ``int``: integers only (Python or numpy integers; not ``True``/``False``). ``float``: any
        real number, integers included, that is finite (NaN and infinities are refused).
    left, right : number or None
        Lower and upper bound; None leaves that side unbounded.
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the interval.

    Examples
    --------
    >>> Interval(int, 0, None).accepts(3), Interval(int, 0, None).accepts(-1)
    (True, False)
    >>> str(Interval(float, 0, 1, closed="left"))
    'a number in [0, 1)'
    """

    def __init__(self, kind: type, left: float | None, right: float | None, *, closed: str = "both") -> None:
        if kind not in (int, float):
            raise TypeError(f"Interval kind must be int or float, not {kind!r}")
        if closed not in _CLOSED:
            raise ValueError(f"Interval closed={closed!r} must be one of {_CLOSED}")
        if left is not None and right is not None and left > right:
            raise ValueError(f"Interval left={left} is above right={right}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def accepts(self, value) -> bool:
        """Whether ``value`` is of the interval's kind and lies inside it."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if not math.isfinite(value):
            return False
        if self.left is not None:
            if value < self.left or (value == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        left_in = self.closed in ("both", "left")
        right_in = self.closed in ("both", "right")
        if self.left is not None and self.right is not None:
            return f"{what} in {'[' if left_in else '('}{self.left}, {self.right}{']' if right_in else ')'}"
        if self.left is not None:
            return f"{what} {'>=' if left_in else '>'} {self.left}"
        if self.right is not None:
            return f"{what} {'<=' if right_in else '<'} {self.right}"
        return what if self.kind is int else "a finite number"

    def __repr__(self) -> str:
        return f"Interval({self.kind.__name__}, {self.left!r}, {self.right!r}, closed={self.closed!r})"


class Options:
    """One of a fixed set of values, as a parameter constraint.

    Parameters
    ----------
    *values
        The allowed values, compared with ``==`` (a bool never counts as 0 or 1).

    Examples
    --------
    >>> Options("circular", "zeros").accepts("zeros")
    True
    >>> str(Options("mse", "huber"))
    "one of 'mse', 'huber'"
    """

    def __init__(self, *values) -> None:
        if not values:
            raise ValueError("Options needs at least one value")
        self.values = values

    def accepts(self, value) -> bool:
        """Whether ``value`` is one of the options."""
        for option in self.values:
            if isinstance(value, bool) != isinstance(option, bool):
                continue
            try:
                if bool(value == option):
                    return True
            except (TypeError, ValueError):  # an array compares element by element
                continue
        return False

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def __repr__(self) -> str:
        return f"Options({', '.join(repr(v) for v in self.values)})"


def _accepts(constraint, value) -> bool:
    if constraint is None:
        return value is None
    if isinstance(constraint, str):
        return isinstance(value, str) and value == constraint
    if isinstance(constraint, type):
        return isinstance(value, constraint)
    return constraint.accepts(value)


def _describe(constraint) -> str:
    if constraint is None:
        return "None"
    if isinstance(constraint, str):
        return repr(constraint)
    if isinstance(constraint, type):
        return _TYPE_NAMES.get(constraint, f"a {constraint.__name__}")
    return str(constraint)


def _describe_all(constraints) -> str:
    """What a value must be, in words: ``"an integer >= 1 or 'all'"``, ``"None, 'balanced' or a list"``."""
    if not isinstance(constraints, (list, tuple)):
        constraints = [constraints]
    words = [_describe(c) for c in constraints]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def check_params(owner: str, params: Mapping, constraints: Mapping) -> None:
    """Check each parameter named in ``constraints`` against its constraint(s).

    Parameters
    ----------
    owner : str
        Who the parameters belong to, first in the message, e.g. ``"strategy 'finetune'"``.
    params : mapping
        Parameter names and values; every name in ``constraints`` must be there.
    constraints : mapping
        ``{name: constraint}`` or ``{name: [constraints]}``; a value passes if any constraint
        accepts it. Parameters not in the table are not checked.

    Raises
    ------
    ParameterError
        For the first parameter, in table order, that no constraint accepts:
        ``"<owner>: <name>=<value> must be <what>"``.

    Examples
    --------
    >>> table = {"epochs": Interval(int, 0, None), "unfreeze": [Interval(int, 1, None), "all"]}
    >>> check_params("strategy 'finetune'", {"epochs": 3, "unfreeze": "all"}, table)
    >>> check_params("strategy 'finetune'", {"epochs": -1, "unfreeze": "all"}, table)
    Traceback (most recent call last):
    ...
    sigxfer.errors.ParameterError: strategy 'finetune': epochs=-1 must be an integer >= 0
    """
    for name, allowed in constraints.items():
        value = params[name]
        options = allowed if isinstance(allowed, (list, tuple)) else [allowed]
        if not any(_accepts(c, value) for c in options):
            raise ParameterError(f"{owner}: {name}={value!r} must be {_describe_all(options)}")


# ============================================================================ user signals
class Signals(NamedTuple):
    """Checked input: ``X`` float32 C-contiguous (n_cases, n_channels, n_timepoints), its case
    names, and the sample rate it carried (or the one given)."""

    X: np.ndarray
    names: list
    sr: float | None


#: Largest magnitude float32 holds; larger finite values would silently become infinite.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_HOW = "pass a float array (n_cases, n_channels, n_timepoints)"


def _check_sr(sr) -> float | None:
    """``sr`` as a Python float, or None; anything but a positive finite number is refused."""
    if sr is None:
        return None
    if isinstance(sr, bool) or not isinstance(sr, numbers.Real) or not math.isfinite(sr) or sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive sample rate in Hz (or None if unknown)")
    return float(sr)


def _to_numpy(arr):
    """A numpy view of a tensor or array-like (masked entries become NaN, so they are named below)."""
    if hasattr(arr, "detach"):  # a torch tensor, without importing torch here
        arr = arr.detach().cpu()
        try:
            arr = arr.numpy()
        except TypeError:  # bfloat16 and other dtypes numpy lacks: float32 holds them exactly
            arr = arr.float().numpy()
    if isinstance(arr, np.ma.MaskedArray):
        if np.issubdtype(arr.dtype, np.complexfloating):
            return arr.filled(np.nan + 0j)
        return arr.astype(np.float64).filled(np.nan) if arr.mask is not np.ma.nomask else arr.data
    try:
        return np.asarray(arr)
    except (TypeError, ValueError, OverflowError) as err:
        raise DataError(f"X cannot be read as numbers ({_first_line(err)}); {_HOW}") from None


def _first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _as_float32(arr: np.ndarray) -> np.ndarray:
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise DataError("Complex data not supported; pass real-valued signals (take .real or abs() first)")
    if arr.dtype.kind in _NOT_NUMBERS:
        raise DataTypeError(f"X holds {_NOT_NUMBERS[arr.dtype.kind]} (dtype {arr.dtype}), not numbers; {_HOW}")
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is found and named below
            return arr.astype(np.float32, copy=False)
    except (TypeError, ValueError, OverflowError) as err:
        raise DataTypeError(f"X cannot be read as numbers ({_first_line(err)}); {_HOW}") from None


#: dtype kinds numpy would turn into floats although they are not measurements.
_NOT_NUMBERS = {"U": "text", "S": "bytes", "M": "dates", "m": "time spans", "V": "records"}


def _check_finite(arr: np.ndarray, source: np.ndarray, names) -> None:
    """Name the first case, channel and sample holding NaN, infinity or a value float32 cannot hold."""
    finite = np.isfinite(arr)
    if finite.all():
        return
    i, channel, t = (int(k) for k in np.unravel_index(int(np.argmin(finite.reshape(-1))), arr.shape))
    where = f"{names[i] if names is not None else f'case {i}'}: signal holds"
    at = f"(channel {channel}, sample {t})"
    if np.isnan(arr[i, channel, t]):
        raise DataError(f"{where} NaN {at}; clean or drop it before fitting or predicting")
    try:
        value = float(source[i, channel, t])
    except OverflowError:  # a Python int beyond every float
        value = None
    if value is None or math.isfinite(value):
        shown = "a number" if value is None else f"{value:.4g}"
        raise DataError(f"{where} {shown} {at}, beyond float32's range (+-{_FLOAT32_MAX:.3g}); "
                        "rescale the signals before fitting or predicting")
    raise DataError(f"{where} infinite values {at}; clean or drop it before fitting or predicting")


def as_signals(X, *, sr: float | None = None, allow_empty: bool = False) -> Signals:
    """The one entry for user signals: coercion, shape, finiteness and names.

    Parameters
    ----------
    X : SignalSet, array-like or Tensor
        Shape (n_cases, n_channels, n_timepoints), or (n_cases, n_timepoints) for one channel.
        Any real numbers: floats, integers, bools, object arrays of numbers, tensors of any real
        dtype (bfloat16 included), masked arrays (masked entries count as missing).
    sr : float, optional
        Sample rate to use when ``X`` carries none (a SignalSet's own ``sr`` wins).
    allow_empty : bool
        Accept zero cases (prediction on an empty batch); samples are always required.

    Returns
    -------
    Signals
        ``(X, names, sr)``: ``X`` float32 C-contiguous, ``sr`` a Python float or None. Idempotent:
        ``as_signals(as_signals(X).X)`` returns the same array.

    Raises
    ------
    DataError
        Sparse, complex or non-numeric data (text, dates), a wrong number of dimensions, no
        samples, or a case holding NaN, infinite values or values beyond float32's range (named
        by its file when X came from files, with the channel and sample).
    ParameterError
        ``sr`` is not a positive finite number.

    Examples
    --------
    >>> s = as_signals(np.zeros((2, 100)))
    >>> s.X.shape, s.X.dtype, s.names
    ((2, 1, 100), dtype('float32'), ['case-0', 'case-1'])
    >>> as_signals([[0.0, float("nan")]])
    Traceback (most recent call last):
    ...
    sigxfer.errors.DataError: case 0: signal holds NaN (channel 0, sample 1); clean or drop it before fitting or predicting
    """
    names = getattr(X, "names", None)
    own_sr = getattr(X, "sr", None) if not isinstance(X, np.ndarray) else None
    sr = _check_sr(own_sr if own_sr is not None else sr)
    arr = X.X if hasattr(X, "X") and not isinstance(X, np.ndarray) else X
    if hasattr(arr, "tocsr") or type(arr).__module__.startswith("scipy.sparse"):
        raise DataError("sparse input is not supported; pass a dense array (n_cases, n_channels, n_timepoints)")
    source = _to_numpy(arr)
    arr = _as_float32(source)
    if arr.ndim == 2:
        arr, source = arr[:, None, :], source[:, None, :]
    if arr.ndim != 3:
        raise DataError(
            f"X has shape {arr.shape}. Reshape your data to (n_cases, n_channels, n_timepoints) or (n_cases, n_timepoints)"
        )
    if (arr.shape[0] == 0 and not allow_empty) or arr.shape[1] == 0 or arr.shape[2] == 0:
        raise DataError(f"X has shape {arr.shape}: no cases, channels or samples; pass at least one non-empty signal")
    _check_finite(arr, source, names)
    names = list(names) if names is not None else [f"case-{i}" for i in range(len(arr))]
    return Signals(np.ascontiguousarray(arr), names, sr)
