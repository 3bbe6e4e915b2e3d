"""Read folders of signal files: labelled class folders (:func:`load_signals`) or loose files.

A labelled data set is a folder holding one folder per class::

    data/
      sigxfer.json        optional: {"sr": 1024.0} gives the sample rate of .csv and .npy files
      low/  a.wav  b.csv  c.npy  (sub-folders are read too; the label is the class folder's name)
      high/ ...

Each file is one case, read by the format its suffix names (:mod:`sigxfer.data.formats`).

Unequal lengths follow one rule, applied after reading: with ``length=None`` every signal is
brought to the length of the longest by padding at the end (zeros, or with ``pad="edge"`` the last
sample repeated); with ``length=n`` longer signals are cropped to their first ``n`` samples and
shorter ones padded. Every file must have the same number of channels.

Pictures (``.png``, ``.jpg``) load the same way, as R, G, B channels at one shape
(:mod:`sigxfer.data.images`): ``image_shape`` chooses it, ``length`` and ``pad`` do not apply, and
the set records the shape as ``SignalSet.image_shape``. A folder holds pictures or signals, not both.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sigxfer.data.formats import is_signal_file, one_line, read_signal, suffix_text
from sigxfer.data.images import check_image_shape, is_image_file, load_image_cases
from sigxfer.data.signals import SignalSet
from sigxfer.errors import DataError, ParameterError

__all__ = ["load_signals", "load_files", "META_NAME", "read_meta"]

#: Name of the optional description file at the top of a data folder.
META_NAME = "sigxfer.json"
#: Above this many files a progress bar is shown (when writing to a terminal).
PROGRESS_THRESHOLD = 200
_PAD_MODES = ("zero", "edge")


def read_meta(folder: Path) -> tuple[dict, Path | None]:
    """The parsed ``sigxfer.json`` of ``folder`` (empty dict if none) and its path."""
    meta_path = folder / META_NAME
    if not meta_path.is_file():
        return {}, None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as err:
        raise DataError(f"{meta_path}: not valid JSON ({one_line(err)}); fix it or delete it") from err
    if not isinstance(meta, dict):
        raise DataError(f'{meta_path}: must hold a JSON object such as {{"sr": 1024.0}}; fix it or delete it')
    sr = meta.get("sr")
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, Real) or not math.isfinite(sr) or sr <= 0):
        raise DataError(f"{meta_path}: sr is {sr!r}; give the sample rate in Hz as a positive number")
    return meta, meta_path



def load_signals(
    path: str | os.PathLike,
    *,
    sr: float | None = None,
    length: int | None = None,
    pad: str = "zero",
    progress: bool | None = None,
    image_shape: tuple[int, int] | None = None,
) -> SignalSet:
    """Load a labelled folder: one folder per class, holding signal files (or pictures).

    Signal files are those of a registered format: ``.wav``, ``.csv`` and ``.npy`` built in, more
    with :func:`~sigxfer.data.register_format`.

    Parameters
    ----------
    path : str or path-like
        The data folder. Each non-hidden folder in it is a class named after the folder; files in
        its sub-folders belong to it too. Hidden files and folders, and files with other suffixes,
        are skipped; class folders with no signal files are skipped with a warning.
    sr : float or None, default=None
        Sample rate in Hz of files that do not carry one (``.csv``, ``.npy``); overrides ``sr``
        in the folder's ``sigxfer.json``. ``.wav`` files carry their own rate, which must agree.
    length : int or None, default=None
        Samples per signal. None: the length of the longest signal. Longer signals are cropped to
        their first ``length`` samples; shorter ones are padded at the end.
    pad : {"zero", "edge"}, default="zero"
        Padding: zeros, or the last sample of each channel repeated.
    progress : bool or None, default=None
        Show a progress bar. None: only with more than 200 files and a terminal.
    image_shape : (int, int) or None, default=None
        For folders of pictures: the ``(height, width)`` every picture is resized to; None takes
        the first picture's (larger side at most 512 pixels). Signals ignore it.

    Returns
    -------
    SignalSet
        ``X`` of shape (n_cases, n_channels, n_timepoints), float32 (pictures: (n_cases, 3,
        H * W) in [0, 1], with ``image_shape`` set); ``y`` the class folder names
        (str; or the original labels when ``sigxfer.json`` records them, see
        :func:`~sigxfer.data.write_signals`); ``names`` the file paths; ``sr`` in Hz or None if
        nothing gives it. Cases are ordered by class name, then by file path.

    Raises
    ------
    DataError
        If the folder does not exist or holds no signal files, a file is unreadable or holds
        NaN/inf/text, the files have different channel counts, or their sample rates disagree.
    ParameterError
        If ``sr``, ``length`` or ``pad`` are invalid.

    Examples
    --------
    >>> import tempfile, os
    >>> from sigxfer.data import make_devices, write_signals
    >>> folder = write_signals(make_devices(2, seed=0), os.path.join(tempfile.mkdtemp(), "data"))
    >>> s = load_signals(folder)
    >>> s.X.shape, s.sr, s.classes.tolist()
    ((4, 1, 1024), 1024.0, ['high', 'low'])
    """
    sr, length = _check_load_args(sr, length, pad)
    image_shape = check_image_shape(image_shape)
    root = Path(path)
    if not root.exists():
        raise DataError(f"{root} does not exist; give the folder that holds one folder per class")
    if not root.is_dir():
        raise DataError(
            f"{root} is a file; load_signals reads a folder of class folders (use load_files for single files)"
        )
    meta, meta_path = read_meta(root)
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
        elif is_signal_file(child):
            loose.append(child)
    if not entries:
        if loose:
            raise DataError(
                f"{root} holds signal files but no class folders; put one folder per class "
                f"(e.g. {root / 'low' / loose[0].name}), or read unlabeled files with load_files"
            )
        raise DataError(
            f"no {suffix_text('or')} files under {root}; put one folder per class "
            f"(e.g. {root / 'low' / 'a.wav'}, {root / 'high' / 'b.wav'})"
        )
    if empty:
        warnings.warn(
            f"{root}: class folder(s) {empty} hold no {suffix_text('or')} files and are skipped",
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
            f"{root}: {len(ignored)} file(s) that are not {suffix_text('or')} are skipped (e.g. {ignored[0]})",
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
    return _assemble([f for _, f in entries], np.asarray(labels), declared, length, pad, progress, where=str(root),
                     image_shape=image_shape)


def load_files(
    paths,
    *,
    sr: float | None = None,
    length: int | None = None,
    pad: str = "zero",
    progress: bool | None = None,
    image_shape: tuple[int, int] | None = None,
) -> SignalSet:
    """Load unlabelled signal files (or pictures), e.g. for prediction, with the rules of :func:`load_signals`.

    Parameters
    ----------
    paths : str, path-like, or iterable of them
        Signal files, or folders (a folder contributes every signal file under it, sorted).
    sr : float or None, default=None
        Sample rate in Hz of files that do not carry one (``.csv``, ``.npy``). None: taken from a
        ``sigxfer.json`` next to the file or one folder up (where
        :func:`~sigxfer.data.write_signals` puts it), if any.
    length, pad, progress, image_shape
        As in :func:`load_signals` (a model trained on pictures resizes pictures of another shape
        to its own, so ``image_shape`` is only needed to save that second resizing).

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

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.zeros((2, 100)))
    >>> load_files([path], sr=50.0).X.shape
    (1, 2, 100)
    """
    sr, length = _check_load_args(sr, length, pad)
    image_shape = check_image_shape(image_shape)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found, _ = _signal_files_under(p)
            if not found:
                raise DataError(f"no {suffix_text('or')} files under {p}; check the folder")
            files.extend(found)
        elif not p.exists():
            raise DataError(f"{p} does not exist; check the path")
        elif not is_signal_file(p):
            raise DataError(f"{p}: sigxfer reads {suffix_text()} files; convert it or leave it out")
        else:
            files.append(p)
    if not files:
        raise DataError(f"no files given; pass one or more {suffix_text('or')} files")
    declared = (sr, "sr=") if sr is not None else (None, None)
    return _assemble(files, None, declared, length, pad, progress, where="the files given", meta_sr=sr is None,
                     image_shape=image_shape)


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
            (found if is_signal_file(p) else others).append(p)
    found.sort(key=lambda p: p.relative_to(folder).parts)
    return found, sorted(others)


def _assemble(files, labels, declared, length, pad, progress, *, where, meta_sr=False,
              image_shape=None) -> SignalSet:
    """Read ``files``, check they agree on channels and sample rate, and bring them to one length."""
    pictures = [is_image_file(f) for f in files]
    if any(pictures):
        if not all(pictures):
            signal, picture = files[pictures.index(False)], files[pictures.index(True)]
            raise DataError(f"{where} holds both pictures ({picture}) and signals ({signal}); "
                            "keep pictures and signals in separate folders")
        show = progress if progress is not None else (None if len(files) > PROGRESS_THRESHOLD else False)
        X, shape = load_image_cases(files, image_shape=image_shape, progress=show)
        return SignalSet(X, sr=None, y=labels, names=[str(f) for f in files], image_shape=shape)
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
    X = stack_to_length(signals, length, pad, where)
    return SignalSet(X, sr=rate, y=labels, names=[str(f) for f in files])


def _nearby_meta_sr(folder: Path, cache: dict) -> tuple[float | None, str | None]:
    for candidate in (folder, folder.parent):
        if candidate not in cache:
            meta, meta_path = read_meta(candidate)
            cache[candidate] = (meta.get("sr"), str(meta_path))
        if cache[candidate][0] is not None:
            return cache[candidate]
    return None, None


def stack_to_length(signals: list[np.ndarray], length: int | None, pad: str, where: str) -> np.ndarray:
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

