"""Signal file formats, one per suffix: a registry of readers and writers.

One file is one case. The built-in formats:

- ``.wav``: any format soundfile reads; every channel of the file is a channel of the case, and the
  file carries its own sample rate. A file whose header promises more samples than it holds (a
  recording or copy cut short) is refused rather than read short.
- ``.csv``: one column per channel, one row per sample, separated by ``,`` (or ``;`` or a tab). The
  first row is taken as a header when none of its cells is a number. Every column is a channel, so
  drop a time or index column before saving.
- ``.npy``: a 1-D array is one channel; a 2-D array is ``(n_channels, n_timepoints)``.
- ``.png``, ``.jpg``, ``.jpeg``: a picture, as R, G, B channels of its pixels row by row in [0, 1]
  (:mod:`sigxfer.data.images`; folders of them load with their shape kept, for ``imaging="picture"``).

Another format is one call to :func:`register_format`; :func:`~sigxfer.data.load_signals`,
:func:`~sigxfer.data.load_files` and :func:`~sigxfer.data.load_targets` then read it like the others.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import soundfile as sf

from sigxfer.data.wavheader import wav_length
from sigxfer.errors import DataError, ParameterError

__all__ = [
    "SignalFormat",
    "register_format",
    "unregister_format",
    "get_format",
    "signal_suffixes",
    "read_signal",
    "guess_delimiter",
]

#: ``reader(path) -> (samples, sr)``: samples 1-D (one channel) or (n_channels, n_timepoints), any
#: real numeric dtype; sr the file's own sample rate in Hz, or None.
Reader = Callable[[Path], "tuple[np.ndarray, float | None]"]
#: ``writer(path, signal, sr)``: signal float32 (n_channels, n_timepoints), sr in Hz or None.
Writer = Callable[[Path, np.ndarray, "float | None"], None]


@dataclass(frozen=True)
class SignalFormat:
    """A registered file format: its suffix (``".wav"``), reader and optional writer."""

    suffix: str
    reader: Reader
    writer: Writer | None = None

    @property
    def name(self) -> str:
        """The suffix without its dot, as ``write_signals(format=...)`` takes it."""
        return self.suffix[1:]


_REGISTRY: dict[str, SignalFormat] = {}


def _normalise_suffix(suffix) -> str:
    text = str(suffix).lower()
    text = text if text.startswith(".") else "." + text
    if not re.fullmatch(r"\.[a-z0-9][a-z0-9_\-]*", text):
        raise ParameterError(f"suffix={suffix!r} must look like '.wav' or 'wav' (letters and digits)")
    return text


def register_format(suffix: str, reader: Reader, writer: Writer | None = None, *,
                    overwrite: bool = False) -> SignalFormat:
    """Make files ending in ``suffix`` readable (and, with ``writer``, writable) as signals.

    Parameters
    ----------
    suffix : str
        File name ending, with or without the dot; matched without regard to case.
    reader : callable
        ``reader(path) -> (samples, sr)``. ``samples`` is 1-D (one channel) or 2-D
        ``(n_channels, n_timepoints)`` of real numbers; ``sr`` the file's own sample rate in Hz,
        or None (then ``sr=`` or ``sigxfer.json`` gives it). The reader may raise
        :class:`~sigxfer.errors.DataError` naming the file and the fix; any other exception is
        reported as a DataError naming the file. :func:`read_signal` checks the shape, converts
        to float32 and refuses NaN and infinities, so the reader need not.
    writer : callable, optional
        ``writer(path, signal, sr)`` with ``signal`` float32 ``(n_channels, n_timepoints)``; makes
        the format available to :func:`~sigxfer.data.write_signals` as ``format=suffix`` (without
        the dot). Reading back what it wrote must give the same samples.
    overwrite : bool, default=False
        Replace an earlier registration of ``suffix`` (a built-in one included).

    Returns
    -------
    SignalFormat

    Raises
    ------
    ParameterError
        ``suffix`` is malformed or already registered (without ``overwrite``), or ``reader`` or
        ``writer`` is not callable.

    Examples
    --------
    >>> import numpy as np
    >>> def read_dat(path):
    ...     return np.fromfile(path, dtype="<f4"), None
    >>> fmt = register_format(".dat", read_dat)
    >>> ".dat" in signal_suffixes()
    True
    >>> unregister_format(".dat")
    """
    key = _normalise_suffix(suffix)
    if not callable(reader):
        raise ParameterError(f"reader for {key} must be a function reader(path) -> (samples, sr)")
    if writer is not None and not callable(writer):
        raise ParameterError(f"writer for {key} must be a function writer(path, signal, sr)")
    if key in _REGISTRY and not overwrite:
        raise ParameterError(f"format {key} is already registered; pass overwrite=True to replace it")
    fmt = SignalFormat(key, reader, writer)
    _REGISTRY[key] = fmt
    return fmt


def unregister_format(suffix: str) -> None:
    """Stop reading (and writing) files ending in ``suffix``; unknown suffixes are ignored.

    Examples
    --------
    >>> unregister_format(".never-registered")
    """
    _REGISTRY.pop(_normalise_suffix(suffix), None)


def get_format(suffix: str) -> SignalFormat:
    """The registered format of ``suffix`` (``".csv"`` or ``"csv"``).

    Raises
    ------
    ParameterError
        ``suffix`` is not registered.

    Examples
    --------
    >>> get_format("wav").suffix
    '.wav'
    """
    key = _normalise_suffix(suffix)
    if key not in _REGISTRY:
        raise ParameterError(f"format {key} is not registered; use one of {', '.join(_REGISTRY)}")
    return _REGISTRY[key]


def signal_suffixes() -> tuple[str, ...]:
    """The suffixes read as signals, in registration order (``.wav``, ``.csv``, ``.npy`` first).

    Examples
    --------
    >>> signal_suffixes()[:3]
    ('.wav', '.csv', '.npy')
    """
    return tuple(_REGISTRY)


def writable_formats() -> list[str]:
    """Names (suffix without the dot) of the formats that have a writer."""
    return [fmt.name for fmt in _REGISTRY.values() if fmt.writer is not None]


def suffix_text(conjunction: str = "and") -> str:
    """The registered suffixes as prose: ``".wav, .csv and .npy"`` (for messages)."""
    names = list(_REGISTRY)
    if len(names) < 2:
        return "".join(names) or "no"
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"


def is_signal_file(path: Path) -> bool:
    """Whether ``path``'s suffix is a registered format (no file access)."""
    return path.suffix.lower() in _REGISTRY


