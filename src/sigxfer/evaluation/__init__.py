"""Measurements users can trust: metrics with intervals, cross-validation, comparisons, reports.

- :mod:`.metrics`: accuracy with Wilson and bootstrap intervals, balanced accuracy, macro F1,
  per-class rates, ROC AUC, confusion matrix; MAE, RMSE, R² with bootstrap intervals.
- :mod:`.cv`: repeated (stratified, group-aware) k-fold with a corrected interval.
- :mod:`.compare`: transfer against scratch, raw pixels, frozen features and MiniRocket.
- :mod:`.report`: one self-contained HTML file with figures.
"""

from sigxfer.evaluation.compare import Comparison, compare, list_contenders, register_contender
from sigxfer.evaluation.cv import cross_validate
from sigxfer.evaluation.metrics import (
    bootstrap_interval,
    classification_summary,
    format_summary,
    regression_summary,
    wilson_interval,
)
from sigxfer.evaluation.report import build_report, write_report

__all__ = [
    "Comparison",
    "bootstrap_interval",
    "build_report",
    "classification_summary",
    "compare",
    "cross_validate",
    "format_summary",
    "list_contenders",
    "register_contender",
    "regression_summary",
    "wilson_interval",
    "write_report",
]
