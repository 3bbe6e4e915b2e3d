"""UCR/UEA benchmark datasets bundled inside the optional ``aeon`` package (never downloaded)."""

from __future__ import annotations

import os

import numpy as np

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


def load_ucr(name: str, *, split: str = "train") -> SignalSet:
    """One official split of a bundled UCR/UEA classification dataset.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"GunPoint"``, ``"ArrowHead"``, ``"BasicMotions"`` (see :func:`list_ucr`).
    split : {"train", "test"}
        The official split.

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
    X = np.asarray(X, dtype=np.float32)
    names = [f"{name}-{split}-{i:04d}" for i in range(len(X))]
    return SignalSet(X=X, y=np.asarray(y).astype(str), names=names)
