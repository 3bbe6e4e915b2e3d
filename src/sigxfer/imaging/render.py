"""Pictures on disk and on paper: what the network sees, as PNG files and contact sheets.

``sigxfer render`` and the evaluation report use these; they need Pillow and matplotlib, which is
why :mod:`sigxfer.imaging` does not import this module itself.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from sigxfer._atomic import check_output, install_folder, new_staging_folder
from sigxfer._paths import safe_name
from sigxfer.errors import DataError, ParameterError

__all__ = ["OWNER", "contact_sheet", "picture_arrays", "save_pictures"]

#: The writer named in the manifest of a pictures folder.
OWNER = "save_pictures"

_BATCH = 32


def picture_arrays(imager, X, *, batch_size: int = _BATCH):
    """Yield the pictures of ``X`` as uint8 arrays of shape (H, W, 3), one case at a time.

    They are :meth:`~sigxfer.imaging.Imager.pictures` (before the backbone's mean/std), rounded
    to 8 bits: exactly what the network reads, up to that rounding.
    """
    x = imager._as_tensor(X)
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            pics = imager.pictures(x[start:start + batch_size])
            pics = (pics * 255.0).round().clamp(0, 255).to(torch.uint8)
            yield from pics.permute(0, 2, 3, 1).cpu().numpy()


def _file_names(names: list[str]) -> list[PurePosixPath]:
    """Safe, unique relative ``.png`` paths from case names; ``a/b.wav`` -> ``a/b.png``."""
    out, seen = [], set()
    for i, name in enumerate(names):
        parts = [p for p in re.split(r"[\\/]+", str(name)) if p not in ("", ".", "..")]
        parts = [safe_name(p) for p in parts] or [f"case-{i}"]
        stem = PurePosixPath(*parts)
        if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", stem.suffix or "x") and stem.suffix.lower() != ".png":
            stem = stem.with_suffix("")  # "pump_03.wav" -> "pump_03"
        path, k = stem.with_name(stem.name + ".png"), 1
        while str(path).lower() in seen:  # case-insensitive: safe on every file system
            path, k = stem.with_name(f"{stem.name}-{k}.png"), k + 1
        seen.add(str(path).lower())
        out.append(path)
    return out


def save_pictures(imager, signals_X, names, out_dir, *, overwrite: bool = False) -> list[Path]:
    """Write one PNG per case: the picture the network reads, as 8-bit RGB.

    The folder is built under a temporary name beside ``out_dir`` and renamed into place only
    when every file is written, so an interrupted run leaves no half-filled folder and an
    earlier one is replaced only once the new one is complete. The folder is marked as sigxfer's
    (see :func:`sigxfer._atomic.check_output`): ``overwrite`` replaces the pictures of an earlier
    run and nothing else.

    Parameters
    ----------
    imager : Imager
        A fitted :class:`~sigxfer.imaging.Imager`.
    signals_X : array or Tensor, shape (n_cases, n_channels, n_timepoints)
    names : list of str
        One name per case, usually its file; ``/`` makes sub-folders (``"low/pump_03.wav"`` is
        written as ``low/pump_03.png``). Unsafe characters become ``_``; repeats get ``-1``,
        ``-2``, ... appended.
    out_dir : str or Path
        Folder to create.
    overwrite : bool
        Replace an existing non-empty ``out_dir`` (refused by default).

    Returns
    -------
    list of Path
        The files written, in case order.

    Raises
    ------
    OutputExistsError
        ``out_dir`` exists, is not empty, and ``overwrite`` is False.
    DataError
        ``names`` does not hold one name per case.
    """
    from PIL import Image

    out_dir = Path(out_dir)
    n_cases = len(signals_X)
    names = list(names)
    if len(names) != n_cases:
        raise DataError(f"got {len(names)} names for {n_cases} cases; pass one name per case")
    check_output(out_dir, overwrite=overwrite, kind="folder", owner=OWNER)
    files = _file_names(names)
    tmp = new_staging_folder(out_dir)
    try:
        for rel, picture in zip(files, picture_arrays(imager, signals_X)):
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(picture).save(path, format="PNG")
        install_folder(tmp, out_dir, owner=OWNER)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return [out_dir / rel for rel in files]


def contact_sheet(imager, X, y, *, per_class: int = 4):
    """A grid of example pictures, one row per class, labelled with the class name.

    Parameters
    ----------
    imager : Imager
        A fitted imager.
    X : array or Tensor, shape (n_cases, n_channels, n_timepoints)
    y : array-like, shape (n_cases,)
        Class labels; rows follow ``numpy.unique`` order, each with the first ``per_class``
        cases of its class (fewer if the class is smaller).
    per_class : int
        Pictures per row.

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot (no global state, no window); save it with ``fig.savefig(path)``.
    """
    from matplotlib.figure import Figure

    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ParameterError(f"per_class={per_class!r} must be a positive integer")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(X):
        raise DataError(f"y has shape {y.shape} for {len(X)} cases; pass one label per case")
    if len(y) == 0:
        raise DataError("no cases to show; pass at least one labelled case")
    classes = np.unique(y)
    picks = [np.flatnonzero(y == c)[:per_class] for c in classes]
    order = np.concatenate(picks)
    pictures = list(picture_arrays(imager, np.asarray(X)[order] if not torch.is_tensor(X) else X[order]))
    n_cols = max(len(p) for p in picks)
    height, width = imager.size
    cell = 1.6
    fig = Figure(figsize=(cell * n_cols * width / height + 1.2, cell * len(classes) + 0.4),
                 layout="constrained")
    axes = fig.subplots(len(classes), n_cols, squeeze=False)
    k = 0
    for row, (label, pick) in enumerate(zip(classes, picks)):
        for col in range(n_cols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(pick):
                ax.imshow(pictures[k], interpolation="nearest")
                k += 1
            else:
                ax.set_axis_off()
        axes[row, 0].set_ylabel(str(label), rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(f"{imager.transform.name}: what the network sees", fontsize=10)
    return fig
