"""Write the pictures a network would see of a data set: ``sigxfer render`` as one call."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from sigxfer._atomic import check_output
from sigxfer.errors import ParameterError
from sigxfer.workflows._common import data_root, dataset, input_paths, quiet, replaced_note

__all__ = ["render_signals"]


def render_signals(data, out, *, imaging="spectrogram", sr: float | None = None, length: int | None = None,
                   backbone: str = "efficientnet_lite0", image_size: int | None = None, channel_mode: str = "auto",
                   overwrite: bool = False, echo: Callable[[str], None] | None = None):
    """Fit an imager on ``data`` and write one PNG per case into the folder ``out``.

    Parameters
    ----------
    data : str, path-like or SignalSet
        A folder of class folders or ``ucr:NAME`` (see :func:`sigxfer.data.load_dataset`), or
        signals in memory.
    out : str or path-like
        The pictures' folder, mirroring the data's class folders (``low/pump_03.png``). It must
        be missing or empty, or (with ``overwrite``) hold the pictures of an earlier call, and
        must neither be nor contain ``data``; checked before any work.
    imaging : str, dict or Imager
        The one picture to draw (see :func:`sigxfer.imaging.resolve.resolve_imaging`).
    sr, length
        As for :func:`sigxfer.data.load_dataset`.
    backbone : str
        Sets the picture's size (``image_size`` overrides it) and normalisation.
    image_size, channel_mode
        As for :class:`~sigxfer.TransferClassifier`.
    overwrite : bool
        Replace the pictures an earlier call wrote into ``out``; other files there are kept.
    echo : callable, optional
        Receives one line when earlier pictures were replaced.

    Returns
    -------
    paths : list of Path
        The files written, in case order.
    imager : Imager
        The fitted imager that drew them (its ``scale`` was learnt from ``data``).

    Raises
    ------
    OutputExistsError
        ``out`` is, or contains, the data; or holds files and ``overwrite`` is False or they are
        not earlier pictures of sigxfer's.

    Examples
    --------
    >>> import tempfile
    >>> from sigxfer.data import make_devices
    >>> paths, imager = render_signals(make_devices(2, n_timepoints=128, seed=0),
    ...                                Path(tempfile.mkdtemp()) / "pics", backbone="tinynet", image_size=32)
    >>> len(paths), paths[0].suffix
    (4, '.png')
    """
    from sigxfer.backbones import get_backbone_config
    from sigxfer.imaging.render import OWNER, save_pictures
    from sigxfer.imaging.resolve import build_imager, resolve_imaging

    say = echo or quiet
    if channel_mode == "groups":
        raise ParameterError("render draws one picture per signal and channel_mode='groups' makes one view per "
                             "group of three channels; pass --channel-mode tile (or rgb for three channels)")
    replaced = check_output(out, overwrite=overwrite, kind="folder", owner=OWNER, inputs=input_paths(data))
    spec = resolve_imaging(imaging)[0]
    config = get_backbone_config(backbone)
    signals = dataset(data, sr=sr, length=length)
    imager = build_imager(spec, sr=signals.sr, n_timepoints=signals.n_timepoints,
                          size=image_size or config.input_size, channel_mode=channel_mode,
                          mean=config.mean, std=config.std).fit(signals.X)
    paths = save_pictures(imager, np.asarray(signals.X), _picture_names(signals.names, data_root(data)), out,
                          overwrite=overwrite)
    if replaced:
        say(replaced_note(replaced, out))
    return paths, imager


def _picture_names(names, root) -> list[str]:
    """Case names without suffix, relative to the data folder where they lie in it."""
    root = None if root is None else Path(os.path.abspath(root))
    out = []
    for name in names:
        path = Path(name).with_suffix("")
        if root is not None and Path(os.path.abspath(path)).is_relative_to(root):
            path = Path(os.path.abspath(path)).relative_to(root)
        out.append(str(path))
    return out
