"""Read and write folders of signal files: ``.wav``, ``.csv`` and ``.npy``.

A labelled data set is a folder holding one folder per class::

    data/
      sigxfer.json        optional: {"sr": 1024.0} gives the sample rate of .csv and .npy files
      low/  a.wav  b.csv  c.npy  (sub-folders are read too; the label is the class folder's name)
      high/ ...

File formats (one file is one case):

- ``.wav``: any format soundfile reads; every channel of the file is a channel of the case, and the
  file carries its own sample rate.
- ``.csv``: one column per channel, one row per sample, separated by ``,`` (or ``;`` or a tab). The
  first row is taken as a header when none of its cells is a number. Every column is a channel, so
  drop a time or index column before saving.
- ``.npy``: a 1-D array is one channel; a 2-D array is ``(n_channels, n_timepoints)``.

Unequal lengths follow one rule, applied after reading: with ``length=None`` every signal is
brought to the length of the longest by padding at the end (zeros, or with ``pad="edge"`` the last
sample repeated); with ``length=n`` longer signals are cropped to their first ``n`` samples and
shorter ones padded. Every file must have the same number of channels.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import warnings
from numbers import Integral, Real
from pathlib import Path
from typing import NoReturn

import numpy as np
import soundfile as sf
from tqdm import tqdm

from sigxfer._atomic import check_output, install_folder, new_staging_folder
from sigxfer.data.signals import SignalSet, _is_classification
from sigxfer.errors import DataError, OutputExistsError, ParameterError

__all__ = [
    "load_signals",
    "load_files",
    "write_signals",
    "read_signal",
    "OutputFolderExistsError",
    "SIGNAL_SUFFIXES",
    "META_NAME",
]

#: File name suffixes read as signals (matched without regard to case).
SIGNAL_SUFFIXES = (".wav", ".csv", ".npy")
#: Name of the optional description file at the top of a data folder.
META_NAME = "sigxfer.json"
#: Above this many files a progress bar is shown (when writing to a terminal).
PROGRESS_THRESHOLD = 200
#: The writer named in the manifest of a folder write_signals wrote.
OWNER = "write_signals"
_PAD_MODES = ("zero", "edge")
_FORMATS = ("npy", "csv", "wav")


class OutputFolderExistsError(OutputExistsError, DataError):
    """``out_dir`` holds earlier files that write_signals will not replace.

    Both the project's :class:`~sigxfer.errors.OutputExistsError` and the :class:`DataError` the
    data API documents, so either ``except`` catches it.
    """


# -- reading ---------------------------------------------------------------------------------------
def read_signal(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """Read one signal file.

    Parameters
    ----------
    path : str or path-like
        A ``.wav``, ``.csv`` or ``.npy`` file.

    Returns
    -------
    signal : ndarray of shape (n_channels, n_timepoints), float32
        The samples, all finite.
    sr : float or None
        The file's own sample rate in Hz (``.wav``), else None.

    Raises
    ------
    DataError
        Naming the file (and row, channel or sample) when it cannot be read, holds no samples, or
        holds a NaN, an infinity or a non-number.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SIGNAL_SUFFIXES:
        raise DataError(f"{path}: sigxfer reads .wav, .csv and .npy files; convert it or leave it out")
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file; check the path")
    if suffix == ".wav":
        signal, sr = _read_wav(path)
    elif suffix == ".csv":
        signal, sr = _read_csv(path), None
    else:
        signal, sr = _read_npy(path), None
    n_channels, n_timepoints = signal.shape
    if n_timepoints == 0 or n_channels == 0:
        raise DataError(f"{path}: holds no samples; remove the file or re-export it")
    if n_timepoints == 1 and n_channels > 1:
        raise DataError(
            f"{path}: reads as {n_channels} channels of one sample each; store one channel per "
            "column (.csv) or as (n_channels, n_timepoints) (.npy) — transpose it"
        )
    return signal, sr


