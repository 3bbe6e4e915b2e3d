"""Metrics with honest uncertainty: intervals on every headline number, by case.

Small test sets are the norm for signals, so each score comes with a 95% interval: Wilson's for an
accuracy (a proportion), and a percentile bootstrap over test cases for everything else. The
bootstraps are vectorised (all resamples at once), so a thousand of them cost milliseconds.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

from sigxfer.errors import DataError
# Wilson's interval lives beside the fold-score interval, where auto's held-out scores need it too.
from sigxfer.learning.strategies.heads import wilson_interval

#: Bootstrap resamples behind every bootstrap interval; 2000 keeps the 2.5% tail's Monte Carlo
#: error near 0.005 on an accuracy, below the last digit the reports print.
N_BOOTSTRAP = 2000


def bootstrap_interval(values: np.ndarray, *, confidence: float = 0.95) -> list[float]:
    """Percentile interval of bootstrap replicates, ignoring replicates that are NaN.

    Examples
    --------
    >>> [round(v, 3) for v in bootstrap_interval([np.nan, *np.linspace(0.0, 1.0, 101)])]
    [0.025, 0.975]
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [float("nan"), float("nan")]
    tail = 100 * (1 - confidence) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return [float(lo), float(hi)]


def _resample_indices(n: int, n_boot: int, random_state) -> np.ndarray:
    """(n_boot, n) case indices drawn with replacement."""
    rng = np.random.default_rng(random_state)
    return rng.integers(0, n, size=(n_boot, n))


# ---------------------------------------------------------------------------------- classification
def _confusion_counts(true_idx: np.ndarray, pred_idx: np.ndarray, k: int) -> np.ndarray:
    """Confusion matrices of a batch of label rows: (B, n) index arrays -> (B, k, k) counts."""
    b = true_idx.shape[0]
    codes = true_idx * k + pred_idx + (np.arange(b) * k * k)[:, None]
    return np.bincount(codes.ravel(), minlength=b * k * k).reshape(b, k, k)


