"""What the workflows share: reading data named by a path or given as signals, groups, models, scores."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np

from sigxfer.data.datasets import is_ucr, load_dataset, load_dataset_splits
from sigxfer.data.groups import groups_from_pattern, load_groups
from sigxfer.data.signals import SignalSet
from sigxfer.data.targets import read_targets_table
from sigxfer.data.tasks import task_of
from sigxfer.errors import ParameterError


def quiet(_line: str) -> None:
    """The ``echo`` of a workflow nobody listens to."""


def input_paths(*items) -> list:
    """The items that name files or folders (not ``ucr:`` names, signals or models in memory)."""
    return [item for item in items if isinstance(item, (str, os.PathLike)) and not is_ucr(item)]


def data_root(data):
    """The folder case names are relative to, for group tables and patterns; None for other data."""
    return data if isinstance(data, (str, os.PathLike)) and not is_ucr(data) else None


def dataset(data, *, sr=None, length=None, targets=None, target=None) -> SignalSet:
    """``data`` itself when it is a SignalSet, else :func:`~sigxfer.data.load_dataset` of it."""
    if isinstance(data, SignalSet):
        if targets is not None:
            raise ParameterError("targets= names a table of files; with signals in memory give their y instead")
        return data
    return load_dataset(data, sr=sr, length=length, targets=targets, target=target)


def dataset_splits(data, *, sr=None, length=None, targets=None, target=None):
    """(train, official test or None) of ``data`` (a SignalSet has no official test split)."""
    if isinstance(data, SignalSet):
        return dataset(data, targets=targets), None
    return load_dataset_splits(data, sr=sr, length=length, targets=targets, target=target)


def target_note(targets, target) -> str | None:
    """Which column of a table with several targets is learnt, and how to choose another."""
    if targets is None:
        return None
    columns = read_targets_table(targets)[1]
    if len(columns) <= 2:
        return None
    return f"target column {target or columns[1]!r} (of {', '.join(columns[1:])}; choose with target=)"


def case_groups(signals: SignalSet, *, groups=None, group_pattern=None, root=None):
    """Group ids per case from ``groups`` (a CSV table, or ids) or ``group_pattern``; None without."""
    if groups is not None and group_pattern is not None:
        raise ParameterError("give groups= or group_pattern=, not both")
    if group_pattern is not None:
        return groups_from_pattern(signals.names, group_pattern, root=root)
    if isinstance(groups, (str, os.PathLike)):
        return load_groups(groups, signals.names, root=root)
    return groups


def load_model(model):
    """A fitted estimator: ``model`` itself, or read from the model file it names."""
    if isinstance(model, (str, os.PathLike)):
        from sigxfer.deploy import load

        return load(model)
    return model


def model_name(model) -> str:
    return str(model) if isinstance(model, (str, os.PathLike)) else f"the {type(model).__name__}"


def model_and_data(model, data, *, targets=None, target=None, sr=None, verb: str, progress=None):
    """The model, then its data in the layout it was trained on: (model, train, official test or None).

    ``progress`` (a bool) replaces the model's own setting for its progress bars, on a shallow
    copy (a caller's estimator is not changed); None keeps it.
    """
    fitted = load_model(model)
    if progress is not None:
        fitted = copy.copy(fitted)
        fitted.set_params(progress=bool(progress))
    where = str(model) if isinstance(model, (str, os.PathLike)) else "this model"
    classifier = hasattr(fitted, "classes_")
    if not is_ucr(data) and classifier == (targets is not None):
        raise ParameterError(f"{where} is a {type(fitted).__name__}: " + (
            f"it is {verb} on class folders; drop targets=" if targets is not None
            else f"it is {verb} on a targets table (or a ucr: regression set); pass targets=CSV"))
    train, test = dataset_splits(data, sr=sr or fitted.sr_, length=fitted.n_timepoints_, targets=targets,
                                 target=target)
    if is_ucr(data) and classifier == (task_of(train.y) == "regression"):  # a ucr: set brings its task
        raise ParameterError(f"{where} is a {type(fitted).__name__} and {data} holds "
                             + ("numeric targets to regress" if classifier else "class labels")
                             + f"; it is {verb} on a data set of its own task")
    return fitted, train, test


def score(model, signals: SignalSet) -> dict:
    """The summary of a fitted model's predictions of labelled ``signals`` (with intervals)."""
    from sigxfer.evaluation.metrics import classification_summary, regression_summary

    if hasattr(model, "classes_"):
        proba = model.predict_proba(signals)
        pred = np.asarray(model.classes_)[np.argmax(proba, axis=1)]
        return classification_summary(signals.y, pred, classes=model.classes_, proba=proba, names=signals.names)
    return regression_summary(signals.y, model.predict(signals), names=signals.names)


def replaced_note(replaced, output) -> str | None:
    """What an overwrite replaced, in one line (None when it replaced nothing)."""
    if not replaced:
        return None
    if len(replaced) == 1 and Path(replaced[0]) == Path(output):
        return f"replaced the earlier {output}"
    return f"replaced {len(replaced)} files sigxfer wrote earlier in {output}; other files there are kept"