def _read_wav(path: Path) -> tuple[np.ndarray, float]:
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as err:
        raise DataError(
            f"{path}: not a readable audio file ({_one_line(err)}); re-export it or remove it"
        ) from err
    signal = np.ascontiguousarray(data.T)  # soundfile gives (frames, channels)
    _check_finite_file(path, signal)
    return signal, float(rate)


def _read_npy(path: Path) -> np.ndarray:
    try:
        # read_array (not np.load) so that a zipped .npz or a pickle renamed to .npy is refused.
        with open(path, "rb") as handle:
            arr = np.lib.format.read_array(handle, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npy file ({_one_line(err)}); save it with numpy.save") from err
    if arr.dtype.kind == "c":
        raise DataError(
            f"{path}: holds complex values; save np.abs(x), or real and imaginary parts as two channels"
        )
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: holds {arr.dtype} values, not numbers; save a numeric array")
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    elif arr.ndim != 2:
        raise DataError(
            f"{path}: has {arr.ndim} dimensions (shape {arr.shape}); save one case per file, "
            "as 1-D (n_timepoints,) or 2-D (n_channels, n_timepoints)"
        )
    signal = np.ascontiguousarray(arr, dtype=np.float32)
    _check_finite_file(path, signal)
    return signal


def _read_csv(path: Path) -> np.ndarray:
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs put in front.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: is not a UTF-8 text file; save it as plain comma-separated text") from err
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({_one_line(err)}); check its permissions") from err
    lines = text.splitlines()
    delimiter = _guess_delimiter(lines)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DataError(f"{path}: holds no samples; remove the file or re-export it")
    # A header: none of its cells is a number.
    skip = first + 1 if all(_to_float(cell) is None for cell in _split(lines[first], delimiter)) else first
    body = [line for line in lines[skip:] if line.strip()]
    if not body:
        raise DataError(f"{path}: holds no samples; remove the file or re-export it")
    try:
        # numpy's C parser for the common, clean file; the Python loop below only runs to find the
        # row and column of a problem.
        values = np.loadtxt(body, delimiter=delimiter, comments=None, quotechar='"', ndmin=2, dtype=np.float64)
    except ValueError:
        values = None
    if values is not None and np.isfinite(values).all():
        return np.ascontiguousarray(values.T, dtype=np.float32)
    _raise_csv_problem(path, lines, skip, delimiter)


def _raise_csv_problem(path: Path, lines: list[str], skip: int, delimiter: str) -> NoReturn:
    """Raise a DataError naming the first bad row and column of a .csv file."""
    width = first_row = None
    for lineno, line in enumerate(lines[skip:], start=skip + 1):
        if not line.strip():
            continue  # blank lines (a trailing newline, say) hold no cells
        cells = _split(line, delimiter)
        if width is None:
            width, first_row = len(cells), lineno
        if len(cells) != width:
            raise DataError(
                f"{path}: row {lineno} has {len(cells)} columns but row {first_row} has {width}; "
                "give every row one value per channel"
            )
        for column, cell in enumerate(cells, start=1):
            value = _to_float(cell)
            if value is None or not math.isfinite(value):
                what = "empty" if cell == "" else f"{cell!r}, not a finite number"
                raise DataError(f"{path}: row {lineno} column {column} is {what}; fix or remove that row")
    raise DataError(f"{path}: could not be read as numbers; save it as plain comma-separated numbers")


def _split(line: str, delimiter: str) -> list[str]:
    cells = next(csv.reader([line], delimiter=delimiter)) if '"' in line else line.split(delimiter)
    return [cell.strip() for cell in cells]


def _guess_delimiter(lines: list[str]) -> str:
    """Comma unless the first non-blank line has none but has semicolons or tabs."""
    for line in lines:
        if line.strip():
            if "," in line:
                return ","
            if ";" in line:
                return ";"
            if "\t" in line:
                return "\t"
            return ","
    return ","


def _to_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _check_finite_file(path: Path, signal: np.ndarray) -> None:
    bad = ~np.isfinite(signal)
    if bad.any():
        channel, sample = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: channel {channel} sample {sample} is {signal[channel, sample]}; "
            "fix the recording (or fill the gap) or remove the file"
        )


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _read_meta(folder: Path) -> tuple[dict, Path | None]:
    """The parsed ``sigxfer.json`` of ``folder`` (empty dict if none) and its path."""
    meta_path = folder / META_NAME
    if not meta_path.is_file():
        return {}, None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise DataError(f"{meta_path}: not valid JSON ({_one_line(err)}); fix it or delete it") from err
    if not isinstance(meta, dict):
        raise DataError(f'{meta_path}: must hold a JSON object such as {{"sr": 1024.0}}; fix it or delete it')
    sr = meta.get("sr")
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, Real) or not math.isfinite(sr) or sr <= 0):
        raise DataError(f"{meta_path}: sr is {sr!r}; give the sample rate in Hz as a positive number")
    return meta, meta_path


