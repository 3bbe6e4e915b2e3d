"""Score a saved model on labelled data, as numbers (``sigxfer evaluate``) or as a report (``sigxfer report``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from sigxfer._atomic import check_output
from sigxfer.data.datasets import concat_signals
from sigxfer.errors import ParameterError
from sigxfer.workflows._common import (
    case_groups,
    data_root,
    input_paths,
    model_and_data,
    model_name,
    quiet,
    replaced_note,
    score,
)

__all__ = ["evaluate_model", "report_model"]


def evaluate_model(model, data, *, targets=None, target: str | None = None, sr: float | None = None,
                   cv: int | None = None, repeats: int = 1, groups=None, group_pattern: str | None = None,
                   random_state: int | None = 0, json=None, overwrite: bool = False,
                   echo: Callable[[str], None] | None = None, progress: bool | None = None) -> dict:
    """Score a fitted model on labelled data, or refit its settings in cross-validation.

    Parameters
    ----------
    model : str, path-like or fitted estimator
        A model file (``sigxfer.save``) or a fitted TransferClassifier/TransferRegressor.
    data : str, path-like or SignalSet
        Labelled data in the layout the model was trained on: class folders, ``ucr:NAME`` (its
        official test split; both splits with ``cv``), or with ``targets`` the folder of the files.
    targets, target : optional
        The targets table of a regressor's data, and its column.
    sr : float, optional
        Sample rate where the files do not record one (default: the model's).
    cv, repeats : int, optional
        Instead of scoring the model: refit its settings in ``repeats`` x ``cv``-fold
        cross-validation on ``data`` (:func:`sigxfer.evaluation.cross_validate`).
    groups, group_pattern : optional
        With ``cv``: a CSV of ``case,group`` rows (or one id per case), or a regular expression
        whose first group in each case's path is its group (:mod:`sigxfer.data.groups`).
    random_state : int, optional
        Seeds the folds.
    json : str or path-like, optional
        Also write the summary to this JSON file (checked before any work).
    overwrite : bool
        Replace an existing ``json`` file.
    echo : callable, optional
        Receives the summary as text and progress lines.
    progress : bool, optional
        Progress bars while predicting (and refitting); None: the model's own setting.

    Returns
    -------
    dict
        The summary (:func:`~sigxfer.evaluation.classification_summary` or the regression one),
        or the result of :func:`~sigxfer.evaluation.cross_validate`.

    Raises
    ------
    OutputExistsError
        ``json`` exists and ``overwrite`` is False (before the model is even read).
    ParameterError
        The data's layout does not fit the model (class folders for a regressor, ...), or
        groups without ``cv``.

    Examples
    --------
    >>> from sigxfer.data import make_devices
    >>> from sigxfer.estimators import TransferClassifier
    >>> signals = make_devices(6, n_timepoints=128, seed=0)
    >>> model = TransferClassifier(backbone="tinynet", image_size=32, imaging="spectrum").fit(signals)
    >>> evaluate_model(model, make_devices(4, n_timepoints=128, seed=1))["n"]
    8
    """
    from sigxfer.evaluation.metrics import format_summary

    say = echo or quiet
    if json is not None:
        check_output(json, overwrite=overwrite, inputs=input_paths(model, data, targets, groups))
    if cv is None and (groups is not None or group_pattern is not None):
        raise ParameterError("groups= and group_pattern= shape the folds of cv=; give cv=K or drop them")
    fitted, train, test = model_and_data(model, data, targets=targets, target=target, sr=sr, verb="evaluated",
                                         progress=progress)
    if cv is not None:
        from sklearn.base import clone

        from sigxfer.evaluation.cv import cross_validate, format_cv

        signals = train if test is None else concat_signals(train, test)
        estimator = clone(fitted).set_params(progress=False)
        summary = cross_validate(estimator, signals, cv=cv, repeats=repeats, random_state=random_state,
                                 groups=case_groups(signals, groups=groups, group_pattern=group_pattern,
                                                    root=data_root(data)), echo=say)
        say(format_cv(summary, title=f"{model_name(model)}'s settings, refitted on folds of {_name(data)}"))
    else:
        summary = score(fitted, test if test is not None else train)
        say(format_summary(summary, title=f"{model_name(model)} on {_name(data)}"))
    if json is not None:
        from sigxfer.evaluation.io import write_json

        replaced = check_output(json, overwrite=overwrite)
        write_json(summary, json, overwrite=overwrite)
        say(f"wrote {json}" + (f" ({replaced_note(replaced, json)})" if replaced else ""))
    return summary


def report_model(model, data, output, *, comparison=None, targets=None, target: str | None = None,
                 sr: float | None = None, per_class: int = 4, max_gallery: int = 60, command: str | None = None,
                 overwrite: bool = False, echo: Callable[[str], None] | None = None,
                 progress: bool | None = None) -> Path:
    """Write one self-contained HTML report of a fitted model on labelled data.

    Parameters
    ----------
    model : str, path-like or fitted estimator
        A model file or a fitted estimator.
    data : str, path-like or SignalSet
        Labelled data the model did not train on: class folders, ``ucr:NAME`` (its official test
        split), or with ``targets`` the folder of the files.
    output : str or path-like
        The HTML file to write (checked before any work).
    comparison : str or path-like, optional
        A folder (or ``comparison.json``) written by :func:`sigxfer.workflows.compare_data`.
    targets, target, sr
        As for :func:`evaluate_model`.
    per_class, max_gallery, command
        As for :func:`sigxfer.evaluation.build_report`.
    overwrite : bool
        Replace an existing ``output``.
    echo : callable, optional
        Receives one line naming what was written.
    progress : bool, optional
        Progress bars while predicting; None: the model's own setting.

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    OutputExistsError
        ``output`` exists and ``overwrite`` is False, or is one of the inputs.

    Examples
    --------
    >>> import tempfile
    >>> from sigxfer.data import make_devices
    >>> from sigxfer.estimators import TransferClassifier
    >>> signals = make_devices(6, n_timepoints=128, seed=0)
    >>> model = TransferClassifier(backbone="tinynet", image_size=32, imaging="spectrum").fit(signals)
    >>> path = report_model(model, make_devices(4, n_timepoints=128, seed=1), Path(tempfile.mkdtemp()) / "r.html")
    >>> path.read_text().startswith("<!DOCTYPE html>")
    True
    """
    from sigxfer.evaluation.report import read_comparison, write_report

    say = echo or quiet
    replaced = check_output(output, overwrite=overwrite, inputs=input_paths(model, data, targets, comparison))
    fitted, train, test = model_and_data(model, data, targets=targets, target=target, sr=sr, verb="reported",
                                         progress=progress)
    config = None
    if isinstance(model, (str, os.PathLike)):
        from sigxfer.deploy import read_config

        config = read_config(model)
    path = write_report(fitted, test if test is not None else train, output, overwrite=overwrite,
                        comparison=read_comparison(comparison) if comparison is not None else None,
                        config=config, data_name=_name(data), per_class=per_class, max_gallery=max_gallery,
                        model_name=Path(model).name if isinstance(model, (str, os.PathLike)) else None,
                        command=command)
    say(f"wrote {output}" + (f" ({replaced_note(replaced, output)})" if replaced else ""))
    return path


def _name(data) -> str:
    return str(data) if isinstance(data, (str, os.PathLike)) else f"{len(data)} signals"
