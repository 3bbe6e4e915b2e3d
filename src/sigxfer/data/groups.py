"""Which cases belong together: a group id per case, from a table or from the case names.

Windows cut from one recording, or recordings of one machine, must stay on one side of every split;
these functions give the ``groups=`` that the splitters and :func:`sigxfer.evaluation.compare` take.
A case is matched by its name relative to ``root`` (the data folder), so tables and patterns can
be written as the user sees the folder.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from sigxfer.errors import DataError, ParameterError

__all__ = ["groups_from_pattern", "load_groups"]


def _relative(names, root) -> list[str]:
    if root is None:
        return [str(n) for n in names]
    root = Path(root)
    return [str(Path(n).relative_to(root)) if Path(n).is_relative_to(root) else str(n) for n in names]


def load_groups(csv_path: str | os.PathLike, names, *, root: str | os.PathLike | None = None) -> list[str]:
    """The group of each case, read from a CSV table of ``case,group`` rows.

    Parameters
    ----------
    csv_path : str or path-like
        The table: one row per case, its name (relative to ``root``, the full name, the file
        name or the file name without suffix) and its group. Lines starting with ``#`` are
        comments.
    names : sequence of str
        The cases' names, e.g. ``SignalSet.names``.
    root : str or path-like, optional
        Folder the names are relative to in the table (the data folder).

    Returns
    -------
    list of str
        One group id per case, in the order of ``names``.

    Raises
    ------
    DataError
        The table is missing or has a short row, or a case has no row.

    Examples
    --------
    >>> import tempfile
    >>> table = Path(tempfile.mkdtemp()) / "groups.csv"
    >>> _ = table.write_text("# case,group\\nlow/a.npy,pump1\\nb,pump2\\n")
    >>> load_groups(table, ["data/low/a.npy", "data/high/b.npy"], root="data")
    ['pump1', 'pump2']
    """
    table = Path(csv_path)
    try:
        text = table.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{table}: no such groups table; give a CSV of case,group rows") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{table}: cannot be read as text ({type(err).__name__}); save it as plain CSV") from None
    lookup = {}
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 2:
            raise DataError(f"{table}: line {lineno} needs two columns, case name and group")
        lookup[row[0].strip()] = row[1].strip()
    out = []
    for name, full in zip(_relative(names, root), names):
        for key in (name, str(full), Path(name).name, Path(name).stem):
            if key in lookup:
                out.append(lookup[key])
                break
        else:
            raise DataError(f"{name}: no group in {table}; add a line '{name},GROUP'")
    return out


def groups_from_pattern(names, group_pattern: str, *, root: str | os.PathLike | None = None) -> list[str]:
    """The group of each case: the first capture group of a regular expression in its name.

    Parameters
    ----------
    names : sequence of str
        The cases' names, e.g. ``SignalSet.names``.
    group_pattern : str
        A regular expression searched in each name (relative to ``root``); its first capture
        group, or the whole match when it has none, is the group.
    root : str or path-like, optional
        Folder the names are taken relative to before matching.

    Returns
    -------
    list of str

    Raises
    ------
    ParameterError
        ``group_pattern`` is not a regular expression.
    DataError
        Naming the first case the pattern does not match.

    Examples
    --------
    >>> groups_from_pattern(["low/pump1_win0.npy", "low/pump1_win1.npy", "high/pump2_win0.npy"],
    ...                     r"(pump\\d+)_win")
    ['pump1', 'pump1', 'pump2']
    """
    try:
        pattern = re.compile(group_pattern)
    except (re.error, TypeError) as err:
        raise ParameterError(f"group_pattern={group_pattern!r} is not a regular expression ({err})") from None
    out = []
    for name in _relative(names, root):
        match = pattern.search(name)
        group = None if match is None else match.group(1) if pattern.groups else match.group(0)
        if group is None:  # no match, or an optional first group that took no part
            raise DataError(f"{name}: group_pattern={group_pattern!r} does not match this case's name")
        out.append(group)
    return out
