"""Batch prediction of long recordings: files and folders cut into windows, predicted in batches.

A recording longer than the model's input is read as consecutive windows of ``window`` seconds,
``hop`` seconds apart; windows of all files are gathered into batches of the model's batch size (32 on CPU when it has none).
The batches share one frozen engine, calibrated at the first batch for the whole job
(:class:`~sigxfer.learning.embeddings.SharedEngine`), and one progress bar counts the files.
Each window becomes one row ``{file, start_s, end_s, prediction, padded}`` (with ``probabilities``
per class on request). The padding rule is training's (zeros at the end, as
:func:`sigxfer.load_signals`): a recording shorter than one window, a tail the windows leave
uncovered, and windows shorter than the model's input are padded, and such rows say
``padded=True``. A file that cannot be used becomes a row ``{file, error}`` and the others go on.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Iterator
from numbers import Real
from pathlib import Path

import numpy as np

from sigxfer._atomic import atomic_write
from sigxfer.errors import NotFittedError, ParameterError, SigxferError

FORMATS = ("csv", "jsonl", "json")


def predict_files(model, paths, *, window: float | None = None, hop: float | None = None, proba: bool = False,
                  sr: float | None = None, batch_size: int | None = None,
                  progress: bool | None = None) -> Iterator[dict]:
    """Predict every window of every recording in ``paths``.

    Parameters
    ----------
    model : TransferClassifier, TransferRegressor, str or Path
        A fitted estimator, or the path of a model file (read with :func:`sigxfer.load`).
    paths : str, path-like or iterable of them
        Signal files (``.wav``, ``.csv``, ``.npy``) and folders (every signal file under them, sorted).
    window : float, optional
        Window length in seconds; default the model's input, ``n_timepoints_ / sr_``. A shorter
        window is padded to the model's input; a longer one is refused.
    hop : float, optional
        Seconds from one window's start to the next; default ``window`` (no overlap).
    proba : bool
        Add ``probabilities``, a mapping class -> probability (classifiers only).
    sr : float, optional
        Sample rate of ``.csv``/``.npy`` files in Hz; default the model's. A ``.wav`` file's own rate,
        or a ``sigxfer.json`` beside a file, must equal the model's rate: sigxfer does not resample.
    batch_size : int, optional
        Windows per forward pass; default ``model.batch_size``.
    progress : bool, optional
        A progress bar over the files; None: as the model's own ``progress`` says (the model is
        not changed).

    Yields
    ------
    dict
        In file order, then time order: ``file`` (str), ``start_s``, ``end_s`` (float, seconds from
        the recording's start; ``end_s`` stops at the recording's end), ``prediction`` (a class
        label, a number, or a list of numbers for several targets), ``padded`` (bool), and with
        ``proba`` ``probabilities``. A file that failed gives one row ``{file, error}`` instead,
        ``error`` a one-line message naming the file and the fix.

    Raises
    ------
    ParameterError
        Bad ``window``, ``hop``, ``sr`` or ``batch_size``, or ``proba`` with a regressor; raised
        when called, before any file is read.

    Examples
    --------
    >>> rows = list(predict_files("model.sigx", ["recordings/"], hop=0.5, proba=True))  # doctest: +SKIP
    >>> rows[0]["file"], rows[0]["start_s"], rows[0]["prediction"]                       # doctest: +SKIP
    ('recordings/a.wav', 0.0, 'gesture')
    """
    from sigxfer.imaging.picture import picture_shape

    model = _fitted(model)
    if picture_shape(model.imager_) is not None:  # pictures: one row per picture, no windows in time
        if window is not None or hop is not None:
            raise ParameterError("window= and hop= (--window, --hop) cut recordings in time; this model reads pictures")
        rate = 1.0
    else:
        rate = _rate(model, sr)
    length = int(model.n_timepoints_)
    width = length if window is None else _samples("window", window, rate)
    if width > length:
        raise ParameterError(
            f"window={window:g} s is {width} samples, longer than the model's input of {length} samples "
            f"({length / rate:g} s); use a window of at most {length / rate:g} s"
        )
    step = width if hop is None else _samples("hop", hop, rate)
    if proba and not hasattr(model, "classes_"):
        raise ParameterError(f"proba=True (--proba) needs a classifier; this is a {type(model).__name__}")
    batch = batch_size if batch_size is not None else getattr(model, "batch_size", None) or 32
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ParameterError(f"batch_size={batch!r} must be a positive integer")
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    show = getattr(model, "progress", None) if progress is None else bool(progress)
    return _rows(model, list(paths), rate=rate, width=width, step=step, proba=proba, batch=batch, show=show)


def window_starts(n_samples: int, width: int, step: int) -> list[int]:
    """First sample of each window over ``n_samples``: whole windows, plus one covering an uncovered tail.

    Examples
    --------
    >>> window_starts(10, 4, 4)
    [0, 4, 8]
    >>> window_starts(3, 4, 2)
    [0]
    """
    if n_samples <= width:
        return [0]
    starts = list(range(0, n_samples - width + 1, step))
    if starts[-1] + width < n_samples and starts[-1] + step < n_samples:
        starts.append(starts[-1] + step)  # the tail, padded
    return starts


def _rows(model, paths, *, rate, width, step, proba, batch, show) -> Iterator[dict]:
    """The job: one progress bar over the files, and one frozen engine for all of its batches,
    chosen at the first batch as for the windows the files are expected to hold (those read so
    far, per file, times the files)."""
    from tqdm.auto import tqdm

    from sigxfer.learning.embeddings import SharedEngine

    length = int(model.n_timepoints_)
    pending: list[dict] = []
    windows = np.zeros((batch, model.n_channels_, length), dtype=np.float32)
    files = list(_expand(paths))
    seen = {"files": 0, "windows": 0}
    shared = SharedEngine(model.net_, n_cases=lambda: math.ceil(seen["windows"] / max(seen["files"], 1) * len(files)))
    with tqdm(total=len(files), desc="predicting", unit="file", disable=None if show is None else not show,
              leave=False) as bar:
        for file in files:
            try:
                signal = _read(file, model, rate)
            except SigxferError as err:
                yield from _flush(model, pending, windows, proba, shared)
                yield {"file": str(file), "error": str(err)}
                bar.update(1)
                continue
            n = signal.shape[1]
            starts = window_starts(n, width, step)
            seen["files"] += 1
            seen["windows"] += len(starts)
            for start in starts:
                stop = min(start + width, n)
                slot = windows[len(pending)]
                slot[:, : stop - start] = signal[:, start:stop]
                slot[:, stop - start:] = 0.0
                # Rounded so that 0.1 s steps read 0.3, not 0.30000000000000004.
                pending.append({"file": str(file), "start_s": round(start / rate, 9),
                                "end_s": round(stop / rate, 9), "padded": stop - start < length})
                if len(pending) == batch:
                    yield from _flush(model, pending, windows, proba, shared)
            bar.update(1)
        yield from _flush(model, pending, windows, proba, shared)


def _flush(model, pending: list[dict], windows: np.ndarray, proba: bool, shared) -> Iterator[dict]:
    """Predict the ``len(pending)`` windows gathered so far in one batch, then empty ``pending``."""
    if not pending:
        return
    x = windows[: len(pending)]
    if hasattr(model, "classes_"):
        with shared.active():  # entered and left here, never across a yield
            p = model.predict_proba(x)
        labels = [_plain(c) for c in model.classes_]
        for row, values in zip(pending, p):
            row["prediction"] = labels[int(np.argmax(values))]
            if proba:
                row["probabilities"] = {str(c): float(v) for c, v in zip(labels, values)}
    else:
        with shared.active():
            values = np.asarray(model.predict(x), dtype=np.float64)
        for row, value in zip(pending, values):
            row["prediction"] = value.tolist() if value.ndim else float(value)
    out = list(pending)
    pending.clear()
    yield from out


def _read(file: Path, model, rate: float) -> np.ndarray:
    from sigxfer.data import load_files
    from sigxfer.errors import DataError

    from sigxfer.imaging.picture import picture_shape

    shape = picture_shape(model.imager_)
    if shape is not None:  # a picture, read at the model's picture shape
        return load_files([file], image_shape=shape, progress=False).X[0]
    signals = load_files([file], progress=False)  # sr=None: a file's own rate comes back to be checked
    if signals.sr is not None and signals.sr != rate:
        raise DataError(
            f"{file}: sample rate {signals.sr:g} Hz, but the model was trained at {rate:g} Hz; "
            f"resample the file to {rate:g} Hz (sigxfer does not resample)"
        )
    signal = signals.X[0]
    if signal.shape[0] != model.n_channels_:
        raise DataError(
            f"{file}: has {signal.shape[0]} channel(s), but the model reads {model.n_channels_}; "
            "give it recordings with the training channel layout"
        )
    return signal


def _expand(paths: Iterable) -> Iterator[Path]:
    """Files as given; folders replaced by the signal files under them, sorted (hidden ones skipped)."""
    from sigxfer.data.formats import signal_suffixes

    suffixes = signal_suffixes()

    for given in paths:
        p = Path(given)
        if not p.is_dir():
            yield p  # a missing or unreadable file becomes an error row when read
            continue
        found = sorted((f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes
                        and not any(part.startswith(".") for part in f.relative_to(p).parts)),
                       key=lambda f: f.relative_to(p).parts)
        if not found:
            yield p  # reading a folder fails with a message naming it
        yield from found


def _fitted(model):
    if isinstance(model, (str, os.PathLike)):
        from sigxfer.deploy.bundle import load

        return load(model)
    if not hasattr(model, "net_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted; fit it or load a model file first")
    return model


def _rate(model, sr) -> float:
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, Real) or not math.isfinite(sr) or sr <= 0):
        raise ParameterError(f"sr={sr!r} must be a positive sample rate in Hz")
    if sr is not None and model.sr_ is not None and float(sr) != float(model.sr_):
        raise ParameterError(
            f"sr={sr:g} Hz differs from the {model.sr_:g} Hz the model was trained at; "
            f"resample the recordings to {model.sr_:g} Hz (sigxfer does not resample)"
        )
    rate = model.sr_ if model.sr_ is not None else sr
    if rate is None:
        raise ParameterError("the model records no sample rate; pass sr= (--sr) to read windows in seconds")
    return float(rate)


def _samples(name: str, seconds, rate: float) -> int:
    if isinstance(seconds, bool) or not isinstance(seconds, Real) or not math.isfinite(seconds) or seconds <= 0:
        raise ParameterError(f"{name}={seconds!r} must be a positive number of seconds")
    n = int(round(seconds * rate))
    if n < 1:
        raise ParameterError(f"{name}={seconds:g} s is less than one sample at {rate:g} Hz; give at least {1 / rate:g} s")
    return n


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------ writers
def write_predictions(rows: Iterable[dict], out=None, *, format: str = "csv", overwrite: bool = False,
                      on_error=None) -> list[dict]:
    """Write prediction rows as CSV, JSON lines or one JSON array; return the error rows.

    Parameters
    ----------
    rows : iterable of dict
        From :func:`predict_files`; written as they come (so a long run shows its first rows at once).
    out : str, Path or text stream, optional
        A file (written beside itself and renamed into place when complete), or a stream; default
        ``sys.stdout``.
    format : {"csv", "jsonl", "json"}
        CSV: ``file,start_s,end_s,prediction[,p_<class>...],padded`` (a column
        ``prediction_<i>`` per target for several targets); ``jsonl``: one JSON object per line;
        ``json``: one array.
    overwrite : bool
        Replace an existing ``out`` file.
    on_error : callable, optional
        Called with each error row as it comes (the CLI prints its message); error rows are not
        written to ``out``.

    Returns
    -------
    list of dict
        The error rows, ``{file, error}``.

    Examples
    --------
    >>> errors = write_predictions(predict_files(model, ["a.wav"]), "rows.csv")  # doctest: +SKIP
    """
    import sys

    if format not in FORMATS:
        raise ParameterError(f"format={format!r} must be one of {', '.join(FORMATS)}")
    errors: list[dict] = []
    if out is None or hasattr(out, "write"):
        _write(rows, out or sys.stdout, format, errors, on_error)
        return errors
    path = Path(out)
    if path.is_dir():
        raise ParameterError(f"{path} is a folder; give a file name such as {path / ('predictions.' + format)}")

    def fill(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            _write(rows, fh, format, errors, on_error)

    atomic_write(path, fill, overwrite=overwrite)
    return errors


def _write(rows, fh: io.TextIOBase, fmt: str, errors: list, on_error) -> None:
    writer = None
    first = True
    if fmt == "json":
        fh.write("[")
    for row in rows:
        if "error" in row:
            errors.append(row)
            if on_error is not None:
                on_error(row)
            continue
        if fmt == "csv":
            if writer is None:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(_csv_header(row))
            writer.writerow(_csv_cells(row))
        else:
            text = json.dumps(row, ensure_ascii=False)
            fh.write(text + "\n" if fmt == "jsonl" else ("\n  " if first else ",\n  ") + text)
        first = False
        if hasattr(fh, "flush"):
            fh.flush()
    if fmt == "json":
        fh.write("\n]\n" if not first else "]\n")


def _csv_header(row: dict) -> list[str]:
    pred = row["prediction"]
    columns = [f"prediction_{i}" for i in range(len(pred))] if isinstance(pred, list) else ["prediction"]
    probs = [f"p_{c}" for c in row.get("probabilities", {})]
    return ["file", "start_s", "end_s", *columns, *probs, "padded"]


def _csv_cells(row: dict) -> list:
    pred = row["prediction"]
    if isinstance(pred, list):
        values = [f"{v:.6g}" for v in pred]
    else:
        values = [f"{pred:.6g}" if isinstance(pred, float) else pred]
    probs = [f"{p:.6f}" for p in row.get("probabilities", {}).values()]
    return [row["file"], f"{row['start_s']:.6g}", f"{row['end_s']:.6g}", *values, *probs, int(row["padded"])]
