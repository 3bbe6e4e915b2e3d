"""One self-contained HTML report of a model on labelled data.

Everything is inside the file: figures are base64 PNGs, the style is inline, and there is no script
and no external address, so the report opens offline, can be mailed, and renders the same years
later. Sections (built in :mod:`sigxfer.evaluation.report_sections`): the data at a glance, example
images as the network sees them, training, scores with intervals (beside the model's own
cross-validation estimate from training, when it carries one), the confusion matrix (each cell
links to its cases), the misclassified cases with their images and probabilities, the comparison
table when there is one, and the configuration.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

from sigxfer.data.signals import SignalSet
from sigxfer.errors import DataError, NotFittedError, ParameterError
from sigxfer.evaluation import report_sections as parts
from sigxfer.evaluation.io import to_json_text
from sigxfer.evaluation.metrics import ESTIMATE_LABEL, N_BOOTSTRAP, classification_summary, regression_summary
from sigxfer.evaluation.results import Comparison, read_comparison
from sigxfer.evaluation.scoring import training_estimate

_CSS = """
:root { --ink: #1d2433; --muted: #5b6475; --line: #dde2ea; --soft: #f4f6fa; --accent: #1f77b4;
        --good: #2ca02c; --bad: #d62728; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #fff; }
header { background: var(--ink); color: #fff; padding: 18px 28px 12px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #c9d1e0; font-size: 13px; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: 8px 28px;
      z-index: 2; font-size: 13px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
main { max-width: 1120px; margin: 0 auto; padding: 8px 28px 48px; }
section { padding-top: 12px; border-bottom: 1px solid var(--line); padding-bottom: 16px; }
h2 { font-size: 19px; margin: 18px 0 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
p.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; }
img.figure { max-width: 100%; height: auto; display: block; margin: 6px 0; }
img.fixed { max-width: none; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 10px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; min-width: 170px;
        background: var(--soft); }
.card .value { font-size: 24px; font-weight: 650; }
.card .label { color: var(--muted); font-size: 12px; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 12px; }
.case { border: 1px solid var(--line); border-radius: 8px; padding: 8px; background: #fff; }
.case:target { outline: 3px solid var(--accent); }
.case img { width: 100%; height: auto; image-rendering: pixelated; display: block; border-radius: 4px; }
.case .name { font-size: 12px; word-break: break-all; margin: 4px 0; }
.case .verdict { font-size: 13px; }
.bar { display: flex; align-items: center; gap: 6px; font-size: 11px; margin: 2px 0; }
.bar .track { flex: 1; height: 8px; background: var(--soft); border-radius: 4px; overflow: hidden; }
.bar .fill { height: 100%; background: var(--muted); }
.bar .fill.true { background: var(--good); }
.bar .fill.pred { background: var(--bad); }
.bar .cls { width: 64px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.cell { scroll-margin-top: 48px; margin: 8px 0; }
.cell:target { background: #fff7d6; }
details.cell summary { cursor: pointer; }
.cell.empty { color: var(--muted); font-size: 13px; margin: 2px 0; }
ul.names { columns: 3 220px; font-size: 12px; margin: 4px 0; padding-left: 18px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px; font-size: 12px;
      overflow-x: auto; max-height: 480px; }
.ok { color: var(--good); } .failed { color: var(--bad); }
"""



def model_config(model) -> dict:
    """What a fitted estimator records about itself, as plain JSON values (as in its model file).

    Examples
    --------
    >>> model_config(model)["history"]["strategy"]["name"]  # doctest: +SKIP
    'linear'
    """
    if not hasattr(model, "net_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted; fit it (or load a model file) first")
    return model._fitted_state()[0]


# ----------------------------------------------------------------------------------- assembly
def build_report(model, signals: SignalSet, *, comparison=None, config: dict | None = None,
                 title: str | None = None, data_name: str | None = None, model_name: str | None = None,
                 per_class: int = 4, max_gallery: int = 60, n_bootstrap: int = N_BOOTSTRAP,
                 command: str | None = None) -> str:
    """The HTML text of the report of ``model`` on ``signals``.

    Parameters
    ----------
    model : TransferClassifier or TransferRegressor
        Fitted (or loaded with :func:`sigxfer.load`).
    signals : SignalSet
        Labelled data the model did not train on (the report cannot check that).
    comparison : Comparison, optional
        From :func:`sigxfer.evaluation.compare.compare` or :func:`read_comparison`.
    config : dict, optional
        The model's full configuration (``sigxfer.deploy.read_config(path)``); taken from the
        model when None.
    title, data_name, model_name : str, optional
        Shown in the header.
    per_class : int
        Example images per class.
    max_gallery : int
        Most misclassified (or worst-predicted) cases shown with images; all are listed by name.
    n_bootstrap : int
        Bootstrap resamples behind the intervals.
    command : str, optional
        The command that made the report, shown for reproduction.

    Returns
    -------
    str
        A complete HTML document with no external references. When the model carries its own
        cross-validation estimate from training (``history["selection"]``, see
        :func:`~sigxfer.evaluation.scoring.training_estimate`), it is shown beside the test score.

    Examples
    --------
    >>> from sigxfer import TransferClassifier, make_devices
    >>> model = TransferClassifier(backbone="tinynet", image_size=32, imaging="spectrum", progress=False,
    ...                            strategy={"name": "linear", "C": 1.0}).fit(make_devices(6, seed=0))
    >>> text = build_report(model, make_devices(4, seed=1), n_bootstrap=100)  # doctest: +SKIP
    >>> text.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
    """
    if not isinstance(signals, SignalSet):
        raise ParameterError(f"signals must be a SignalSet (sigxfer.load_signals), not {type(signals).__name__}")
    if signals.y is None:
        raise DataError("the report needs labelled data: load a folder of class folders (or pass y=)")
    if max_gallery < 0 or per_class < 1:
        raise ParameterError("max_gallery must be >= 0 and per_class >= 1")
    if comparison is not None and not isinstance(comparison, Comparison):
        raise ParameterError(f"comparison must be a Comparison (sigxfer.evaluation.read_comparison), "
                             f"not {type(comparison).__name__}")
    config = config if config is not None else model_config(model)
    estimate = training_estimate(config.get("history") or getattr(model, "history_", None))
    classification = hasattr(model, "classes_")
    e, ci = parts.escape, parts.ci
    sections: list[tuple[str, str, str]] = [
        ("data", "The data at a glance", parts.overview(signals, classification)),
        ("images", "Images as the network sees them", parts.examples(model, signals, per_class, classification)),
        ("training", "Training", parts.training(config.get("history"))),
    ]
    if classification:
        proba = model.predict_proba(signals)
        classes = model.classes_
        pred = classes[np.argmax(proba, axis=1)]
        summary = classification_summary(signals.y, pred, classes=classes, proba=proba, names=signals.names,
                                         n_bootstrap=n_bootstrap)
        wrong = np.array([w["index"] for w in summary["misclassified"]], dtype=int)
        # The least confident mistakes teach the least; show the most confident first.
        if len(wrong):
            wrong = wrong[np.argsort(-proba[wrong].max(axis=1), kind="stable")]
        shown = wrong[:max_gallery]
        headline = f"accuracy {summary['accuracy']:.3f} (95% CI {ci(summary['accuracy_ci95'])}), n = {summary['n']}"
        sections.append(("scores", "Scores", parts.classification_scores(summary, estimate)))
        sections.append(("confusion", "Confusion matrix",
                         parts.confusion(summary, signals, pred, set(shown.tolist()))))
        more = (f'<p class="note">Showing {len(shown)} of {len(wrong)} misclassified cases, most confident first; '
                "all are listed under the confusion matrix.</p>" if len(wrong) > len(shown) else
                f'<p class="note">{len(wrong)} misclassified case(s), most confident mistake first.</p>')
        more += ('<p class="note">Bars: the model\'s probabilities; <span class="ok">green</span> the true class, '
                 '<span class="failed">red</span> the predicted one.</p>')
        sections.append(("mistakes", "Misclassified cases",
                         more + parts.gallery(model, signals, shown, pred=pred, proba=proba, classes=classes)))
    else:
        pred = np.asarray(model.predict(signals))
        summary = regression_summary(signals.y, pred, names=signals.names, n_bootstrap=n_bootstrap,
                                     n_worst=max_gallery)
        headline = f"R² {parts.fmt(summary['r2'])} (95% CI {ci(summary['r2_ci95'])}), n = {summary['n']}"
        sections.append(("scores", "Scores", parts.regression_scores(summary, estimate)))
        worst = np.array([w["index"] for w in summary["worst"]], dtype=int)
        sections.append(("mistakes", "Largest errors", parts.gallery(
            model, signals, worst, pred=np.round(pred, 4), proba=None, classes=None)))
    if estimate is not None:
        headline += f"; {ESTIMATE_LABEL} {parts.fmt(estimate['score'])}"
    if comparison is not None:
        sections.append(("comparison", "Comparison with the alternatives", parts.comparison_table(comparison)))
    sections.append(("config", "Configuration for reproduction", _reproduction(config, command)))

    from sigxfer._version import __version__

    title = title or f"sigxfer report: {model_name or config.get('estimator', 'model')}"
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sub = " · ".join(e(x) for x in (model_name and f"model {model_name}", data_name and f"data {data_name}",
                                      headline, f"sigxfer {__version__}", when) if x)
    nav = "".join(f'<a href="#{key}">{e(heading)}</a>' for key, heading, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{e(heading)}</h2>{content}</section>'
                   for key, heading, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{e(title)}</title><style>{_CSS}</style></head>'
            f"<body><header><h1>{e(title)}</h1><p>{sub}</p></header><nav>{nav}</nav><main>{body}</main>"
            f"</body></html>\n")


def _reproduction(config: dict, command: str | None) -> str:
    e = parts.escape
    text = f"<h3>Command</h3><pre>{e(command)}</pre>" if command else ""
    params = config.get("params") or {}
    if params:
        args = "".join(f"\n    {k}={v!r}," for k, v in params.items()) + "\n"
        estimator = e(config.get("estimator", "TransferClassifier"))
        text += (f"<h3>Python</h3><pre>from sigxfer import {estimator}\n"
                 f"model = {estimator}({e(args)})\nmodel.fit(train)</pre>")
    return text + f"<h3>Full configuration</h3><pre>{e(to_json_text(config))}</pre>"


def write_report(model, signals: SignalSet, path, *, overwrite: bool = False, **kwargs) -> Path:
    """Build the report (see :func:`build_report`) and write it atomically to ``path``.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False (checked before any work).

    Examples
    --------
    >>> write_report(model, test, "report.html", comparison=read_comparison("results/cmp"))  # doctest: +SKIP
    PosixPath('report.html')
    """
    from sigxfer._atomic import atomic_write_text, check_output

    path = Path(path)
    check_output(path, overwrite=overwrite)  # before the report's minutes of work
    return atomic_write_text(path, build_report(model, signals, **kwargs), overwrite=overwrite)


__all__ = ["build_report", "model_config", "read_comparison", "write_report"]
