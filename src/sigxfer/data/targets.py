"""Regression data: signal files listed in a CSV table next to the number to learn from each.

::

    data/
      targets.csv     file,rms,temperature
                      run1/a.npy,0.71,41.5
                      run1/b.npy,1.30,40.2
      run1/a.npy  run1/b.npy  ...

Paths in the table are relative to the table's own folder (absolute paths work too), so the
folder can move as a whole. The first column holds the files; the target is the second column
unless ``target=`` names another. A header row is optional: without one (a first row whose second
cell is a number) the columns are called ``file``, ``target``, ``target_2``, ... Errors count rows
as lines of the file, the header being row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from sigxfer.data.folders import load_files
from sigxfer.data.formats import guess_delimiter, is_signal_file, suffix_text
from sigxfer.data.signals import SignalSet
from sigxfer.errors import DataError, ParameterError

__all__ = ["load_targets", "read_targets_table"]


def load_targets(csv_path: str | os.PathLike, *, sr: float | None = None, length: int | None = None,
                 target: str | None = None) -> SignalSet:
    """Load the signal files a CSV table lists, with their numeric targets.

    Parameters
    ----------
    csv_path : str or path-like
        The table: one row per file, ``file,target[,more columns]``, paths relative to its folder.
    sr : float, optional
        Sample rate in Hz of ``.csv``/``.npy`` signal files (else from a ``sigxfer.json`` beside
        them; ``.wav`` files carry their own).
    length : int, optional
        Crop or zero-pad every signal to this many samples (default: the longest), as
        :func:`~sigxfer.data.load_files`.
    target : str, optional
        Column to learn; the second column by default. Other columns are ignored.

    Returns
    -------
    SignalSet
        ``X`` (n_rows, n_channels, n_timepoints) in the table's row order, ``y`` float64 targets,
        ``names`` the file paths (the table's folder joined with each listed path).

    Raises
    ------
    DataError
        Naming the table and its row: a listed file that is missing or not a signal file, a target
        that is empty or not a finite number, a file listed twice, a short row, or no rows at all.
    ParameterError
        ``target`` is not a column of the table.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "a.npy"), np.zeros(8))
    >>> with open(os.path.join(folder, "targets.csv"), "w") as f:
    ...     _ = f.write("file,rms\\na.npy,0.25\\n")
    >>> s = load_targets(os.path.join(folder, "targets.csv"), sr=100.0)
    >>> s.X.shape, s.y.tolist()
    ((1, 1, 8), [0.25])
    """
    table = Path(csv_path)
    files, columns, rows = read_targets_table(table)
    column = columns[1] if target is None else target
    if column not in columns[1:]:
        raise ParameterError(
            f"{table}: has no target column {column!r}; its columns are {', '.join(columns[1:])}"
        )
    k = columns.index(column)
    y = np.empty(len(rows), dtype=np.float64)
    for i, (lineno, cells) in enumerate(rows):
        y[i] = _number(table, lineno, column, cells[k])
    signals = load_files(files, sr=sr, length=length)
    return SignalSet(signals.X, sr=signals.sr, y=y, names=signals.names, image_shape=signals.image_shape)


def read_targets_table(csv_path: str | os.PathLike) -> tuple[list[Path], list[str], list[tuple[int, list[str]]]]:
    """Parse and check a targets table without reading any signal.

    Returns
    -------
    files : list of Path
        The listed files, joined to the table's folder, each checked to exist.
    columns : list of str
        Column names, the file column first.
    rows : list of (line number, cells)
        The data rows as read, with their 1-based line numbers in the table.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "a.npy"), np.zeros(8))
    >>> with open(os.path.join(folder, "t.csv"), "w") as f:
    ...     _ = f.write("a.npy;1.5\\n")
    >>> files, columns, rows = read_targets_table(os.path.join(folder, "t.csv"))
    >>> [p.name for p in files], columns, rows
    (['a.npy'], ['file', 'target'], [(1, ['a.npy', '1.5'])])
    """
    table = Path(csv_path)
    if not table.is_file():
        raise DataError(f"{table}: no such targets table; give the CSV that lists file,target rows")
    try:
        text = table.read_text(encoding="utf-8-sig")  # -sig: drop a spreadsheet's byte-order mark
    except UnicodeDecodeError:
        raise DataError(f"{table}: not UTF-8 text; save the table as plain CSV") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise DataError(f"{table}: is empty; write one row per signal file: file,target")
    delimiter = guess_delimiter(lines[0][1])
    parsed = [(n, [c.strip() for c in cells]) for n, cells in
              zip((n for n, _ in lines), csv.reader([line for _, line in lines], delimiter=delimiter))]
    first_n, first = parsed[0]
    if len(first) < 2:
        raise DataError(f"{table}: row {first_n} has {len(first)} column; write file,target (comma-separated)")
    if _is_float(first[1]):  # no header: the first row is data
        columns = ["file", "target"] + [f"target_{i}" for i in range(2, len(first))]
        body = parsed
    else:
        columns = [c or f"column_{i + 1}" for i, c in enumerate(first)]
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise DataError(f"{table}: row {first_n} names column(s) {duplicated} twice; give each column its own name")
        body = parsed[1:]
    if not body:
        raise DataError(f"{table}: has a header but no rows; add one row per signal file")
    files: list[Path] = []
    seen: dict[Path, int] = {}
    for lineno, cells in body:
        if len(cells) != len(columns):
            raise DataError(
                f"{table}: row {lineno} has {len(cells)} cells but the table has {len(columns)} columns "
                f"({', '.join(columns)}); fix that row"
            )
        listed = cells[0]
        if not listed:
            raise DataError(f"{table}: row {lineno} has no file name; fill it in or remove the row")
        path = table.parent / listed
        if not path.is_file():
            raise DataError(
                f"{table}: row {lineno} lists {listed}, but {path} does not exist (paths are relative to "
                f"the table's folder {table.parent}); fix the path or remove the row"
            )
        if not is_signal_file(path):
            raise DataError(
                f"{table}: row {lineno} lists {listed}, not a {suffix_text('or')} file; convert or remove it"
            )
        key = path.resolve()
        if key in seen:
            raise DataError(
                f"{table}: row {lineno} lists {listed} again (first on row {seen[key]}); keep one row per file"
            )
        seen[key] = lineno
        files.append(path)
    return files, columns, body


def _number(table: Path, lineno: int, column: str, cell: str) -> float:
    if cell == "":
        raise DataError(f"{table}: row {lineno} column {column!r} is empty; give a number or remove the row")
    try:
        value = float(cell)
    except ValueError:
        raise DataError(
            f"{table}: row {lineno} column {column!r} is {cell!r}, not a number; fix it or remove the row"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{table}: row {lineno} column {column!r} is {cell!r}; give a finite number or remove the row")
    return value


def _is_float(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True

