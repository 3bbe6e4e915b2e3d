"""Writing evaluation results: JSON and CSV, atomically, never silently replacing a file."""

from __future__ import annotations

import csv
import io
import json
import math

from sigxfer._atomic import atomic_write_text


def _plain(value):
    """JSON-safe values: NaN and infinities become null (JSON has no NaN), numpy becomes Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str):  # numpy arrays and scalars
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_json_text(obj) -> str:
    """Indented, strictly valid JSON (no NaN) of ``obj``.

    Examples
    --------
    >>> print(to_json_text({"score": float("nan")}), end="")
    {
      "score": null
    }
    """
    return json.dumps(_plain(obj), indent=2, default=str, allow_nan=False) + "\n"


def write_json(obj, path, *, overwrite: bool = False):
    """Write ``obj`` as indented JSON, atomically; refuses to replace a file unless ``overwrite``.

    Examples
    --------
    >>> write_json({"accuracy": 0.9}, "metrics.json")  # doctest: +SKIP
    PosixPath('metrics.json')
    """
    return atomic_write_text(path, to_json_text(obj), overwrite=overwrite)


def to_csv_text(rows: list[dict], columns: list[str]) -> str:
    """CSV text: a header of ``columns``, one line per row; missing values and NaN are empty.

    Examples
    --------
    >>> to_csv_text([{"name": "a", "score": 0.5}, {"name": "b"}], ["name", "score"]).splitlines()
    ['name,score', 'a,0.5', 'b,']
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                cells.append("")
            elif isinstance(value, float):
                cells.append(f"{value:.6g}")
            else:
                cells.append(str(value))
        writer.writerow(cells)
    return buffer.getvalue()


def write_csv(rows: list[dict], columns: list[str], path, *, overwrite: bool = False):
    """Write rows as CSV (see :func:`to_csv_text`), atomically; refuses to replace a file unless ``overwrite``.

    Examples
    --------
    >>> write_csv([{"name": "a", "score": 0.5}], ["name", "score"], "scores.csv")  # doctest: +SKIP
    PosixPath('scores.csv')
    """
    return atomic_write_text(path, to_csv_text(rows, columns), overwrite=overwrite)