# -- reading ---------------------------------------------------------------------------------------
def read_signal(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """Read one signal file with the reader registered for its suffix.

    Parameters
    ----------
    path : str or path-like
        A file of a registered format (``.wav``, ``.csv`` or ``.npy`` built in).

    Returns
    -------
    signal : ndarray of shape (n_channels, n_timepoints), float32
        The samples, all finite.
    sr : float or None
        The file's own sample rate in Hz (``.wav``), else None.

    Raises
    ------
    DataError
        Naming the file (and row, channel or sample) when it cannot be read, is cut short, holds
        no samples, or holds a NaN, an infinity or a non-number.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.npy")
    >>> np.save(path, np.arange(3.0))
    >>> read_signal(path)
    (array([[0., 1., 2.]], dtype=float32), None)
    """
    path = Path(path)
    fmt = _REGISTRY.get(path.suffix.lower())
    if fmt is None:
        raise DataError(f"{path}: sigxfer reads {suffix_text()} files; convert it or leave it out")
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file; check the path")
    try:
        samples, sr = fmt.reader(path)
    except DataError:
        raise
    except Exception as err:  # a plug-in's own failure still names the file
        raise DataError(f"{path}: the {fmt.suffix} reader failed ({one_line(err)}); check or remove the file") from err
    signal = _as_channels(path, samples)
    n_channels, n_timepoints = signal.shape
    if n_timepoints == 0 or n_channels == 0:
        raise DataError(f"{path}: holds no samples; remove the file or re-export it")
    if n_timepoints == 1 and n_channels > 1:
        raise DataError(
            f"{path}: reads as {n_channels} channels of one sample each; store one channel per "
            "column (.csv) or as (n_channels, n_timepoints) (.npy) — transpose it"
        )
    bad = ~np.isfinite(signal)
    if bad.any():
        channel, sample = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: channel {channel} sample {sample} is {signal[channel, sample]}; "
            "fix the recording (or fill the gap) or remove the file"
        )
    return signal, None if sr is None else float(sr)


