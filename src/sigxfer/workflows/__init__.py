"""Whole tasks as one call each: what the ``sigxfer`` commands run, for scripts too.

Each workflow takes data by name (a folder, ``ucr:NAME``, a targets table) or as signals in
memory, checks every output before the first second of work, and reports through ``echo``:

- :func:`train_and_report`: fit, score on held-out cases, save (``sigxfer train``);
- :func:`evaluate_model` and :func:`report_model`: score a saved model (``evaluate``, ``report``);
- :func:`compare_data`: transfer against the alternatives (``compare``);
- :func:`render_signals`: the pictures the network sees (``render``);
- :func:`describe_model`, :func:`describe_weights`: what a model file holds (``info``).
"""

from sigxfer.workflows.comparing import compare_data
from sigxfer.workflows.models import describe_model, describe_weights
from sigxfer.workflows.rendering import render_signals
from sigxfer.workflows.scoring import evaluate_model, report_model
from sigxfer.workflows.training import train_and_report

__all__ = [
    "compare_data",
    "describe_model",
    "describe_weights",
    "evaluate_model",
    "render_signals",
    "report_model",
    "train_and_report",
]
