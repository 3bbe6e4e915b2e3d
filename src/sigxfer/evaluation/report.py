"""One self-contained HTML report of a model on labelled data.

Everything is inside the file: figures are base64 PNGs, the style is inline, and there is no script
and no external address, so the report opens offline, can be mailed, and renders the same years
later. Sections: the data at a glance, example images as the network sees them, training, scores
with intervals, the confusion matrix (each cell links to its cases), the misclassified cases with
their images and probabilities, the comparison table when there is one, and the configuration.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
from pathlib import Path

import numpy as np

from sigxfer._json import to_jsonable as _jsonable
from sigxfer.data.signals import SignalSet
from sigxfer.errors import DataError, NotFittedError, ParameterError
from sigxfer.evaluation import figures
from sigxfer.evaluation.io import to_json_text
from sigxfer.evaluation.metrics import N_BOOTSTRAP, classification_summary, regression_summary

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


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure_html(fig, alt: str, *, usemap: str | None = None, fixed: bool = False) -> str:
    png = figures.png_bytes(fig)
    width, height = int(round(fig.bbox.width)), int(round(fig.bbox.height))
    fig.clf()
    extra = f' usemap="#{_e(usemap)}"' if usemap else ""
    css = "figure fixed" if fixed else "figure"
    return (f'<img class="{css}" src="{_data_uri(png)}" alt="{_e(alt)}" width="{width}" height="{height}"'
            f"{extra}>")


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _ci(pair, digits: int = 3) -> str:
    if not pair or any(v is None or not np.isfinite(v) for v in pair):
        return "n/a"
    return f"{pair[0]:.{digits}f}–{pair[1]:.{digits}f}"


def _table(head: list[str], rows: list[list], *, numeric: set[int] = frozenset()) -> str:
    cells = "".join(f'<th class="num">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
                    for i, h in enumerate(head))
    body = []
    for row in rows:
        body.append("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                     for i, c in enumerate(row)) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{cells}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'




def model_config(model) -> dict:
    """What a fitted estimator records about itself, as plain JSON values (as in its model file)."""
    if not hasattr(model, "net_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted; fit it (or load a model file) first")
    return model._fitted_state()[0]


# ----------------------------------------------------------------------------------- sections
def _overview(signals: SignalSet, classification: bool) -> str:
    sr = signals.sr
    duration = f"{signals.n_timepoints / sr:.3g} s" if sr else "unknown (no sample rate)"
    facts = [["cases", str(len(signals))], ["channels", str(signals.n_channels)],
             ["samples per channel", str(signals.n_timepoints)],
             ["sample rate", f"{sr:g} Hz" if sr else "unknown"], ["duration", duration]]
    shape = getattr(signals, "image_shape", None)
    if shape is not None:  # pictures: no samples or rate to speak of; the examples show them
        facts = [["cases", str(len(signals))], ["pictures", f"{shape[0]} × {shape[1]} pixels, RGB"]]
    if classification:
        classes, counts = np.unique(signals.y, return_counts=True)
        facts.append(["classes", ", ".join(f"{_e(c)} ({n})" for c, n in zip(classes, counts))])
    else:
        y = np.asarray(signals.y, dtype=float)
        facts.append(["targets", f"{y.min():.4g} to {y.max():.4g} (mean {y.mean():.4g})"])
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{v if k == 'classes' else _e(v)}</td></tr>" for k, v in facts)
    if shape is not None:
        return f"<table>{rows}</table>"
    fig_y = signals.y if classification else None
    fig = figures.dataset_figure(signals.X, fig_y, sr=sr)
    return (f"<table>{rows}</table>" + _figure_html(fig, "cases per class and an example signal of each class"))


def _examples(model, signals: SignalSet, per_class: int, classification: bool) -> str:
    # A regressor's cases form one row, in the order given.
    y = signals.y if classification else np.full(len(signals), "examples")
    pick = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])
    subset = signals[pick]
    try:
        from sigxfer.imaging.render import contact_sheet
    except ImportError:
        contact_sheet = None
    if contact_sheet is not None:
        fig = contact_sheet(model.net_.imager, subset.X, y[pick], per_class=per_class)
    else:
        fig = figures.picture_grid(model.to_images(subset), y[pick], per_class=per_class)
    imager = model.net_.imager.get_config()
    note = (f"{imager['transform']} {imager['params']}, {imager['size'][0]}×{imager['size'][1]} pixels, "
            f"fixed scale {[round(v, 3) for v in imager['scale']]} fitted on the training data.")
    return f'<p class="note">{_e(note)}</p>' + _figure_html(fig, "example images per class")


def _training(history: dict | None) -> str:
    if not history:
        return '<p class="note">This model records no training history.</p>'
    parts = []
    epochs = history.get("epochs")
    if epochs:
        parts.append(_figure_html(figures.training_figure(epochs, best_epoch=history.get("best_epoch")),
                                  "training curves"))
        best = history.get("best_epoch")
        if best is not None:
            parts.append(f'<p class="note">Best epoch: {_e(best)} (weights restored from it).</p>')
    else:
        strategy = history.get("strategy", {})
        name = strategy.get("name", "?") if isinstance(strategy, dict) else strategy
        if "C" in history:
            how = (f'was chosen by {history["cv_folds"]}-fold cross-validation on the training data '
                   f'(log-loss {_fmt(history.get("cv_log_loss"))})' if "cv_folds" in history else
                   "was set, not cross-validated")
            parts.append(f'<p>Strategy <b>{_e(name)}</b>: the backbone stays frozen and a logistic-regression head '
                         f'is fitted on its embeddings. There are no epochs; the regularisation '
                         f'C = {history["C"]:.4g} {_e(how)}.</p>')
        elif "alpha" in history:
            parts.append(f'<p>Strategy <b>{_e(name)}</b>: frozen backbone, ridge head with alpha = '
                         f'{history["alpha"]:.4g} chosen by leave-one-out cross-validation.</p>')
        else:
            parts.append(f"<p>Strategy <b>{_e(name)}</b>.</p>")
    scalars = [[_e(k), _e(v if not isinstance(v, float) else f"{v:.4g}")] for k, v in history.items()
               if k != "epochs" and not isinstance(v, (dict, list))]
    if scalars:
        parts.append(_table(["recorded", "value"], scalars))
    return "".join(parts)


def _cards(items: list[tuple[str, str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="value">{_e(v)}</div><div class="label">{_e(label)}<br>{_e(sub)}</div></div>'
        for label, v, sub in items) + "</div>"


def _classification_metrics(s: dict) -> str:
    lo, hi = s["accuracy_ci95"]
    half = (hi - lo) / 2
    cards = [("accuracy", f"{s['accuracy']:.3f} ± {half:.3f}",
              f"95% CI {_ci(s['accuracy_ci95'])} (Wilson), bootstrap {_ci(s['accuracy_ci95_bootstrap'])}, "
              f"n = {s['n']}"),
             ("balanced accuracy", _fmt(s["balanced_accuracy"]), f"95% CI {_ci(s['balanced_accuracy_ci95'])}"),
             ("macro F1", _fmt(s["macro_f1"]), f"95% CI {_ci(s['macro_f1_ci95'])}")]
    if s.get("roc_auc") is not None:
        cards.append(("ROC AUC", _fmt(s["roc_auc"]), f"95% CI {_ci(s['roc_auc_ci95'])}"))
    rows = [[_e(c["class"]), _fmt(c["precision"]), _fmt(c["recall"]), _fmt(c["f1"]), str(c["support"]),
             str(c["predicted"])] for c in s["per_class"]]
    return (_cards(cards) + '<p class="note">Bootstrap intervals resample the test cases '
            f"({s['n_bootstrap']} resamples). ± is half the Wilson interval's width.</p>"
            + _table(["class", "precision", "recall", "F1", "cases", "predicted as"], rows,
                     numeric={1, 2, 3, 4, 5}))


def _confusion(s: dict, signals: SignalSet, pred: np.ndarray, in_gallery: set[int]) -> str:
    classes = s["classes"]
    fig, cells = figures.confusion_figure(s["confusion_matrix"], classes)
    areas = []
    for (i, j), (x0, y0, x1, y1) in cells.items():
        count = s["confusion_matrix"][i][j]
        areas.append(f'<area shape="rect" coords="{x0},{y0},{x1},{y1}" href="#cell-{i}-{j}" '
                     f'alt="true {_e(classes[i])}, predicted {_e(classes[j])}: {count} case(s)">')
    parts = ['<p class="note">Rows: true class; columns: predicted. Click a cell to list its cases.</p>',
             '<div class="scroll">', _figure_html(fig, "confusion matrix", usemap="confusion-map", fixed=True),
             "</div>", f'<map name="confusion-map">{"".join(areas)}</map>', "<h3>Cases by cell</h3>"]
    index = {c: i for i, c in enumerate(classes)}
    t_idx = np.array([index[v] for v in np.asarray(signals.y).tolist()])
    p_idx = np.array([index[v] for v in np.asarray(pred).tolist()])
    for i, true_label in enumerate(classes):
        for j, pred_label in enumerate(classes):
            members = np.flatnonzero((t_idx == i) & (p_idx == j))
            kind = "correct" if i == j else "misclassified"
            items = []
            for m in members[:_MAX_NAMES]:
                name = _e(signals.names[m])
                items.append(f'<li><a href="#case-{m}">{name}</a></li>' if m in in_gallery else f"<li>{name}</li>")
            if len(members) > _MAX_NAMES:
                items.append(f"<li>… and {len(members) - _MAX_NAMES} more</li>")
            head = f"true {_e(true_label)} → predicted {_e(pred_label)}"
            if not items:
                parts.append(f'<div class="cell empty" id="cell-{i}-{j}">{head}: no cases</div>')
            elif i == j:
                # Correct cases can run to thousands: folded, one click away.
                parts.append(f'<details class="cell" id="cell-{i}-{j}"><summary><b>{head}</b> ({len(members)} '
                             f'{kind}: show names)</summary><ul class="names">{"".join(items)}</ul></details>')
            else:
                parts.append(f'<div class="cell" id="cell-{i}-{j}"><b>{head}</b> ({len(members)} {kind})'
                             f'<ul class="names">{"".join(items)}</ul></div>')
    return "".join(parts)


def _probability_bars(row: np.ndarray, classes, true_label, pred_label, top: int = 4) -> str:
    order = np.argsort(-row)[:top]
    out = []
    for j in order:
        c = classes[j]
        css = "true" if c == true_label else "pred" if c == pred_label else ""
        out.append(f'<div class="bar"><span class="cls" title="{_e(c)}">{_e(c)}</span><span class="track">'
                   f'<span class="fill {css}" style="display:block;width:{100 * row[j]:.1f}%"></span></span>'
                   f"<span>{row[j]:.2f}</span></div>")
    return "".join(out)


def _gallery(model, signals: SignalSet, indices: np.ndarray, *, pred, proba, classes) -> str:
    if len(indices) == 0:
        return '<p class="note">No case is misclassified.</p>'
    pictures = model.to_images(signals[indices])
    cards = []
    for k, i in enumerate(indices):
        true_label, pred_label = signals.y[i], pred[i]
        bars = _probability_bars(proba[i], list(classes), true_label, pred_label) if proba is not None else ""
        uri = _data_uri(figures.picture_png(pictures[k]))
        cards.append(f'<div class="case" id="case-{i}"><img src="{uri}" alt="image of {_e(signals.names[i])}">'
                     f'<div class="name">{_e(signals.names[i])}</div><div class="verdict">true <b>{_e(true_label)}'
                     f"</b>, predicted <b>{_e(pred_label)}</b></div>{bars}</div>")
    return f'<div class="gallery">{"".join(cards)}</div>'


def _comparison(comparison) -> str:
    rows = comparison.rows
    cv = comparison.config.get("splits", {}).get("mode") == "cv"
    body = []
    for r in rows:
        if r["status"] != "ok":
            body.append([_e(r["contender"]), _e(r["imaging"]), f'<span class="failed">{_e(r["status"])}</span>',
                         "", "", ""])
            continue
        score = _fmt(r["score"]) + (f" ± {_fmt(r.get('score_sd'))}" if cv else "")
        imaging = "raw signal" if r["imaging"] == "-" else r["imaging"]
        body.append([_e(r["contender"]), _e(imaging), score, _ci([r.get("ci_low"), r.get("ci_high")]),
                     f"{r['fit_seconds']:.1f}", f"{r['predict_seconds']:.2f}"])
    metric = rows[0]["metric"] if rows else "score"
    legend = "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in comparison.config.get("contenders", {}).items())
    splits = comparison.config.get("splits", {}).get("description", "")
    interval = _INTERVALS.get(rows[0]["interval"], rows[0]["interval"]) if rows else ""
    return (f'<p class="note">{_e(splits)}; every contender saw the same splits. 95% interval: {_e(interval)}.</p>'
            + _table(["contender", "imaging", metric, "95% CI", "fit s", "predict s"], body, numeric={4, 5})
            + _figure_html(figures.comparison_figure(rows), "comparison of contenders")
            + f"<ul>{legend}</ul>")


#: Most case names listed under one confusion-matrix cell.
_MAX_NAMES = 500

_INTERVALS = {
    "wilson": "Wilson's, on the test cases",
    "bootstrap": "percentile bootstrap over the test cases",
    "corrected-t": "t interval with Nadeau and Bengio's variance correction for overlapping folds",
    "corrected-t, at least wilson": "t interval with Nadeau and Bengio's correction for overlapping folds, "
                                    "never narrower than Wilson's on every case tested once",
}


def _regression_metrics(s: dict) -> str:
    cards = [(label, _fmt(s[key], 4), f"95% CI {_ci(s[key + '_ci95'], 4)} (bootstrap), n = {s['n']}")
             for key, label in (("r2", "R²"), ("mae", "MAE"), ("rmse", "RMSE"))]
    return _cards(cards) + _figure_html(figures.regression_figure(s["true"], s["predicted"]), "predicted against true")


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
        From :func:`sigxfer.evaluation.compare.compare` or ``Comparison.read(DIR)``.
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
        A complete HTML document with no external references.
    """
    if not isinstance(signals, SignalSet):
        raise ParameterError(f"signals must be a SignalSet (sigxfer.load_signals), not {type(signals).__name__}")
    if signals.y is None:
        raise DataError("the report needs labelled data: load a folder of class folders (or pass y=)")
    if max_gallery < 0 or per_class < 1:
        raise ParameterError("max_gallery must be >= 0 and per_class >= 1")
    config = config if config is not None else model_config(model)
    classification = hasattr(model, "classes_")
    sections: list[tuple[str, str, str]] = []
    sections.append(("data", "The data at a glance", _overview(signals, classification)))
    sections.append(("images", "Images as the network sees them", _examples(model, signals, per_class, classification)))
    sections.append(("training", "Training", _training(config.get("history"))))
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
        headline = f"accuracy {summary['accuracy']:.3f} (95% CI {_ci(summary['accuracy_ci95'])}), n = {summary['n']}"
        sections.append(("scores", "Scores", _classification_metrics(summary)))
        sections.append(("confusion", "Confusion matrix", _confusion(summary, signals, pred, set(shown.tolist()))))
        more = (f'<p class="note">Showing {len(shown)} of {len(wrong)} misclassified cases, most confident first; '
                "all are listed under the confusion matrix.</p>" if len(wrong) > len(shown) else
                f'<p class="note">{len(wrong)} misclassified case(s), most confident mistake first.</p>')
        more += ('<p class="note">Bars: the model\'s probabilities; <span class="ok">green</span> the true class, '
                 '<span class="failed">red</span> the predicted one.</p>')
        sections.append(("mistakes", "Misclassified cases",
                         more + _gallery(model, signals, shown, pred=pred, proba=proba, classes=classes)))
    else:
        pred = np.asarray(model.predict(signals))
        summary = regression_summary(signals.y, pred, names=signals.names, n_bootstrap=n_bootstrap,
                                     n_worst=max_gallery)
        headline = f"R² {_fmt(summary['r2'])} (95% CI {_ci(summary['r2_ci95'])}), n = {summary['n']}"
        sections.append(("scores", "Scores", _regression_metrics(summary)))
        worst = np.array([w["index"] for w in summary["worst"]], dtype=int)
        sections.append(("mistakes", "Largest errors", _gallery(model, signals, worst, pred=np.round(pred, 4),
                                                                 proba=None, classes=None)))
    if comparison is not None:
        sections.append(("comparison", "Comparison with the alternatives", _comparison(comparison)))
    reproduce = ""
    if command:
        reproduce += f"<h3>Command</h3><pre>{_e(command)}</pre>"
    params = config.get("params") or {}
    if params:
        args = "".join(f"\n    {k}={v!r}," for k, v in params.items()) + "\n"
        estimator = _e(config.get("estimator", "TransferClassifier"))
        reproduce += (f"<h3>Python</h3><pre>from sigxfer import {estimator}\n"
                      f"model = {estimator}({_e(args)})\nmodel.fit(train)</pre>")
    reproduce += f"<h3>Full configuration</h3><pre>{_e(to_json_text(config))}</pre>"
    sections.append(("config", "Configuration for reproduction", reproduce))

    from sigxfer._version import __version__

    title = title or f"sigxfer report: {model_name or config.get('estimator', 'model')}"
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sub = " · ".join(_e(x) for x in (model_name and f"model {model_name}", data_name and f"data {data_name}",
                                       headline, f"sigxfer {__version__}", when) if x)
    nav = "".join(f'<a href="#{key}">{_e(heading)}</a>' for key, heading, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{_e(heading)}</h2>{content}</section>'
                   for key, heading, content in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{_e(title)}</title><style>{_CSS}</style></head>'
            f"<body><header><h1>{_e(title)}</h1><p>{sub}</p></header><nav>{nav}</nav><main>{body}</main>"
            f"</body></html>\n")


def write_report(model, signals: SignalSet, path, *, overwrite: bool = False, **kwargs) -> Path:
    """Build the report (see :func:`build_report`) and write it atomically to ``path``.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is False (checked before any work).
    """
    from sigxfer._atomic import atomic_write_text
    from sigxfer.errors import OutputExistsError

    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) or choose another name")
    return atomic_write_text(path, build_report(model, signals, **kwargs), overwrite=overwrite)


def read_comparison(path):
    """A saved comparison (folder or ``comparison.json``) for :func:`build_report`."""
    from sigxfer.evaluation.compare import Comparison

    return Comparison.read(path)


__all__ = ["build_report", "model_config", "read_comparison", "write_report"]
