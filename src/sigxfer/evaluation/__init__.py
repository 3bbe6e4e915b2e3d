"""Measurements users can trust: metrics with intervals, confusion matrices, misclassified cases."""

from sigxfer.evaluation.metrics import classification_summary, format_summary, wilson_interval

__all__ = ["classification_summary", "format_summary", "wilson_interval"]