# -- loading ---------------------------------------------------------------------------------------
def load_signals(
    path: str | os.PathLike,
    *,
    sr: float | None = None,
    length: int | None = None,
    pad: str = "zero",
    progress: bool | None = None,
) -> SignalSet:
    """Load a labelled folder: one folder per class, holding ``.wav``, ``.csv`` or ``.npy`` files.

    Parameters
    ----------
    path : str or path-like
        The data folder. Each non-hidden folder in it is a class named after the folder; files in
        its sub-folders belong to it too. Hidden files and folders, and files with other suffixes,
        are skipped; class folders with no signal files are skipped with a warning.
    sr : float or None, default=None
        Sample rate in Hz of the ``.csv`` and ``.npy`` files; overrides ``sr`` in the folder's
        ``sigxfer.json``. ``.wav`` files carry their own rate, which must agree.
    length : int or None, default=None
        Samples per signal. None: the length of the longest signal. Longer signals are cropped to
        their first ``length`` samples; shorter ones are padded at the end.
    pad : {"zero", "edge"}, default="zero"
        Padding: zeros, or the last sample of each channel repeated.
    progress : bool or None, default=None
        Show a progress bar. None: only with more than 200 files and a terminal.

    Returns
    -------
    SignalSet
        ``X`` of shape (n_cases, n_channels, n_timepoints), float32; ``y`` the class folder names
        (str; or the original labels when ``sigxfer.json`` records them, see
        :func:`write_signals`); ``names`` the file paths; ``sr`` in Hz or None if nothing gives it.
        Cases are ordered by class name, then by file path.

    Raises
    ------
    DataError
        If the folder does not exist or holds no signal files, a file is unreadable or holds
        NaN/inf/text, the files have different channel counts, or their sample rates disagree.
    ParameterError
        If ``sr``, ``length`` or ``pad`` are invalid.
    """
    sr, length = _check_load_args(sr, length, pad)
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root} does not exist; give the folder that holds one folder per class")
    if not root.is_dir():
        raise DataError(
            f"{root} is a file; load_signals reads a folder of class folders (use load_files for single files)"
        )
    meta, meta_path = _read_meta(root)
    entries: list[tuple[object, Path]] = []
    ignored: list[Path] = []
    loose: list[Path] = []
    empty: list[str] = []
    for child in sorted(root.iterdir(), key=lambda p: p.name):
        if _skipped(child):
            continue
        if child.is_dir():
            files, others = _signal_files_under(child)
            ignored.extend(others)
            if not files:
                empty.append(child.name)
            entries.extend((child.name, f) for f in files)
        elif child.suffix.lower() in SIGNAL_SUFFIXES:
            loose.append(child)
    if not entries:
        if loose:
            raise DataError(
                f"{root} holds signal files but no class folders; put one folder per class "
                f"(e.g. {root / 'low' / loose[0].name}), or read unlabeled files with load_files"
            )
        raise DataError(
            f"no .wav, .csv or .npy files under {root}; put one folder per class "
            f"(e.g. {root / 'low' / 'a.wav'}, {root / 'high' / 'b.wav'})"
        )
    if empty:
        warnings.warn(
            f"{root}: class folder(s) {empty} hold no .wav, .csv or .npy files and are skipped",
            UserWarning,
            stacklevel=2,
        )
    if loose:
        warnings.warn(
            f"{root}: {len(loose)} signal file(s) outside class folders are skipped (e.g. {loose[0]}); "
            "move them into a class folder",
            UserWarning,
            stacklevel=2,
        )
    if ignored:
        warnings.warn(
            f"{root}: {len(ignored)} file(s) that are not .wav, .csv or .npy are skipped (e.g. {ignored[0]})",
            UserWarning,
            stacklevel=2,
        )
    labels = [label for label, _ in entries]
    recorded = meta.get("labels")
    if isinstance(recorded, dict) and set(labels) <= set(recorded):
        # Folders written by write_signals record the original labels (ints stay ints).
        labels = [recorded[label] for label in labels]
    meta_sr = meta.get("sr")
    declared = (sr, "sr=") if sr is not None else (None if meta_sr is None else float(meta_sr), str(meta_path))
    return _assemble([f for _, f in entries], np.asarray(labels), declared, length, pad, progress, where=str(root))


