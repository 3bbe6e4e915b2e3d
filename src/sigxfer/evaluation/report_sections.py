"""The sections of the HTML report, each a function returning an HTML fragment.

:func:`sigxfer.evaluation.report.build_report` assembles them into one page. Every value that
reaches the page goes through :func:`escape`; figures are embedded as base64 PNGs.
"""

from __future__ import annotations

import base64
import html

import numpy as np

from sigxfer.data.signals import SignalSet
from sigxfer.evaluation import figures
from sigxfer.evaluation.metrics import ESTIMATE_LABEL
from sigxfer.evaluation.results import imaging_text

#: Most case names listed under one confusion-matrix cell.
_MAX_NAMES = 500

_INTERVALS = {
    "wilson": "Wilson's, on the test cases",
    "bootstrap": "percentile bootstrap over the test cases",
    "corrected-t": "t interval with Nadeau and Bengio's variance correction for overlapping folds",
    "corrected-t, at least wilson": "t interval with Nadeau and Bengio's correction for overlapping folds, "
                                    "never narrower than Wilson's on every case tested once",
}


def escape(value) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes.

    Examples
    --------
    >>> escape('rec <1> & "2"')
    'rec &lt;1&gt; &amp; &quot;2&quot;'
    """
    return html.escape(str(value), quote=True)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure_html(fig, alt: str, *, usemap: str | None = None, fixed: bool = False) -> str:
    png = figures.png_bytes(fig)
    width, height = int(round(fig.bbox.width)), int(round(fig.bbox.height))
    fig.clf()
    extra = f' usemap="#{escape(usemap)}"' if usemap else ""
    css = "figure fixed" if fixed else "figure"
    return (f'<img class="{css}" src="{_data_uri(png)}" alt="{escape(alt)}" width="{width}" height="{height}"'
            f"{extra}>")


def fmt(value, digits: int = 3) -> str:
    """A number with ``digits`` decimals; "n/a" for None and NaN.

    Examples
    --------
    >>> fmt(0.91234), fmt(None), fmt(float("nan"))
    ('0.912', 'n/a', 'n/a')
    """
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def ci(pair, digits: int = 3) -> str:
    """An interval as ``"low–high"``; "n/a" when missing or not finite.

    Examples
    --------
    >>> ci([0.8, 0.95]), ci(None)
    ('0.800–0.950', 'n/a')
    """
    if not pair or any(v is None or not np.isfinite(v) for v in pair):
        return "n/a"
    return f"{pair[0]:.{digits}f}–{pair[1]:.{digits}f}"


def _table(head: list[str], rows: list[list], *, numeric: set[int] = frozenset()) -> str:
    cells = "".join(f'<th class="num">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
                    for i, h in enumerate(head))
    body = []
    for row in rows:
        body.append("<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                     for i, c in enumerate(row)) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{cells}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _cards(items: list[tuple[str, str, str]]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><div class="value">{escape(v)}</div><div class="label">{escape(label)}<br>'
        f"{escape(sub)}</div></div>" for label, v, sub in items) + "</div>"


def _estimate_card(estimate: dict | None, digits: int = 3) -> list[tuple[str, str, str]]:
    if not estimate:
        return []
    what = f"{estimate['metric']}, " if estimate.get("metric") else ""
    return [(ESTIMATE_LABEL, fmt(estimate["score"], digits),
             f"{what}95% CI {ci(estimate.get('ci95'), digits)}; cross-validated on the training data "
             f"({estimate['source']}), not on these cases")]


# ----------------------------------------------------------------------------------- sections
def overview(signals: SignalSet, classification: bool) -> str:
    """The data at a glance: sizes, sample rate, classes (or targets), a figure of examples.

    Examples
    --------
    >>> from sigxfer import make_devices
    >>> "sample rate" in overview(make_devices(4, seed=0), True)
    True
    """
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
        facts.append(["classes", ", ".join(f"{escape(c)} ({n})" for c, n in zip(classes, counts))])
    else:
        y = np.asarray(signals.y, dtype=float)
        facts.append(["targets", f"{y.min():.4g} to {y.max():.4g} (mean {y.mean():.4g})"])
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{v if k == 'classes' else escape(v)}</td></tr>" for k, v in facts)
    if shape is not None:
        return f"<table>{rows}</table>"
    fig_y = signals.y if classification else None
    fig = figures.dataset_figure(signals.X, fig_y, sr=sr)
    return (f"<table>{rows}</table>" + _figure_html(fig, "cases per class and an example signal of each class"))


def examples(model, signals: SignalSet, per_class: int, classification: bool) -> str:
    """Up to ``per_class`` images per class as the model's imager makes them, with its settings.

    Examples
    --------
    >>> html_text = examples(model, test, 4, True)  # doctest: +SKIP
    """
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
    return f'<p class="note">{escape(note)}</p>' + _figure_html(fig, "example images per class")


def _averaged_heads(name, heads: list, kind: str, key: str) -> str:
    """The paragraph and table for a blend's averaged heads (auto's ``history["heads"]``)."""
    rows = [[escape(h["reads"]), f'{h["share"]:.2f}', f'{h[key]:.4g}'] for h in heads]
    return (f'<p>Strategy <b>{escape(name)}</b>: the backbone stays frozen; {len(heads)} {kind} heads, each on '
            f'its own views and depths with {key} chosen by cross-validation on the training data, their outputs '
            'averaged with these shares (one linear head on the views they read):</p>'
            + _table(["head reads", "share", key], rows, numeric={1, 2}))


def training(history: dict | None) -> str:
    """How the model trained: curves over epochs, or how a linear head chose its regularisation.

    Examples
    --------
    >>> training(None)
    '<p class="note">This model records no training history.</p>'
    >>> "C = 0.5" in training({"strategy": {"name": "linear"}, "C": 0.5})
    True
    """
    if not history:
        return '<p class="note">This model records no training history.</p>'
    parts = []
    epochs = history.get("epochs")
    if epochs:
        parts.append(_figure_html(figures.training_figure(epochs, best_epoch=history.get("best_epoch")),
                                  "training curves"))
        best = history.get("best_epoch")
        if best is not None:
            parts.append(f'<p class="note">Best epoch: {escape(best)} (weights restored from it).</p>')
    else:
        strategy = history.get("strategy", {})
        name = strategy.get("name", "?") if isinstance(strategy, dict) else strategy
        if "C" in history:
            how = (f'was chosen by {history["cv_folds"]}-fold cross-validation on the training data '
                   f'(log-loss {fmt(history.get("cv_log_loss"))})' if "cv_folds" in history else
                   "was set, not cross-validated")
            value = history["C"]
            if isinstance(value, list) and history.get("heads"):  # auto's blend: its heads averaged
                parts.append(_averaged_heads(name, history["heads"], "logistic-regression", "C"))
            elif isinstance(value, list):  # auto's ensemble: one head per member of a joint backbone, averaged
                parts.append(f'<p>Strategy <b>{escape(name)}</b>: the backbone stays frozen; one logistic-regression '
                             f'head per network of the joint backbone, their outputs averaged, with '
                             f'C = {" and ".join(f"{c:.4g}" for c in value)} chosen by cross-validation on the '
                             'training data.</p>')
            else:
                parts.append(f'<p>Strategy <b>{escape(name)}</b>: the backbone stays frozen and a logistic-regression '
                             f'head is fitted on its embeddings. There are no epochs; the regularisation '
                             f'C = {value:.4g} {escape(how)}.</p>')
        elif "alpha" in history:
            alpha = history["alpha"]
            if isinstance(alpha, list) and history.get("heads"):
                parts.append(_averaged_heads(name, history["heads"], "ridge", "alpha"))
            elif isinstance(alpha, list):  # auto's ensemble, as for C above
                parts.append(f'<p>Strategy <b>{escape(name)}</b>: frozen backbone, ridge heads (one per network of '
                             f'the joint backbone, averaged) with alpha = {" and ".join(f"{a:.4g}" for a in alpha)} '
                             'chosen by cross-validation.</p>')
            else:
                parts.append(f'<p>Strategy <b>{escape(name)}</b>: frozen backbone, ridge head with alpha = '
                             f'{alpha:.4g} chosen by leave-one-out cross-validation.</p>')
        else:
            parts.append(f"<p>Strategy <b>{escape(name)}</b>.</p>")
    scalars = [[escape(k), escape(v if not isinstance(v, float) else f"{v:.4g}")] for k, v in history.items()
               if k != "epochs" and not isinstance(v, (dict, list))]
    if scalars:
        parts.append(_table(["recorded", "value"], scalars))
    return "".join(parts)


def classification_scores(s: dict, estimate: dict | None = None) -> str:
    """Score cards with intervals (and the model's own training estimate beside), per-class rates.

    ``s`` is a :func:`~sigxfer.evaluation.metrics.classification_summary`; ``estimate`` a
    :func:`~sigxfer.evaluation.scoring.training_estimate`.

    Examples
    --------
    >>> from sigxfer.evaluation.metrics import classification_summary
    >>> s = classification_summary(["a", "b", "b"], ["a", "b", "a"], classes=["a", "b"], n_bootstrap=0)
    >>> "CV estimate (training)" in classification_scores(s, {"score": 0.9, "ci95": None, "source": "selection"})
    True
    """
    lo, hi = s["accuracy_ci95"]
    half = (hi - lo) / 2
    cards = [("accuracy", f"{s['accuracy']:.3f} ± {half:.3f}",
              f"95% CI {ci(s['accuracy_ci95'])} (Wilson), bootstrap {ci(s['accuracy_ci95_bootstrap'])}, "
              f"n = {s['n']}"),
             ("balanced accuracy", fmt(s["balanced_accuracy"]), f"95% CI {ci(s['balanced_accuracy_ci95'])}"),
             ("macro F1", fmt(s["macro_f1"]), f"95% CI {ci(s['macro_f1_ci95'])}")]
    cards[1:1] = _estimate_card(estimate)  # beside the accuracy it estimates
    if s.get("roc_auc") is not None:
        cards.append(("ROC AUC", fmt(s["roc_auc"]), f"95% CI {ci(s['roc_auc_ci95'])}"))
    rows = [[escape(c["class"]), fmt(c["precision"]), fmt(c["recall"]), fmt(c["f1"]), str(c["support"]),
             str(c["predicted"])] for c in s["per_class"]]
    return (_cards(cards) + '<p class="note">Bootstrap intervals resample the test cases '
            f"({s['n_bootstrap']} resamples). ± is half the Wilson interval's width.</p>"
            + _table(["class", "precision", "recall", "F1", "cases", "predicted as"], rows,
                     numeric={1, 2, 3, 4, 5}))


def confusion(s: dict, signals: SignalSet, pred: np.ndarray, in_gallery: set[int]) -> str:
    """The confusion matrix as an image map whose cells link to lists of their cases.

    Cases in ``in_gallery`` (indices into ``signals``) link on to their gallery cards.

    Examples
    --------
    >>> html_text = confusion(summary, test, model.predict(test), set())  # doctest: +SKIP
    """
    classes = s["classes"]
    fig, cells = figures.confusion_figure(s["confusion_matrix"], classes)
    areas = []
    for (i, j), (x0, y0, x1, y1) in cells.items():
        count = s["confusion_matrix"][i][j]
        areas.append(f'<area shape="rect" coords="{x0},{y0},{x1},{y1}" href="#cell-{i}-{j}" '
                     f'alt="true {escape(classes[i])}, predicted {escape(classes[j])}: {count} case(s)">')
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
                name = escape(signals.names[m])
                items.append(f'<li><a href="#case-{m}">{name}</a></li>' if m in in_gallery else f"<li>{name}</li>")
            if len(members) > _MAX_NAMES:
                items.append(f"<li>… and {len(members) - _MAX_NAMES} more</li>")
            head = f"true {escape(true_label)} → predicted {escape(pred_label)}"
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
        out.append(f'<div class="bar"><span class="cls" title="{escape(c)}">{escape(c)}</span><span class="track">'
                   f'<span class="fill {css}" style="display:block;width:{100 * row[j]:.1f}%"></span></span>'
                   f"<span>{row[j]:.2f}</span></div>")
    return "".join(out)


def gallery(model, signals: SignalSet, indices: np.ndarray, *, pred, proba, classes) -> str:
    """A card per case of ``indices``: its image, true and predicted value, top probabilities.

    Examples
    --------
    >>> html_text = gallery(model, test, np.array([0, 3]), pred=pred, proba=proba,
    ...                     classes=model.classes_)  # doctest: +SKIP
    """
    if len(indices) == 0:
        return '<p class="note">No case is misclassified.</p>'
    pictures = model.to_images(signals[indices])
    cards = []
    for k, i in enumerate(indices):
        true_label, pred_label = signals.y[i], pred[i]
        bars = _probability_bars(proba[i], list(classes), true_label, pred_label) if proba is not None else ""
        uri = _data_uri(figures.picture_png(pictures[k]))
        name = escape(signals.names[i])
        cards.append(f'<div class="case" id="case-{i}"><img src="{uri}" alt="image of {name}">'
                     f'<div class="name">{name}</div><div class="verdict">true <b>{escape(true_label)}'
                     f"</b>, predicted <b>{escape(pred_label)}</b></div>{bars}</div>")
    return f'<div class="gallery">{"".join(cards)}</div>'


def comparison_table(comparison) -> str:
    """The comparison's table (with each contender's difference to MiniRocket when it ran), figure, legend.

    ``comparison`` is a :class:`~sigxfer.evaluation.results.Comparison`.

    Examples
    --------
    >>> from sigxfer.evaluation.results import Comparison
    >>> rows = [{"contender": "pixels-nb", "imaging": "spectrum", "metric": "accuracy", "score": 0.75,
    ...          "ci_low": 0.5, "ci_high": 0.9, "interval": "wilson", "fit_seconds": 0.4,
    ...          "predict_seconds": 0.05, "status": "ok"}]
    >>> "pixels-nb" in comparison_table(Comparison(rows=rows, details={}, config={}))
    True
    """
    rows = comparison.rows
    cv = comparison.config.get("splits", {}).get("mode") == "cv"
    ref = comparison.reference()
    estimates = any(r.get("training_cv") is not None for r in rows)
    metric = rows[0]["metric"] if rows else "score"
    head = ["contender", "imaging", metric, "95% CI"]
    head += [f"vs {ref['contender']}"] if ref is not None else []
    head += [ESTIMATE_LABEL] if estimates else []
    head += ["fit s", "predict s"]
    body = []
    for r in rows:
        if r["status"] != "ok":
            body.append([escape(r["contender"]), escape(imaging_text(r)),
                         f'<span class="failed">{escape(r["status"])}</span>'] + [""] * (len(head) - 3))
            continue
        score = fmt(r["score"]) + (f" ± {fmt(r.get('score_sd'))}" if cv else "")
        cells = [escape(r["contender"]), escape(imaging_text(r)), score, ci([r.get("ci_low"), r.get("ci_high")])]
        if ref is not None:
            cells.append("bar" if r is ref else f"{comparison.difference(r):+.3f}")
        if estimates:
            cells.append(fmt(r.get("training_cv")) if r.get("training_cv") is not None else "")
        cells += [f"{r['fit_seconds']:.1f}", f"{r['predict_seconds']:.2f}"]
        body.append(cells)
    legend = "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>"
                     for k, v in comparison.config.get("contenders", {}).items())
    splits = comparison.config.get("splits", {}).get("description", "")
    interval = _INTERVALS.get(rows[0]["interval"], rows[0]["interval"]) if rows else ""
    notes = f"{escape(splits)}; every contender saw the same splits. 95% interval: {escape(interval)}."
    if ref is not None:
        notes += f" “vs {escape(ref['contender'])}”: score minus {escape(ref['contender'])}'s, the bar to clear."
    if estimates:
        notes += (f" {ESTIMATE_LABEL}: what the models estimated by cross-validation on their own training "
                  "data, beside what they scored on the held-out cases.")
    numeric = set(range(4, len(head)))
    return (f'<p class="note">{notes}</p>' + _table(head, body, numeric=numeric)
            + _figure_html(figures.comparison_figure(rows, reference=ref), "comparison of contenders")
            + f"<ul>{legend}</ul>")


def regression_scores(s: dict, estimate: dict | None = None) -> str:
    """R², MAE and RMSE cards with bootstrap intervals (the training estimate beside), and a figure.

    ``s`` is a :func:`~sigxfer.evaluation.metrics.regression_summary`.

    Examples
    --------
    >>> from sigxfer.evaluation.metrics import regression_summary
    >>> "R²" in regression_scores(regression_summary([1.0, 2.0, 3.0], [1.1, 2.0, 2.8], n_bootstrap=0))
    True
    """
    cards = [(label, fmt(s[key], 4), f"95% CI {ci(s[key + '_ci95'], 4)} (bootstrap), n = {s['n']}")
             for key, label in (("r2", "R²"), ("mae", "MAE"), ("rmse", "RMSE"))]
    cards[1:1] = _estimate_card(estimate, 4)
    return _cards(cards) + _figure_html(figures.regression_figure(s["true"], s["predicted"]), "predicted against true")


