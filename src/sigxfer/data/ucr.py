"""UCR/UEA benchmark datasets bundled inside the optional ``aeon`` package (never downloaded)."""

from __future__ import annotations

import os

import numpy as np

from sigxfer.data.folders import stack_to_length
from sigxfer.data.signals import SignalSet
from sigxfer.errors import DataError, ParameterError


def _bundled_dir() -> str:
    try:
        import aeon
    except ImportError:
        raise ParameterError(
            "UCR/UEA datasets need the optional aeon package; pip install 'sigxfer[aeon]'"
        ) from None
    return os.path.join(os.path.dirname(aeon.__file__), "datasets", "data")


def list_ucr() -> list[str]:
    """Names of the classification datasets aeon ships inside its package."""
    root = _bundled_dir()
    return sorted(d for d in os.listdir(root)
                  if os.path.exists(os.path.join(root, d, f"{d}_TRAIN.ts")))


def load_ucr(name: str, *, split: str = "train", length: int | None = None) -> SignalSet:
    """One official split of a bundled UCR/UEA classification dataset.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"GunPoint"``, ``"ArrowHead"``, ``"BasicMotions"`` (see :func:`list_ucr`).
    split : {"train", "test"}
        The official split.
    length : int, optional
        Bring every series to this many samples (cut at the end, or zero-padded); needed for the
        sets whose series differ in length.

    Returns
    -------
    SignalSet
        ``X`` float32 (n_cases, n_channels, n_timepoints), string labels, names ``NAME-split-i``;
        ``sr`` is None (the archive does not record sample rates).
    """
    if split not in ("train", "test"):
        raise ParameterError(f"split={split!r} must be 'train' or 'test'")
    available = list_ucr()
    if name not in available:
        # Checked here so that aeon never tries to download a dataset it does not ship.
        raise DataError(f"dataset {name!r} is not bundled with aeon; use one of {available}")
    from aeon.datasets import load_classification

    X, y = load_classification(name, split=split.upper(), extract_path=_bundled_dir())
    if isinstance(X, list) and length is None:  # aeon gives a list of arrays for unequal lengths
        lengths = sorted({int(np.shape(x)[-1]) for x in X})
        raise DataError(
            f"ucr:{name} holds series of {lengths[0]} to {lengths[-1]} samples and a model needs one "
            f"length; pass length= (--length {lengths[-1]} pads every series with zeros to the longest)"
        )
    if length is not None:  # cut at the end or zero-padded, as load_signals does with length=
        X = stack_to_length([np.asarray(x, dtype=np.float32) for x in X], length, "zero", f"ucr:{name}")
    X = np.asarray(X, dtype=np.float32)
    names = [f"{name}-{split}-{i:04d}" for i in range(len(X))]
    return SignalSet(X=X, y=np.asarray(y).astype(str), names=names)
