"""A fitted model's test score, next to the estimate it made of itself while training.

A model that chose its settings by cross-validation on its training data (automatic selection)
carries that estimate in ``history_``. It is the figure the model was selected on, so it tends to
flatter; shown beside the score on unseen cases, the gap between the two is itself informative.
"""

from __future__ import annotations

import math

import numpy as np

from sigxfer.data.signals import SignalSet
from sigxfer.errors import DataError, NotFittedError, ParameterError
from sigxfer.evaluation.metrics import N_BOOTSTRAP, classification_summary, regression_summary


#: Where in ``history_`` a cross-validation estimate from training is looked for, first match wins:
#: the automatic selection's record, a strategy's own cross-validation, the "auto" strategy's choice.
ESTIMATE_SOURCES = ("selection", "cv", "auto")


def _number(value) -> float | None:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        value = float(value)
        return value if math.isfinite(value) else None
    return None


def _pair(value) -> list[float] | None:
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2:
        pair = [_number(v) for v in value]
        if all(v is not None for v in pair):
            return pair
    return None


def training_estimate(model) -> dict | None:
    """The cross-validation score a fitted model estimated of itself on its training data, or None.

    Parameters
    ----------
    model : estimator or dict
        A fitted model (its ``history_`` is read) or a history dict itself (as in a model file's
        configuration). The first of ``history["selection"]``, ``history["cv"]`` and
        ``history["auto"]`` that is a dict holding a finite ``cv_score`` (or ``score``) is taken,
        with its interval from ``cv_ci`` (or ``ci95``) when present.

    Returns
    -------
    dict or None
        ``score`` (float), ``ci95`` (``[low, high]`` or None), ``metric`` (str or None: the
        ``metric`` or ``scoring`` the estimate names) and ``source`` (the history key read).
        None when the model carries no such estimate.

    Examples
    --------
    >>> history = {"selection": {"cv_score": 0.91, "cv_ci": [0.84, 0.96], "table": []}}
    >>> training_estimate(history)
    {'score': 0.91, 'ci95': [0.84, 0.96], 'metric': None, 'source': 'selection'}
    >>> training_estimate({"C": 1.0, "cv_folds": 5}) is None
    True
    """
    history = model if isinstance(model, dict) or model is None else getattr(model, "history_", None)
    if not isinstance(history, dict):
        return None
    for source in ESTIMATE_SOURCES:
        record = history.get(source)
        if not isinstance(record, dict):
            continue
        score = _number(record.get("cv_score", record.get("score")))
        if score is None:
            continue
        metric = record.get("metric", record.get("scoring"))
        return {"score": score, "ci95": _pair(record.get("cv_ci", record.get("ci95"))),
                "metric": metric if isinstance(metric, str) else None, "source": source}
    return None


def evaluate(model, signals: SignalSet, *, n_bootstrap: int = N_BOOTSTRAP, random_state: int | None = 0) -> dict:
    """Score a fitted model on labelled signals it did not train on, with its training estimate beside.

    Parameters
    ----------
    model : fitted classifier or regressor
        A :class:`~sigxfer.TransferClassifier` (or any estimator with ``predict_proba`` and
        ``classes_``), a :class:`~sigxfer.TransferRegressor` (or any with ``predict``).
    signals : SignalSet
        Held-out signals with labels (classifier) or targets (regressor).
    n_bootstrap : int
        Bootstrap resamples behind the intervals.
    random_state : int, optional
        Seed of the bootstrap.

    Returns
    -------
    dict of plain JSON values
        :func:`~sigxfer.evaluation.metrics.classification_summary` or
        :func:`~sigxfer.evaluation.metrics.regression_summary`, plus ``training_estimate`` (see
        :func:`training_estimate`) when the model carries one. :func:`format_summary` prints both.

    Examples
    --------
    >>> from sigxfer import TransferClassifier, make_devices
    >>> from sigxfer.evaluation import format_summary
    >>> model = TransferClassifier(backbone="tinynet", image_size=32, imaging="spectrum", progress=False,
    ...                            strategy={"name": "linear", "C": 1.0}).fit(make_devices(6, seed=0))
    >>> test = make_devices(4, seed=1)
    >>> summary = evaluate(model, test, n_bootstrap=100)
    >>> summary["n"], "training_estimate" in summary
    (8, False)
    >>> model.history_["selection"] = {"cv_score": 0.9, "cv_ci": [0.8, 0.97], "table": []}
    >>> print(format_summary(evaluate(model, test, n_bootstrap=0)).splitlines()[1])
      CV estimate (training) 0.900 (95% CI 0.800-0.970), on the training data; the score above is on unseen cases
    """
    if not isinstance(signals, SignalSet):
        raise ParameterError(f"signals must be a SignalSet (sigxfer.load_signals), not {type(signals).__name__}")
    if signals.y is None:
        raise DataError("evaluation needs labelled data: load a folder of class folders (or pass y=)")
    if hasattr(model, "predict_proba") and not hasattr(model, "classes_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted; fit it (or load a model file) first")
    if hasattr(model, "classes_"):
        proba = np.asarray(model.predict_proba(signals), dtype=np.float64)
        classes = np.asarray(model.classes_)
        summary = classification_summary(signals.y, classes[np.argmax(proba, axis=1)], classes=classes,
                                         proba=proba, names=signals.names, n_bootstrap=n_bootstrap,
                                         random_state=random_state)
    else:
        summary = regression_summary(signals.y, np.asarray(model.predict(signals)), names=signals.names,
                                     n_bootstrap=n_bootstrap, random_state=random_state)
    estimate = training_estimate(model)
    if estimate is not None:
        summary["training_estimate"] = estimate
    return summary