def _rates(cm: np.ndarray) -> dict:
    """Per-class precision, recall, F1 and their macro averages from (..., k, k) counts.

    A class absent from the true labels has no recall and is left out of the macro averages
    (as in scikit-learn's balanced accuracy); precision of a class never predicted counts as 0.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(np.float64)
        support = cm.sum(axis=-1)
        predicted = cm.sum(axis=-2)
        recall = np.where(support > 0, tp / support, np.nan)
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        precision = np.where(support > 0, precision, np.nan)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        f1 = np.where(support > 0, f1, np.nan)
        return {
            "precision": precision, "recall": recall, "f1": f1,
            "balanced_accuracy": np.nanmean(recall, axis=-1),
            "macro_f1": np.nanmean(f1, axis=-1),
        }


def _binary_auc(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """ROC AUC by the rank-sum formula along the last axis; NaN where one class is missing."""
    ranks = rankdata(scores, axis=-1)  # ties get their average rank, as the AUC's 1/2 for ties needs
    n_pos = positive.sum(axis=-1)
    n_neg = positive.shape[-1] - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (ranks * positive).sum(axis=-1) - n_pos * (n_pos + 1) / 2
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def classification_summary(y_true, y_pred, *, classes, proba=None, names=None,
                           n_bootstrap: int = N_BOOTSTRAP, random_state: int | None = 0) -> dict:
    """Accuracy with 95% intervals, balanced accuracy, macro F1, per-class rates, confusion matrix.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_cases,)
    classes : array-like
        Class labels in the order of the confusion matrix rows/columns and of ``proba``'s columns.
    proba : ndarray, shape (n_cases, n_classes), optional
        Predicted probabilities; gives the ROC AUC when there are two classes.
    names : list of str, optional
        File or case names, reported for misclassified cases.
    n_bootstrap : int
        Resamples of the test cases behind the bootstrap intervals (0: no bootstrap).
    random_state : int, optional
        Seed of the bootstrap.

    Returns
    -------
    dict of plain JSON values
        ``n``, ``accuracy``, ``accuracy_ci95`` (Wilson), ``accuracy_ci95_bootstrap``,
        ``balanced_accuracy`` and ``macro_f1`` with ``_ci95`` (bootstrap), ``roc_auc`` and
        ``roc_auc_ci95`` (two classes with ``proba``, else None), ``per_class`` (list of
        ``{"class", "precision", "recall", "f1", "support"}``), ``classes``, ``confusion_matrix``
        (rows true, columns predicted), ``misclassified`` (list of ``{"index", "name", "true",
        "predicted", "probability"}``).

    Examples
    --------
    >>> s = classification_summary(["a", "a", "b", "b"], ["a", "b", "b", "b"], classes=["a", "b"], n_bootstrap=0)
    >>> s["accuracy"], s["confusion_matrix"], s["misclassified"][0]["name"]
    (0.75, [[1, 1], [0, 2]], 'case-1')
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise DataError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be 1-D and of one length")
    classes = list(np.asarray(classes).tolist())
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    n = int(len(y_true))
    unknown = sorted({str(t) for t in y_true.tolist() if t not in index})
    if unknown:
        raise DataError(
            f"true label(s) {unknown} are not among the model's classes {classes}; "
            "evaluate on data with the training classes only"
        )
    t_idx = np.array([index[t] for t in y_true.tolist()], dtype=np.int64)
    p_idx = np.array([index.get(p, -1) for p in y_pred.tolist()], dtype=np.int64)
    if (p_idx < 0).any():
        raise DataError("a prediction is not among the classes; pass the model's classes_ as classes")
    cm = _confusion_counts(t_idx[None], p_idx[None], k)[0]
    rates = _rates(cm)
    correct = int((t_idx == p_idx).sum())
    accuracy = correct / n if n else float("nan")
    summary = {
        "n": n,
        "accuracy": accuracy,
        "accuracy_ci95": list(wilson_interval(correct, n)),
        "accuracy_ci95_bootstrap": [float("nan"), float("nan")],
        "balanced_accuracy": float(rates["balanced_accuracy"]) if n else float("nan"),
        "balanced_accuracy_ci95": [float("nan"), float("nan")],
        "macro_f1": float(rates["macro_f1"]) if n else float("nan"),
        "macro_f1_ci95": [float("nan"), float("nan")],
        "roc_auc": None,
        "roc_auc_ci95": None,
        "n_bootstrap": int(n_bootstrap),
    }
    scores = None
    if proba is not None and k == 2:
        proba = np.asarray(proba, dtype=np.float64)
        if proba.shape != (n, k):
            raise DataError(f"proba has shape {proba.shape}; expected ({n}, {k}), one column per class")
        scores = proba[:, 1]
        summary["roc_auc"] = float(_binary_auc(scores, t_idx == 1))
    if n_bootstrap and n:
        idx = _resample_indices(n, int(n_bootstrap), random_state)
        boot_cm = _confusion_counts(t_idx[idx], p_idx[idx], k)
        boot = _rates(boot_cm)
        summary["accuracy_ci95_bootstrap"] = bootstrap_interval(np.trace(boot_cm, axis1=1, axis2=2) / n)
        summary["balanced_accuracy_ci95"] = bootstrap_interval(boot["balanced_accuracy"])
        summary["macro_f1_ci95"] = bootstrap_interval(boot["macro_f1"])
        if scores is not None:
            summary["roc_auc_ci95"] = bootstrap_interval(_binary_auc(scores[idx], t_idx[idx] == 1))
    summary["per_class"] = [
        {"class": c, "precision": _num(rates["precision"][i]), "recall": _num(rates["recall"][i]),
         "f1": _num(rates["f1"][i]), "support": int(cm[i].sum()), "predicted": int(cm[:, i].sum())}
        for i, c in enumerate(classes)
    ]
    summary["classes"] = classes
    summary["confusion_matrix"] = cm.tolist()
    names = names if names is not None else [f"case-{i}" for i in range(n)]
    wrong = []
    for i in np.flatnonzero(t_idx != p_idx):
        entry = {"index": int(i), "name": str(names[i]), "true": y_true[i].item(), "predicted": y_pred[i].item()}
        if proba is not None:
            entry["probability"] = {str(c): round(float(proba[i, j]), 4) for j, c in enumerate(classes)}
        wrong.append(entry)
    summary["misclassified"] = wrong
    return summary


