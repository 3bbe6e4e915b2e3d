"""File names made from user text (labels, case names): one rule for every file sigxfer writes."""

from __future__ import annotations

import re

__all__ = ["safe_name"]

# Letters (any script), digits, "_", "." and "-" survive; everything else (separators, spaces,
# quotes, ":", "?", "*", ...) is replaced, so a name can never climb out of its folder.
_UNSAFE = re.compile(r"[^\w.\-]+")
# Windows refuses these as file names whatever the suffix ("con.npy" included).
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}
_MAX_LENGTH = 100


def safe_name(text: str, default: str = "_") -> str:
    """A file or folder name that every common file system accepts and that is not hidden.

    Runs of characters other than letters, digits, ``_``, ``.`` and ``-`` become one ``_``;
    leading and trailing ``.`` and ``_`` are dropped (a leading dot hides a file, a trailing one
    is dropped by Windows); the result is cut to 100 characters; a name Windows reserves
    (``con``, ``nul``, ``com1``, ...) gets a ``_`` after its stem.

    Parameters
    ----------
    text : str
        The label or case name to turn into one path component (not a path: ``/`` is replaced).
    default : str, default="_"
        Returned when nothing is left (``""``, ``"..."``, ``"???"``).

    Returns
    -------
    str

    Examples
    --------
    >>> safe_name("../x/.hidden"), safe_name("pump 03: left"), safe_name("???", default="case-0")
    ('x_.hidden', 'pump_03_left', 'case-0')
    """
    name = _UNSAFE.sub("_", str(text)).strip("._")[:_MAX_LENGTH].rstrip(".")
    if not name:
        return default
    stem, dot, rest = name.partition(".")
    if stem.lower() in _RESERVED:
        name = f"{stem}_{dot}{rest}"
    return name