def load_files(
    paths,
    *,
    sr: float | None = None,
    length: int | None = None,
    pad: str = "zero",
    progress: bool | None = None,
) -> SignalSet:
    """Load unlabelled signal files, e.g. for prediction, with the rules of :func:`load_signals`.

    Parameters
    ----------
    paths : str, path-like, or iterable of them
        Signal files, or folders (a folder contributes every signal file under it, sorted).
    sr : float or None, default=None
        Sample rate in Hz of the ``.csv`` and ``.npy`` files. None: taken from a ``sigxfer.json``
        next to the file or one folder up (where :func:`write_signals` puts it), if any.
    length, pad, progress
        As in :func:`load_signals`.

    Returns
    -------
    SignalSet
        ``X`` of shape (n_files, n_channels, n_timepoints); ``y`` None; ``names`` the paths as
        given, in the order given.

    Raises
    ------
    DataError
        If no file is given, a path does not exist or is not a signal file, or as in
        :func:`load_signals`.
    """
    sr, length = _check_load_args(sr, length, pad)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found, _ = _signal_files_under(p)
            if not found:
                raise DataError(f"no .wav, .csv or .npy files under {p}; check the folder")
            files.extend(found)
        elif not p.exists():
            raise DataError(f"{p} does not exist; check the path")
        elif p.suffix.lower() not in SIGNAL_SUFFIXES:
            raise DataError(f"{p}: sigxfer reads .wav, .csv and .npy files; convert it or leave it out")
        else:
            files.append(p)
    if not files:
        raise DataError("no files given; pass one or more .wav, .csv or .npy files")
    declared = (sr, "sr=") if sr is not None else (None, None)
    return _assemble(files, None, declared, length, pad, progress, where="the files given", meta_sr=sr is None)


def _check_load_args(sr, length, pad) -> tuple[float | None, int | None]:
    if sr is not None:
        if isinstance(sr, bool) or not isinstance(sr, Real) or not math.isfinite(sr) or sr <= 0:
            raise ParameterError(f"sr={sr!r} must be a positive sample rate in Hz (or None)")
        sr = float(sr)
    if length is not None and (isinstance(length, bool) or not isinstance(length, Integral) or length < 1):
        raise ParameterError(f"length={length!r} must be a positive number of samples (or None for the longest)")
    if pad not in _PAD_MODES:
        raise ParameterError(f"pad={pad!r} must be one of {list(_PAD_MODES)}")
    return sr, None if length is None else int(length)


def _skipped(path: Path) -> bool:
    # __MACOSX holds resource forks that zip archives from macOS carry along.
    return path.name.startswith(".") or path.name == "__MACOSX"


def _signal_files_under(folder: Path) -> tuple[list[Path], list[Path]]:
    """Signal files under ``folder`` (recursively, sorted by relative path) and other files."""
    found, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not _skipped(Path(d)))
        for name in filenames:
            p = Path(dirpath, name)
            if _skipped(p) or name == META_NAME:
                continue
            (found if p.suffix.lower() in SIGNAL_SUFFIXES else others).append(p)
    found.sort(key=lambda p: p.relative_to(folder).parts)
    return found, sorted(others)