def _as_channels(path: Path, samples) -> np.ndarray:
    arr = np.asarray(samples)
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
    return np.ascontiguousarray(arr, dtype=np.float32)


def one_line(err: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none)."""
    return " ".join(str(err).split()) or type(err).__name__


def _read_wav(path: Path) -> tuple[np.ndarray, float]:
    try:
        length = wav_length(path)
    except (OSError, ValueError):
        length = None  # soundfile below gives the reason the file cannot be read
    if length is not None and length.truncated:
        declared, present = length.frames(length.declared), length.frames(length.present)
        amount = (f"{declared} frames but holds {present}" if declared is not None
                  else f"{length.declared} bytes of samples but holds {length.present}")
        raise DataError(
            f"{path}: truncated WAV file: its header declares {amount}; the recording or its copy was cut "
            "short, so copy or export it again (or, if the shorter recording is what you want, re-save it so "
            "its header matches)"
        )
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable audio file ({one_line(err)}); re-export it or remove it") from err
    return data.T, float(rate)  # soundfile gives (frames, channels)


def _write_wav(path: Path, signal: np.ndarray, sr: float | None) -> None:
    if sr is None or sr != round(sr):
        raise ParameterError(
            f"format='wav' needs a whole-number sample rate, and sr is {sr!r}; use format='npy' or 'csv'"
        )
    sf.write(str(path), signal.T, int(round(sr)), subtype="FLOAT", format="WAV")


def _read_npy(path: Path) -> tuple[np.ndarray, None]:
    try:
        # read_array (not np.load) so that a zipped .npz or a pickle renamed to .npy is refused.
        with open(path, "rb") as handle:
            arr = np.lib.format.read_array(handle, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npy file ({one_line(err)}); save it with numpy.save") from err
    return arr, None


def _write_npy(path: Path, signal: np.ndarray, sr: float | None) -> None:
    np.save(path, signal)


def _read_csv(path: Path) -> tuple[np.ndarray, None]:
    try:
        # utf-8-sig drops the byte-order mark spreadsheet programs put in front.
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: is not a UTF-8 text file; save it as plain comma-separated text") from err
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({one_line(err)}); check its permissions") from err
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DataError(f"{path}: holds no samples; remove the file or re-export it")
    delimiter = guess_delimiter(lines[first])
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
        return values.T, None
    _raise_csv_problem(path, lines, skip, delimiter)


def _write_csv(path: Path, signal: np.ndarray, sr: float | None) -> None:
    header = ",".join(f"ch{c}" for c in range(signal.shape[0]))
    # 9 significant digits read back to the same float32 exactly.
    np.savetxt(path, signal.T, fmt="%.9g", delimiter=",", header=header, comments="")


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


def guess_delimiter(line: str) -> str:
    """The delimiter of a CSV file from its first non-blank line.

    A comma, unless the line has none but has semicolons (spreadsheets in locales that write
    ``0,5`` for a half) or tabs. Every CSV sigxfer reads, signals and tables alike, is split by it.

    Examples
    --------
    >>> guess_delimiter("a;b;c"), guess_delimiter("1\\t2"), guess_delimiter("0.5")
    (';', '\\t', ',')
    """
    if "," in line:
        return ","
    if ";" in line:
        return ";"
    return "\t" if "\t" in line else ","


def _to_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


register_format(".wav", _read_wav, _write_wav)
register_format(".csv", _read_csv, _write_csv)
register_format(".npy", _read_npy, _write_npy)


def _register_pictures() -> None:
    # Pictures are cases too (image-only data sets); folders.py reads them with their shape kept.
    from sigxfer.data.images import IMAGE_SUFFIXES, read_image_case

    for suffix in IMAGE_SUFFIXES:
        register_format(suffix, read_image_case, overwrite=True)


_register_pictures()
