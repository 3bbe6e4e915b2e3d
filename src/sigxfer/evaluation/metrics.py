"""Classification metrics with honest uncertainty."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (accuracy) of ``successes`` out of ``n``.

    Preferred to the normal approximation on small test sets: it never leaves [0, 1] and stays
    sensible at 0 and 100% (30/30 correct gives about 0.89–1.0, not 1.0 ± 0).
    """
    if n == 0:
        return (float("nan"), float("nan"))
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def classification_summary(y_true, y_pred, *, classes, proba=None, names=None) -> dict:
    """Accuracy with its 95% Wilson interval, confusion matrix and the misclassified cases.

    Parameters
    ----------
    y_true, y_pred : array-like, shape (n_cases,)
    classes : array-like
        Class labels in the order of the confusion matrix rows/columns and of ``proba``'s columns.
    proba : ndarray, shape (n_cases, n_classes), optional
    names : list of str, optional
        File or case names, reported for misclassified cases.

    Returns
    -------
    dict of plain JSON values
        ``n``, ``accuracy``, ``accuracy_ci95``, ``balanced_accuracy``, ``classes``,
        ``confusion_matrix`` (rows true, columns predicted), ``misclassified`` (list of
        ``{"name", "true", "predicted", "probability"}``).
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    classes = list(np.asarray(classes).tolist())
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        if t in index and p in index:
            cm[index[t], index[p]] += 1
    n = int(len(y_true))
    correct = int((y_true == y_pred).sum())
    recalls = [cm[i, i] / cm[i].sum() for i in range(k) if cm[i].sum() > 0]
    names = names if names is not None else [f"case-{i}" for i in range(n)]
    wrong = []
    for i in np.flatnonzero(y_true != y_pred):
        entry = {"name": str(names[i]), "true": y_true[i].item(), "predicted": y_pred[i].item()}
        if proba is not None:
            entry["probability"] = {str(c): round(float(proba[i, j]), 4) for j, c in enumerate(classes)}
        wrong.append(entry)
    lo, hi = wilson_interval(correct, n)
    return {
        "n": n,
        "accuracy": correct / n if n else float("nan"),
        "accuracy_ci95": [lo, hi],
        "balanced_accuracy": float(np.mean(recalls)) if recalls else float("nan"),
        "classes": classes,
        "confusion_matrix": cm.tolist(),
        "misclassified": wrong,
    }


def format_summary(summary: dict, *, title: str = "", max_wrong: int = 10) -> str:
    """A readable block of text: accuracy with interval, confusion matrix, misclassified files."""
    lo, hi = summary["accuracy_ci95"]
    lines = []
    if title:
        lines.append(title)
    lines.append(f"  accuracy {summary['accuracy']:.3f}  (95% CI {lo:.3f}-{hi:.3f}, n={summary['n']})"
                 f"  balanced {summary['balanced_accuracy']:.3f}")
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
