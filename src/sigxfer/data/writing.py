"""Write signals to disk: class folders (:func:`write_signals`) or files plus a targets table.

Both write a whole folder at once: files go into a hidden temporary folder beside ``out_dir``,
which is renamed into place when complete, so an interrupted write never leaves a half-written
folder and an earlier one is replaced only once the new one is whole.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sigxfer._atomic import check_output, install_folder, new_staging_folder
from sigxfer._paths import safe_name
from sigxfer.data.folders import META_NAME, PROGRESS_THRESHOLD, read_meta
from sigxfer.data.formats import get_format, is_signal_file, writable_formats
from sigxfer.data.signals import SignalSet, _is_classification
from sigxfer.errors import DataError, OutputExistsError, ParameterError

__all__ = ["write_signals", "write_targets", "OutputFolderExistsError", "TARGETS_NAME"]

#: File name of the table :func:`write_targets` writes.
TARGETS_NAME = "targets.csv"
#: The writer named in the manifest of a folder write_signals (or write_targets) wrote.
OWNER = "write_signals"


class OutputFolderExistsError(OutputExistsError, DataError):
    """``out_dir`` holds earlier files that write_signals will not replace.

    Both the project's :class:`~sigxfer.errors.OutputExistsError` and the :class:`DataError` the
    data API documents, so either ``except`` catches it.
    """


def write_signals(
    signals: SignalSet,
    out_dir: str | os.PathLike,
    *,
    format: str = "npy",
    overwrite: bool = False,
) -> Path:
    """Write one file per case into one folder per class, plus ``sigxfer.json``.

    ``load_signals(out_dir)`` reads the result back: same samples (exactly, for every format),
    same ``sr``, same labels.

    Parameters
    ----------
    signals : SignalSet
        The cases to write; all samples must be finite. With ``y=None`` the files go straight
        into ``out_dir`` (read them back with :func:`~sigxfer.data.load_files`).
    out_dir : str or path-like
        Folder to create. Must not exist or be empty, unless ``overwrite``.
    format : {"npy", "csv", "wav"} or another registered format with a writer, default="npy"
        ``npy``: float32 arrays (n_channels, n_timepoints); ``csv``: one column per channel with
        a header ``ch0,ch1,...``; ``wav``: 32-bit float WAV (needs a whole-number ``sr``).
    overwrite : bool, default=False
        Replace ``out_dir`` if it holds an earlier :func:`write_signals` output. The old folder
        is removed only once the new one is complete. A folder that write_signals did not write is
        never replaced.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    OutputFolderExistsError
        (a DataError and an OutputExistsError) If ``out_dir`` is a file, or exists and is not
        empty (without ``overwrite``, or not written by write_signals).
    DataError
        If a sample is not finite, or two labels or names map to one file name.
    ParameterError
        If ``format`` is unknown, ``y`` holds continuous targets (see :func:`write_targets`), or
        ``wav`` is asked for without a whole-number ``sr``.

    Notes
    -----
    ``sigxfer.json`` holds ``sr``, ``n_channels``, ``n_timepoints``, ``n_cases``, ``format`` and
    ``labels`` (class folder name -> original label).

    Examples
    --------
    >>> import tempfile, os
    >>> from sigxfer.data import load_signals, make_devices
    >>> out = write_signals(make_devices(3, seed=0), os.path.join(tempfile.mkdtemp(), "devices"))
    >>> sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    ['high', 'low', 'sigxfer.json']
    >>> load_signals(out).X.shape
    (6, 1, 1024)
    """
    _check_signal_set(signals, "write_signals")
    fmt = _check_format(format)
    if signals.y is not None and not _is_classification(signals.y):
        raise ParameterError(
            "write_signals stores labels as class folders, and y holds continuous targets; "
            "write them with write_targets (files and a targets.csv table)"
        )
    signals.check_finite()
    plan = _plan_files(signals, fmt)
    labels = None
    if signals.y is not None:
        labels = {safe_name(str(lab)): _json_value(lab) for lab in signals.classes}
    _write_folder(signals, out_dir, fmt, plan, labels=labels, tables={}, overwrite=overwrite)
    return Path(out_dir)


def write_targets(
    signals: SignalSet,
    out_dir: str | os.PathLike,
    *,
    target: str = "target",
    groups=None,
    format: str = "npy",
    overwrite: bool = False,
) -> Path:
    """Write one file per case into ``out_dir`` and a ``targets.csv`` of ``file,<target>`` rows.

    The regression counterpart of :func:`write_signals`: ``load_targets(write_targets(s, out))``
    reads the same samples, ``sr`` and targets back, and ``sigxfer train OUT --targets
    OUT/targets.csv`` trains on them.

    Parameters
    ----------
    signals : SignalSet
        The cases, with ``y`` their numeric targets (finite); names give the file names.
    out_dir : str or path-like
        Folder to create. Must not exist or be empty, unless ``overwrite``.
    target : str, default="target"
        Name of the target column (the second column of the table).
    groups : sequence of str, optional
        One group per case (e.g. ``"simulated"``/``"experimental"``). The table then gets a third
        column ``group``, and each group also gets a table of its own rows, ``<group>.csv``, so
        that one group can be trained on and another evaluated.
    format : str, default="npy"
        File format of the signals, as in :func:`write_signals`.
    overwrite : bool, default=False
        As in :func:`write_signals`.

    Returns
    -------
    Path
        The table, ``out_dir / "targets.csv"``.

    Raises
    ------
    ParameterError
        ``y`` is missing or not numbers, ``target`` is not a usable column name, or ``groups``
        does not hold one group per case.
    DataError
        A target or sample is not finite, two cases or groups map to one file name, or a group's
        table would have the name of another file.
    OutputFolderExistsError
        As in :func:`write_signals`.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sigxfer.data import SignalSet, load_targets
    >>> s = SignalSet(np.ones((3, 1, 8)), sr=10.0, y=[0.5, 1.5, 2.5])
    >>> table = write_targets(s, os.path.join(tempfile.mkdtemp(), "out"), target="rms")
    >>> table.name, load_targets(table).y.tolist()
    ('targets.csv', [0.5, 1.5, 2.5])
    """
    _check_signal_set(signals, "write_targets")
    fmt = _check_format(format)
    if not isinstance(target, str) or not target.strip() or any(c in target for c in ',;\t"\r\n') \
            or target.strip() in ("file", "group"):
        raise ParameterError(
            f"target={target!r} must be a column name without , ; tabs or quotes, and not 'file' or 'group'"
        )
    y = None if signals.y is None else np.asarray(signals.y)
    if y is None or y.dtype.kind not in "iuf":
        raise ParameterError("write_targets needs numeric targets in y; for class labels use write_signals")
    for i, value in enumerate(y):
        if not math.isfinite(float(value)):
            raise DataError(f"{signals.names[i]}: target is {value}; give every case a finite target")
    if groups is not None:
        groups = [str(g) for g in groups]
        if len(groups) != signals.n_cases:
            raise ParameterError(f"groups has {len(groups)} entries for {signals.n_cases} cases; give one per case")
    signals.check_finite()
    plan = _plan_files(SignalSet(signals.X, sr=signals.sr, names=signals.names), fmt)  # flat: no class folders
    columns = ["file", target.strip()] + (["group"] if groups is not None else [])
    rows = [[rel.as_posix(), repr(float(v))] + ([groups[i]] if groups is not None else [])
            for i, (rel, v) in enumerate(zip(plan, y))]
    taken = {str(p).lower() for p in plan} | {META_NAME}
    if TARGETS_NAME in taken:
        raise DataError(f"a case maps to the file {TARGETS_NAME}, which holds the table; rename that case")
    tables = {TARGETS_NAME: _table_text(columns, rows)}
    taken.add(TARGETS_NAME)
    if groups is not None:
        for group in dict.fromkeys(groups):
            name = safe_name(group, default="group") + ".csv"
            if name.lower() in taken:
                raise DataError(f"group {group!r}: its table {name} would replace another file; rename the group")
            taken.add(name.lower())
            tables[name] = _table_text(columns, [r for r, g in zip(rows, groups) if g == group])
    _write_folder(signals, out_dir, fmt, plan, labels=None, tables=tables, overwrite=overwrite)
    return Path(out_dir) / TARGETS_NAME


def _table_text(columns: list[str], rows: list[list[str]]) -> str:
    # Only file names made by safe_name and plain numbers land here: no quoting is ever needed.
    return "".join(",".join(cells) + "\n" for cells in [columns, *rows])


def _check_signal_set(signals, caller: str) -> None:
    if not isinstance(signals, SignalSet):
        raise ParameterError(
            f"{caller} needs a SignalSet, not {type(signals).__name__}; wrap arrays in SignalSet(X, sr=, y=)"
        )


def _check_format(format) -> str:
    fmt = str(format).lower().lstrip(".")
    if fmt not in writable_formats():
        raise ParameterError(f"format={format!r} must be one of {writable_formats()}")
    return fmt


def _write_folder(signals: SignalSet, out_dir, fmt: str, plan: list[Path], *, labels, tables: dict[str, str],
                  overwrite: bool) -> None:
    """Write the planned files, ``tables`` (name -> text) and ``sigxfer.json`` into ``out_dir``."""
    writer = get_format(fmt).writer
    # Normalised so that "." or "runs/.." still has a parent to hold the temporary sibling.
    out = Path(os.path.abspath(out_dir))
    _check_target(out, overwrite)
    tmp = new_staging_folder(out)
    try:
        # disable=None: a bar only on a terminal, and only when there are many files.
        hide = None if len(plan) > PROGRESS_THRESHOLD else True
        for i, rel in enumerate(tqdm(plan, desc="writing signals", unit="file", disable=hide)):
            target = tmp / rel
            target.parent.mkdir(exist_ok=True)
            writer(target, signals.X[i], signals.sr)
        for name, text in tables.items():
            (tmp / name).write_text(text, encoding="utf-8")
        meta = {
            "sr": signals.sr,
            "n_channels": signals.n_channels,
            "n_timepoints": signals.n_timepoints,
            "n_cases": signals.n_cases,
            "format": fmt,
            "labels": labels,
        }
        (tmp / META_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        install_folder(tmp, out, owner=OWNER)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _plan_files(signals: SignalSet, fmt: str) -> list[Path]:
    """Relative output path of each case; refuses names that would collide."""
    folders = [Path()] * signals.n_cases
    if signals.y is not None:
        by_folder: dict[str, object] = {}
        for label in signals.classes:
            folder = safe_name(str(label))
            # Compared without case: two labels must not share a folder on macOS or Windows either.
            other = by_folder.setdefault(folder.lower(), label)
            if other != label:
                raise DataError(
                    f"labels {str(other)!r} and {str(label)!r} both map to class folder {folder!r}; "
                    "rename one of them"
                )
        folders = [Path(safe_name(str(label))) for label in signals.y]
    plan, seen = [], set()
    for i, (folder, name) in enumerate(zip(folders, signals.names)):
        stem = Path(name).name
        if is_signal_file(Path(stem)):
            stem = Path(stem).stem
        stem = safe_name(stem, default=f"case-{i:05d}")
        rel = folder / f"{stem}.{fmt}"
        if str(rel).lower() in seen:
            rel = folder / f"{stem}-{i:05d}.{fmt}"  # same file name in two source folders
        if str(rel).lower() in seen:
            raise DataError(f"{name}: two cases map to the output file {rel}; give the cases unique names")
        seen.add(str(rel).lower())
        plan.append(rel)
    return plan


def _json_value(label):
    return label.item() if isinstance(label, np.generic) else label


def _check_target(out: Path, overwrite: bool) -> None:
    """The project's output rule (:func:`sigxfer._atomic.check_output`), raised as this module's error."""
    try:
        check_output(out, overwrite=overwrite, kind="folder", owner=OWNER)
    except OutputExistsError as err:
        raise OutputFolderExistsError(str(err)) from None
