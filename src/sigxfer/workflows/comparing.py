"""Compare transfer learning with its alternatives on data named by a path: ``sigxfer compare`` as one call."""

from __future__ import annotations

from typing import Callable

from sigxfer._atomic import check_output
from sigxfer.data.datasets import concat_signals
from sigxfer.data.tasks import task_of
from sigxfer.errors import ParameterError
from sigxfer.workflows._common import (
    case_groups,
    data_root,
    dataset,
    dataset_splits,
    input_paths,
    quiet,
    replaced_note,
)

__all__ = ["compare_data"]


def compare_data(data, *, output=None, test=None, targets=None, target: str | None = None,
                 task: str | None = None, contenders=None, contender_params: dict | None = None,
                 imaging="spectrogram", sr: float | None = None, length: int | None = None,
                 backbone: str = "efficientnet_lite0", image_size: int | None = None, channel_mode: str = "auto",
                 test_size: float | int = 0.25, cv: int | None = None, repeats: int = 1, groups=None,
                 group_pattern: str | None = None, stratify: bool = True, batch_size: int = 32, random_state: int | None = 0,
                 progress: bool | None = None, overwrite: bool = False,
                 echo: Callable[[str], None] | None = None):
    """Load ``data`` and run :func:`sigxfer.evaluation.compare` on it, saving the results.

    Parameters
    ----------
    data : str, path-like or SignalSet
        Class folders, ``ucr:NAME`` (its official train/test split), or with ``targets`` the
        folder holding the listed files (see :func:`sigxfer.data.load_dataset`).
    output : str or path-like, optional
        Folder for ``comparison.csv`` and ``comparison.json``, checked before any loading.
    test : str, path-like or SignalSet, optional
        A separate labelled test set; else ``data`` is split (``test_size`` or ``cv``).
    targets, target : optional
        A table of ``file,target`` rows to regress, and its column.
    task : {"classification", "regression"}, optional
        By the one rule of :func:`sigxfer.data.task_of`.
    groups, group_pattern : optional
        A CSV of ``case,group`` rows (or one id per case), or a regular expression whose first
        group in each case's path is its group.
    contenders, contender_params, imaging, sr, backbone, image_size, channel_mode, test_size, cv,
    repeats, stratify, batch_size, random_state, progress, echo
        As for :func:`sigxfer.evaluation.compare`; ``length`` as for ``load_dataset``.
    overwrite : bool
        Replace an earlier comparison in ``output`` (never other files).

    Returns
    -------
    Comparison

    Raises
    ------
    OutputExistsError
        ``output`` is not empty (without ``overwrite``), not an earlier comparison's, or holds the data.
    ParameterError
        Conflicting splits (``test`` with ``ucr:`` data or with ``cv``, ``targets`` with ``test``).

    Examples
    --------
    >>> from sigxfer.data import make_devices
    >>> result = compare_data(make_devices(10, n_timepoints=128, seed=0), contenders="pixels-nb",
    ...                       imaging="spectrum", image_size=32, backbone="tinynet")
    >>> [row["contender"] for row in result.rows]
    ['pixels-nb']
    """
    from sigxfer.evaluation.compare import OWNER, compare
    from sigxfer.imaging.resolve import resolve_imaging

    say = echo or quiet
    replaced = [] if output is None else check_output(
        output, overwrite=overwrite, kind="folder", owner=OWNER, inputs=input_paths(data, test, targets, groups))
    resolve_imaging(imaging, multi_view=True)  # a wrong name fails before any data is read
    task_of(task=task, targets=targets)
    if targets is not None and test is not None:
        raise ParameterError("targets= with test= is not supported; split the data with test_size= or cv=")
    train, official = dataset_splits(data, sr=sr, length=length, targets=targets, target=target)
    if test is not None:
        if official is not None:
            raise ParameterError(f"{data} comes with its official test split; drop test=")
        official = dataset(test, sr=sr or train.sr, length=train.n_timepoints)
    if cv is not None and official is not None:
        if test is not None:
            raise ParameterError("give either test= or cv=: cross-validation splits the data itself")
        train, official = concat_signals(train, official), None  # both official halves, cross-validated
    result = compare(train, official, contenders=contenders, task=task_of(train.y, task=task, targets=targets),
                     imaging=imaging, sr=sr, backbone=backbone, image_size=image_size, channel_mode=channel_mode,
                     contender_params=contender_params, test_size=test_size, cv=cv, repeats=repeats,
                     groups=case_groups(train, groups=groups, group_pattern=group_pattern, root=data_root(data)),
                     stratify=stratify, batch_size=batch_size, random_state=random_state, progress=progress, out=output,
                     overwrite=overwrite, echo=echo)
    if replaced:
        say(replaced_note(replaced, output))
    return result