def _num(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------- regression
def _regression_scores(t: np.ndarray, p: np.ndarray) -> dict:
    """MAE, RMSE and R² along the last axis (averaged over targets for (..., n, n_targets))."""
    err = p - t
    mae = np.abs(err).mean(axis=-1)
    rmse = np.sqrt((err ** 2).mean(axis=-1))
    ss_res = (err ** 2).sum(axis=-1)
    ss_tot = ((t - t.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.nan)
    return {"mae": mae, "rmse": rmse, "r2": r2}


def regression_summary(y_true, y_pred, *, names=None, n_bootstrap: int = N_BOOTSTRAP,
                       random_state: int | None = 0, n_worst: int = 20) -> dict:
    """MAE, RMSE and R² with 95% bootstrap intervals, and the predicted-vs-true pairs.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_cases,) or (n_cases, n_targets)
        With several targets, each score is the mean over targets.
    names : list of str, optional
        Case names, reported for the worst cases.
    n_bootstrap, random_state
        As in :func:`classification_summary`.
    n_worst : int
        How many of the largest absolute errors to list.

    Returns
    -------
    dict of plain JSON values
        ``n``, ``mae``, ``rmse``, ``r2``, each with ``_ci95``; ``true`` and ``predicted`` (lists,
        for predicted-vs-true plots); ``worst`` (list of ``{"index", "name", "true", "predicted",
        "error"}``).

    Examples
    --------
    >>> s = regression_summary([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 5.0], n_bootstrap=0)
    >>> s["mae"], s["r2"], s["worst"][0]["index"]
    (0.25, 0.8, 3)
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape or t.ndim not in (1, 2):
        raise DataError(f"y_true {t.shape} and y_pred {p.shape} must have one shape, (n,) or (n, n_targets)")
    n = int(t.shape[0])
    if n < 2:
        raise DataError(f"{n} case(s) cannot give a regression score; evaluate on at least two")
    t2 = t.reshape(n, -1).T  # (n_targets, n): scores along the last axis
    p2 = p.reshape(n, -1).T
    point = {key: float(np.nanmean(v)) for key, v in _regression_scores(t2, p2).items()}
    summary: dict = {"n": n, "n_targets": int(t2.shape[0]), "n_bootstrap": int(n_bootstrap)}
    for key, value in point.items():
        summary[key] = value if math.isfinite(value) else None
        summary[f"{key}_ci95"] = [float("nan"), float("nan")]
    if n_bootstrap:
        idx = _resample_indices(n, int(n_bootstrap), random_state)  # (B, n)
        boot = _regression_scores(t2[:, idx], p2[:, idx])  # (n_targets, B)
        for key, values in boot.items():
            with np.errstate(invalid="ignore"):
                summary[f"{key}_ci95"] = bootstrap_interval(np.nanmean(values, axis=0) if values.shape[0] > 1
                                                            else values[0])
    names = names if names is not None else [f"case-{i}" for i in range(n)]
    abs_err = np.abs(p.reshape(n, -1) - t.reshape(n, -1)).mean(axis=1)
    order = np.argsort(-abs_err, kind="stable")[:n_worst]
    summary["worst"] = [{"index": int(i), "name": str(names[i]), "true": t[i].tolist(),
                         "predicted": p[i].tolist(), "error": float(abs_err[i])} for i in order]
    summary["true"] = t.tolist()
    summary["predicted"] = p.tolist()
    return summary


# ---------------------------------------------------------------------------------- text
#: How a model's own cross-validation estimate from training is labelled wherever it is shown.
ESTIMATE_LABEL = "CV estimate (training)"


def format_estimate(estimate: dict | None, *, digits: int = 3) -> str:
    """``"0.910 (95% CI 0.840-0.960)"``, led by the metric's name when the estimate states one; "" for None.

    ``estimate`` is the dict of :func:`sigxfer.evaluation.scoring.training_estimate`.

    Examples
    --------
    >>> format_estimate({"score": 0.91, "ci95": [0.84, 0.96], "metric": "accuracy", "source": "selection"})
    'accuracy 0.910 (95% CI 0.840-0.960)'
    >>> format_estimate(None)
    ''
    """
    if not estimate:
        return ""
    text = f"{estimate['score']:.{digits}f}"
    if estimate.get("metric"):
        text = f"{estimate['metric']} {text}"
    ci = estimate.get("ci95")
    if ci:
        text += f" (95% CI {ci[0]:.{digits}f}-{ci[1]:.{digits}f})"
    return text


def _ci(pair) -> str:
    if pair is None or any(v is None or not math.isfinite(v) for v in pair):
        return "n/a"
    return f"{pair[0]:.3f}-{pair[1]:.3f}"


def _short(value) -> str:
    return ", ".join(f"{v:.4g}" for v in np.atleast_1d(value))


def format_summary(summary: dict, *, title: str = "", max_wrong: int = 10) -> str:
    """A readable block of text: scores with intervals, confusion matrix, misclassified files.

    Takes the dict of :func:`classification_summary` or :func:`regression_summary`; a
    ``training_estimate`` in it (see :func:`sigxfer.evaluation.scoring.evaluate`) is printed
    under the headline score.

    Examples
    --------
    >>> s = classification_summary(["a", "a", "b", "b"], ["a", "b", "b", "b"], classes=["a", "b"], n_bootstrap=0)
    >>> print(format_summary(s).splitlines()[0])
      accuracy 0.750  (95% CI 0.301-0.954, n=4)  balanced 0.750
    """
    lines = [title] if title else []
    estimate = format_estimate(summary.get("training_estimate"))
    estimate = f"  {ESTIMATE_LABEL} {estimate}, on the training data; the score above is on unseen cases" \
        if estimate else ""
    if "r2" in summary:
        for key, label in (("r2", "R²"), ("mae", "MAE"), ("rmse", "RMSE")):
            value = summary[key]
            text = f"{value:.4g}" if value is not None else "n/a"
            lines.append(f"  {label:<5}{text:>10}  (95% CI {_ci(summary[key + '_ci95'])}, bootstrap)")
        if estimate:
            lines.insert(len(lines) - 2, estimate)
        lines.append(f"  n={summary['n']}")
        worst = summary.get("worst", [])[:max_wrong]
        if worst:
            lines.append("  largest errors:")
            lines.extend(f"    {w['name']}: true {_short(w['true'])}, predicted {_short(w['predicted'])}"
                         for w in worst[:5])
        return "\n".join(lines)
    lo, hi = summary["accuracy_ci95"]
    lines.append(f"  accuracy {summary['accuracy']:.3f}  (95% CI {lo:.3f}-{hi:.3f}, n={summary['n']})"
                 f"  balanced {summary['balanced_accuracy']:.3f}")
    if estimate:
        lines.append(estimate)
    if "macro_f1" in summary:
        auc = summary.get("roc_auc")
        auc_text = f"  ROC AUC {auc:.3f} ({_ci(summary['roc_auc_ci95'])})" if auc is not None else ""
        lines.append(f"  macro F1 {summary['macro_f1']:.3f}  (95% CI {_ci(summary['macro_f1_ci95'])}){auc_text}")
    classes = [str(c) for c in summary["classes"]]
    width = max(8, *(len(c) for c in classes)) + 1
    lines.append("  confusion matrix (rows: true, columns: predicted)")
    lines.append("  " + " " * width + "".join(c.rjust(width) for c in classes))
    for c, row in zip(classes, summary["confusion_matrix"]):
        lines.append("  " + c.rjust(width) + "".join(str(v).rjust(width) for v in row))
    wrong = summary["misclassified"]
    if wrong:
        lines.append(f"  misclassified ({len(wrong)}):")
        for w in wrong[:max_wrong]:
            lines.append(f"    {w['name']}: true {w['true']}, predicted {w['predicted']}")
        if len(wrong) > max_wrong:
            lines.append(f"    ... and {len(wrong) - max_wrong} more (see the JSON)")
    else:
        lines.append("  misclassified: none")
    return "\n".join(lines)

