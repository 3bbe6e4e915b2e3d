"""Scoring on held-out cases: one split, or repeated k-fold cross-validation with an honest spread.

On a 40-recording dataset one train/test split gives one lucky (or unlucky) number. Repeated k-fold
gives every case a turn in the test set, several times over, and reports the mean with the spread
of the fold scores. Its interval uses Nadeau and Bengio's corrected variance (fold scores share most
of their training data, so the naive standard error is far too small).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.stats import t as student_t
from sklearn.base import clone, is_regressor

from sigxfer._allocator import held
from sigxfer.data.signals import SignalSet
from sigxfer.data.splits import cv_splits
from sigxfer.data.tasks import task_of
from sigxfer.errors import DataError, ParameterError
from sigxfer.evaluation.metrics import N_BOOTSTRAP, classification_summary, regression_summary, wilson_interval

#: The headline score of each task, and the secondary scores kept per fold.
PRIMARY = {"classification": "accuracy", "regression": "r2"}
FOLD_METRICS = {"classification": ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc"),
                "regression": ("r2", "mae", "rmse")}
# Where each metric can lie; intervals are clipped to it.
_BOUNDS = {"accuracy": (0.0, 1.0), "balanced_accuracy": (0.0, 1.0), "macro_f1": (0.0, 1.0),
           "roc_auc": (0.0, 1.0), "r2": (-math.inf, 1.0), "mae": (0.0, math.inf), "rmse": (0.0, math.inf)}


def corrected_interval(scores, *, n_train: int, n_test: int, confidence: float = 0.95) -> list[float]:
    """Interval of a mean of cross-validation scores with the Nadeau–Bengio corrected variance.

    ``mean ± t · sqrt((1/J + n_test/n_train) · s²)`` over J fold scores with sample variance s²
    (Nadeau & Bengio, 2003, "Inference for the generalization error"). The ``n_test/n_train`` term
    accounts for the overlap of the training sets; without it repeated folds look far more certain
    than they are. :func:`summarize_folds` clips it to the metric's range and, for accuracy, widens
    it to at least the Wilson interval of every case tested once.

    Examples
    --------
    >>> [round(v, 3) for v in corrected_interval([0.8, 0.9, 0.85, 0.95], n_train=30, n_test=10)]
    [0.718, 1.032]
    """
    scores = np.asarray([s for s in scores if s is not None and math.isfinite(s)], dtype=np.float64)
    j = scores.size
    if j < 2 or n_train <= 0:
        return [float("nan"), float("nan")]
    variance = (1.0 / j + n_test / n_train) * scores.var(ddof=1)
    half = float(student_t.ppf(0.5 + confidence / 2, j - 1)) * math.sqrt(variance)
    return [float(scores.mean() - half), float(scores.mean() + half)]


def fit_and_predict(estimator, train: SignalSet, test: SignalSet, *, task: str, classes=None) -> dict:
    """Fit a fresh clone of ``estimator`` on ``train``, predict ``test``, time both.

    Returns
    -------
    dict
        ``estimator`` (the fitted clone), ``predicted`` (labels or values), ``proba`` (n_test,
        n_classes) in the order of ``classes`` or None, ``fit_seconds``, ``predict_seconds`` (wall
        clock) and ``fit_cpu_seconds``, ``predict_cpu_seconds`` (this process's CPU time, all
        threads: steadier than wall time on a shared machine).

    Examples
    --------
    >>> from sigxfer import make_devices
    >>> from sigxfer.evaluation.baselines import PixelNaiveBayes
    >>> signals = make_devices(6, seed=0)
    >>> est = PixelNaiveBayes(imaging="spectrum", image_size=16)
    >>> result = fit_and_predict(est, signals[::2], signals[1::2], task="classification", classes=["high", "low"])
    >>> result["proba"].shape, hasattr(est, "model_")  # the estimator given stays unfitted
    ((6, 2), False)
    """
    model = clone(estimator)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(train, train.y)
    fit_seconds, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    proba = None
    if task == "classification" and hasattr(model, "predict_proba"):
        raw = np.asarray(model.predict_proba(test), dtype=np.float64)
        own = np.asarray(model.classes_)
        predicted = own[np.argmax(raw, axis=1)]
        if classes is not None:
            # The model may know fewer classes than the data (one absent from its training fold).
            position = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
            proba = np.zeros((len(test), len(position)))
            for j, c in enumerate(own.tolist()):
                proba[:, position[c]] = raw[:, j]
        else:
            proba = raw
    else:
        predicted = np.asarray(model.predict(test))
    predict_seconds, predict_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"estimator": model, "predicted": predicted, "proba": proba, "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds, "fit_cpu_seconds": fit_cpu, "predict_cpu_seconds": predict_cpu}


def score_fold(task: str, test: SignalSet, result: dict, *, classes=None, n_bootstrap: int = 0,
               random_state: int | None = 0) -> dict:
    """The summary of one fold (:func:`classification_summary` or :func:`regression_summary`).

    Examples
    --------
    >>> from sigxfer import SignalSet
    >>> test = SignalSet(np.zeros((3, 1, 16), np.float32), y=["a", "b", "b"])
    >>> score_fold("classification", test, {"predicted": np.array(["a", "b", "a"]), "proba": None},
    ...            classes=["a", "b"])["accuracy"]
    0.6666666666666666
    """
    if task == "classification":
        return classification_summary(test.y, result["predicted"], classes=classes, proba=result["proba"],
                                      names=test.names, n_bootstrap=n_bootstrap, random_state=random_state)
    return regression_summary(test.y, result["predicted"], names=test.names, n_bootstrap=n_bootstrap,
                              random_state=random_state)


def summarize_folds(task: str, folds: list[dict], *, n_cases: int, confidence: float = 0.95) -> dict:
    """Mean, standard deviation and corrected interval of each fold metric.

    Parameters
    ----------
    folds : list of dict
        Per fold: ``n_train``, ``n_test``, ``fit_seconds``, ``predict_seconds`` and the scores of
        :data:`FOLD_METRICS`.
    n_cases : int
        Cases in the cross-validated set.

    Examples
    --------
    >>> folds = [{"n_train": 8, "n_test": 4, "accuracy": a} for a in (0.75, 1.0, 0.75)]
    >>> s = summarize_folds("classification", folds, n_cases=12)
    >>> round(s["accuracy"]["mean"], 3), round(s["accuracy"]["sd"], 3)
    (0.833, 0.144)
    """
    n_train = float(np.mean([f["n_train"] for f in folds]))
    n_test = float(np.mean([f["n_test"] for f in folds]))
    out = {"n_folds": len(folds), "n_cases": int(n_cases), "n_train": n_train, "n_test": n_test}
    for key in (*FOLD_METRICS[task], "fit_seconds", "predict_seconds", "fit_cpu_seconds", "predict_cpu_seconds"):
        values = [f.get(key) for f in folds]
        values = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
        if values.size == 0:
            out[key] = {"mean": None, "sd": None, "ci95": None}
            continue
        ci = corrected_interval(values, n_train=n_train, n_test=n_test, confidence=confidence)
        low, high = _BOUNDS.get(key, (0.0, math.inf))
        ci = [min(max(v, low), high) if math.isfinite(v) else v for v in ci]
        if key == "accuracy":
            # Folds that all score alike give a zero-width t interval; a cross-validation cannot know
            # more than testing every case once, so the interval is never narrower than Wilson's.
            wilson = wilson_interval(round(float(values.mean()) * n_cases), int(n_cases), confidence=confidence)
            ci = [min(ci[0], wilson[0]), max(ci[1], wilson[1])] if all(map(math.isfinite, ci)) else list(wilson)
        out[key] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if values.size > 1 else 0.0,
                    "ci95": ci}
    return out


def fold_record(task: str, summary: dict, result: dict, *, n_train: int, repeat: int, fold: int) -> dict:
    """The per-fold numbers kept in results: scores, sizes and times.

    Examples
    --------
    >>> times = {"fit_seconds": 1.0, "predict_seconds": 0.1, "fit_cpu_seconds": 1.0, "predict_cpu_seconds": 0.1}
    >>> fold_record("regression", {"n": 4, "r2": 0.5, "mae": 1.0, "rmse": 1.2}, times, n_train=12,
    ...             repeat=0, fold=2)["r2"]
    0.5
    """
    record = {"repeat": repeat, "fold": fold, "n_train": int(n_train), "n_test": int(summary["n"])}
    for key in ("fit_seconds", "predict_seconds", "fit_cpu_seconds", "predict_cpu_seconds"):
        record[key] = result[key]
    for key in FOLD_METRICS[task]:
        record[key] = summary.get(key)
    return record


@held()
def cross_validate(estimator, signals: SignalSet, *, cv: int = 5, repeats: int = 1, groups=None,
                   random_state: int | None = 0, echo=None) -> dict:
    """Repeated (stratified, group-aware) k-fold cross-validation of an estimator on signals.

    Parameters
    ----------
    estimator : TransferClassifier, TransferRegressor or any scikit-learn estimator on signals
        Cloned for every fold; the original is left unfitted.
    signals : SignalSet
        Labelled (or targeted) cases.
    cv : int
        Folds per repeat.
    repeats : int
        Repeats, each a fresh shuffle.
    groups : array-like, optional
        Group id per case (recording, machine, subject); a group never spans train and test.
    random_state : int, optional
        Seeds the folds.
    echo : callable, optional
        Receives one line of progress per fold.

    Returns
    -------
    dict of plain JSON values
        ``task``, ``cv``, ``repeats``, ``folds`` (per-fold scores and times), ``summary`` (mean,
        sd and corrected 95% interval per metric), and ``pooled``: the summary of all out-of-fold
        predictions of the first repeat (each case predicted once; for the confusion matrix).

    Examples
    --------
    >>> from sigxfer import make_devices
    >>> from sigxfer.evaluation.baselines import PixelNaiveBayes
    >>> result = cross_validate(PixelNaiveBayes(imaging="spectrum", image_size=16), make_devices(6, seed=0),
    ...                         cv=3, repeats=2)
    >>> len(result["folds"]), result["pooled"]["n"]
    (6, 12)
    """
    if not isinstance(signals, SignalSet):
        raise ParameterError(f"cross_validate needs a SignalSet, not {type(signals).__name__}")
    if signals.y is None:
        raise DataError("cross-validation needs labels or targets; load a folder of class folders or pass y=")
    # A regressor regresses whole-number targets (ages, counts) too; labels alone cannot tell.
    task = task_of(signals.y, task="regression" if is_regressor(estimator) else None)
    classes = np.unique(signals.y) if task == "classification" else None
    splits = cv_splits(signals, n_splits=cv, n_repeats=repeats, random_state=random_state, groups=groups,
                       stratify=task == "classification")
    folds, first_pred, first_proba = [], None, None
    for i, (train_idx, test_idx) in enumerate(splits):
        repeat, fold = divmod(i, cv)
        train, test = signals[train_idx], signals[test_idx]
        result = fit_and_predict(estimator, train, test, task=task, classes=classes)
        summary = score_fold(task, test, result, classes=classes)
        folds.append(fold_record(task, summary, result, n_train=len(train), repeat=repeat, fold=fold))
        if repeat == 0:
            if first_pred is None:
                first_pred = np.empty(len(signals), dtype=np.asarray(result["predicted"]).dtype)
                first_proba = None if result["proba"] is None else np.zeros((len(signals), len(classes)))
            first_pred[test_idx] = result["predicted"]
            if first_proba is not None:
                first_proba[test_idx] = result["proba"]
        if echo is not None:
            echo(f"  fold {i + 1}/{len(splits)} (repeat {repeat + 1}, fold {fold + 1}): "
                 f"{PRIMARY[task]} {summary[PRIMARY[task]]:.3f}, fit {result['fit_seconds']:.1f} s")
    pooled = (classification_summary(signals.y, first_pred, classes=classes, proba=first_proba,
                                     names=signals.names, n_bootstrap=N_BOOTSTRAP)
              if task == "classification" else
              regression_summary(signals.y, first_pred, names=signals.names))
    return {"task": task, "cv": cv, "repeats": repeats, "random_state": random_state,
            "grouped": groups is not None, "folds": folds,
            "summary": summarize_folds(task, folds, n_cases=len(signals)), "pooled": pooled}


def format_cv(result: dict, *, title: str = "") -> str:
    """Mean ± sd and corrected interval of each metric of :func:`cross_validate`, as text.

    Examples
    --------
    >>> print(format_cv(result, title="pixels"))  # doctest: +SKIP
    pixels
      2 x 3-fold cross-validation on 12 cases:
        accuracy           0.917 ± 0.129  (95% CI 0.646-1.000, corrected)
    ...
    """
    lines = [title] if title else []
    s = result["summary"]
    lines.append(f"  {result['repeats']} x {result['cv']}-fold cross-validation on {s['n_cases']} cases"
                 f"{' (group-aware)' if result.get('grouped') else ''}:")
    for key in FOLD_METRICS[result["task"]] + ("fit_seconds",):
        m = s.get(key) or {}
        if m.get("mean") is None:
            continue
        ci = m.get("ci95")
        ci_text = (f"  (95% CI {ci[0]:.3f}-{ci[1]:.3f}, corrected)"
                   if ci and all(v is not None and math.isfinite(v) for v in ci) else "")
        lines.append(f"    {key:<18} {m['mean']:.3f} ± {m['sd']:.3f}{ci_text if key != 'fit_seconds' else ''}")
    return "\n".join(lines)
