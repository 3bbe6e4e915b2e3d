"""Measurements users can trust: metrics with intervals, cross-validation, comparisons, reports.

- :mod:`.metrics`: accuracy with Wilson and bootstrap intervals, balanced accuracy, macro F1,
  per-class rates, ROC AUC, confusion matrix; MAE, RMSE, R² with bootstrap intervals.
- :mod:`.scoring`: a fitted model's test score beside its own cross-validation estimate from training.
- :mod:`.cv`: repeated (stratified, group-aware) k-fold with a corrected interval.
- :mod:`.contenders`: the named built-in contenders (registry) and how estimators join them.
- :mod:`.compare`: transfer against scratch, raw pixels, frozen features, MiniRocket and any
  estimator, on identical splits; :mod:`.results` holds the :class:`Comparison` it returns.
- :mod:`.report`: one self-contained HTML file with figures (sections in :mod:`.report_sections`).
"""

from sigxfer.evaluation.compare import compare
from sigxfer.evaluation.contenders import Contender, list_contenders, register_contender
from sigxfer.evaluation.cv import cross_validate
from sigxfer.evaluation.metrics import (
    bootstrap_interval,
    classification_summary,
    format_summary,
    regression_summary,
    wilson_interval,
)
from sigxfer.evaluation.report import build_report, write_report
from sigxfer.evaluation.results import Comparison, read_comparison
from sigxfer.evaluation.scoring import evaluate, training_estimate

__all__ = [
    "Comparison",
    "Contender",
    "bootstrap_interval",
    "build_report",
    "classification_summary",
    "compare",
    "cross_validate",
    "evaluate",
    "format_summary",
    "list_contenders",
    "read_comparison",
    "register_contender",
    "regression_summary",
    "training_estimate",
    "wilson_interval",
    "write_report",
]