def _assemble(files, labels, declared, length, pad, progress, *, where, meta_sr=False) -> SignalSet:
    """Read ``files``, check they agree on channels and sample rate, and bring them to one length."""
    rate, rate_from = declared
    signals: list[np.ndarray] = []
    metas: dict[Path, tuple[float | None, str | None]] = {}
    show = progress if progress is not None else (None if len(files) > PROGRESS_THRESHOLD else False)
    for f in tqdm(files, desc="reading signals", unit="file", disable=None if show is None else not show):
        signal, file_rate = read_signal(f)
        if signals and signal.shape[0] != signals[0].shape[0]:
            raise DataError(
                f"{f}: has {signal.shape[0]} channel(s) but {files[0]} has {signals[0].shape[0]}; "
                "give every file the same channels"
            )
        if file_rate is None and meta_sr:
            # load_files: an unlabelled file may sit in a folder written by write_signals.
            file_rate, rate_source = _nearby_meta_sr(f.parent, metas)
        else:
            rate_source = str(f)
        if file_rate is not None:
            if rate is None:
                rate, rate_from = file_rate, rate_source
            elif file_rate != rate:
                raise DataError(
                    f"{f}: sample rate {file_rate:g} Hz differs from {rate:g} Hz (from {rate_from}); "
                    "resample to one rate"
                )
        signals.append(signal)
    if signals[0].shape[0] > signals[0].shape[1]:
        warnings.warn(
            f"{files[0]}: reads as {signals[0].shape[0]} channels of {signals[0].shape[1]} samples; "
            "if it holds one channel per row (.csv) or is (n_timepoints, n_channels) (.npy), transpose it",
            UserWarning,
            stacklevel=3,
        )
    X = _to_one_length(signals, length, pad, where)
    return SignalSet(X, sr=rate, y=labels, names=[str(f) for f in files])


def _nearby_meta_sr(folder: Path, cache: dict) -> tuple[float | None, str | None]:
    for candidate in (folder, folder.parent):
        if candidate not in cache:
            meta, meta_path = _read_meta(candidate)
            cache[candidate] = (meta.get("sr"), str(meta_path))
        if cache[candidate][0] is not None:
            return cache[candidate]
    return None, None


def _to_one_length(signals: list[np.ndarray], length: int | None, pad: str, where: str) -> np.ndarray:
    """Stack (n_channels, n_i) arrays into (n_cases, n_channels, length) by cropping or padding."""
    lengths = [s.shape[1] for s in signals]
    if length is None:
        length = max(lengths)
        if min(lengths) != length:
            warnings.warn(
                f"{where}: signals have {min(lengths)} to {length} samples; shorter ones are padded at the end "
                f"({'with zeros' if pad == 'zero' else 'by repeating the last sample'}) to {length}; "
                "pass length= to choose",
                UserWarning,
                stacklevel=4,
            )
    X = np.zeros((len(signals), signals[0].shape[0], length), dtype=np.float32)
    for i, s in enumerate(signals):
        n = min(s.shape[1], length)
        X[i, :, :n] = s[:, :n]
        if pad == "edge" and n < length:
            X[i, :, n:] = s[:, n - 1 : n]
    return X


# -- writing ---------------------------------------------------------------------------------------
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
        into ``out_dir`` (read them back with :func:`load_files`).
    out_dir : str or path-like
        Folder to create. Must not exist or be empty, unless ``overwrite``.
    format : {"npy", "csv", "wav"}, default="npy"
        ``npy``: float32 arrays (n_channels, n_timepoints); ``csv``: one column per channel with
        a header ``ch0,ch1,...``; ``wav``: 32-bit float WAV (needs a whole-number ``sr``).
    overwrite : bool, default=False
        Replace ``out_dir`` if it holds an earlier :func:`write_signals` output. The old folder
        is removed only once the new one is complete. A folder that write_signals did not write is
        never replaced, and only the files its manifest lists are (files added since are kept).

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
        If ``format`` is unknown, ``y`` holds continuous targets, or ``wav`` is asked for
        without a whole-number ``sr``.

    Notes
    -----
    Files are written into a hidden temporary folder next to ``out_dir`` and renamed into place,
    so an interrupted write never leaves a half-written ``out_dir``. ``sigxfer.json`` holds
    ``sr``, ``n_channels``, ``n_timepoints``, ``n_cases``, ``format`` and ``labels`` (class folder
    name -> original label).
    """
    if not isinstance(signals, SignalSet):
        raise ParameterError(
            f"write_signals needs a SignalSet, not {type(signals).__name__}; wrap arrays in SignalSet(X, sr=, y=)"
        )
    fmt = str(format).lower()
    if fmt not in _FORMATS:
        raise ParameterError(f"format={format!r} must be one of {list(_FORMATS)}")
    if fmt == "wav" and (signals.sr is None or signals.sr != round(signals.sr)):
        raise ParameterError(
            f"format='wav' needs a whole-number sample rate, and sr is {signals.sr!r}; use format='npy' or 'csv'"
        )
    if signals.y is not None and not _is_classification(signals.y):
        raise ParameterError(
            "write_signals stores labels as class folders, and y holds continuous targets; "
            "write a SignalSet with y=None and keep the targets in your own table"
        )
    signals.check_finite()
    plan = _plan_files(signals, fmt)
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
            _write_one(target, signals.X[i], signals.sr, fmt)
        labels = None
        if signals.y is not None:
            labels = {_safe_name(str(lab)): _json_value(lab) for lab in signals.classes}
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
    return Path(out_dir)


def _plan_files(signals: SignalSet, fmt: str) -> list[Path]:
    """Relative output path of each case; refuses names that would collide."""
    folders = [Path()] * signals.n_cases
    if signals.y is not None:
        by_folder: dict[str, object] = {}
        for label in signals.classes:
            folder = _safe_name(str(label))
            # Compared without case: two labels must not share a folder on macOS or Windows either.
            other = by_folder.setdefault(folder.lower(), label)
            if other != label:
                raise DataError(
                    f"labels {str(other)!r} and {str(label)!r} both map to class folder {folder!r}; "
                    "rename one of them"
                )
        folders = [Path(_safe_name(str(label))) for label in signals.y]
    plan, seen = [], set()
    for i, (folder, name) in enumerate(zip(folders, signals.names)):
        stem = Path(name).name
        if Path(stem).suffix.lower() in SIGNAL_SUFFIXES:
            stem = Path(stem).stem
        stem = _safe_name(stem, default=f"case-{i:05d}")
        rel = folder / f"{stem}.{fmt}"
        if str(rel).lower() in seen:
            rel = folder / f"{stem}-{i:05d}.{fmt}"  # same file name in two source folders
        if str(rel).lower() in seen:
            raise DataError(f"{name}: two cases map to the output file {rel}; give the cases unique names")
        seen.add(str(rel).lower())
        plan.append(rel)
    return plan


def _safe_name(text: str, default: str = "_") -> str:
    """A file or folder name that every file system accepts and that is not hidden."""
    name = re.sub(r"[^\w.\-]+", "_", text).strip("._")[:100]
    return name or default


def _json_value(label):
    return label.item() if isinstance(label, np.generic) else label


def _check_target(out: Path, overwrite: bool) -> None:
    """The project's output rule (:func:`sigxfer._atomic.check_output`), raised as this module's error."""
    try:
        check_output(out, overwrite=overwrite, kind="folder", owner=OWNER)
    except OutputExistsError as err:
        raise OutputFolderExistsError(str(err)) from None


def _write_one(target: Path, signal: np.ndarray, sr: float | None, fmt: str) -> None:
    """Write one (n_channels, n_timepoints) case."""
    if fmt == "npy":
        np.save(target, signal)
    elif fmt == "csv":
        header = ",".join(f"ch{c}" for c in range(signal.shape[0]))
        # 9 significant digits read back to the same float32 exactly.
        np.savetxt(target, signal.T, fmt="%.9g", delimiter=",", header=header, comments="")
    else:
        sf.write(str(target), signal.T, int(round(sr)), subtype="FLOAT", format="WAV")


