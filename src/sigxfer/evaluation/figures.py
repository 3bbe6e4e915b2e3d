"""Matplotlib figures of the report, each returned as a Figure (PNG encoding in :func:`png_bytes`).

Figures are drawn with the non-interactive Agg canvas, so reports build on servers with no display.
"""

from __future__ import annotations

import io
import math

import numpy as np

# Colours: matplotlib's default cycle, named once so figures agree with the report's CSS.
BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"


def new_figure(width: float, height: float, dpi: int = 100):
    """A Figure on an Agg canvas (never a GUI window, never pyplot's global state).

    Examples
    --------
    >>> new_figure(4, 3).get_size_inches().tolist()
    [4.0, 3.0]
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig) -> bytes:
    """The figure as PNG at its own dpi (so pixel positions computed on it stay valid).

    Examples
    --------
    >>> png_bytes(new_figure(1, 1))[1:4]
    b'PNG'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


def picture_png(picture: np.ndarray, *, min_side: int = 96) -> bytes:
    """One picture (3, H, W) in [0, 1] as PNG, enlarged (nearest pixel) to at least ``min_side``.

    Examples
    --------
    >>> picture_png(np.zeros((3, 8, 8)))[1:4]
    b'PNG'
    """
    from PIL import Image

    rgb = np.clip(np.asarray(picture).transpose(1, 2, 0) * 255 + 0.5, 0, 255).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    factor = max(1, math.ceil(min_side / min(image.size)))
    if factor > 1:
        image = image.resize((image.size[0] * factor, image.size[1] * factor), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def dataset_figure(X: np.ndarray, y: np.ndarray, *, sr: float | None, max_classes: int = 8):
    """Cases per class (bars) and one example signal per class (first channel).

    Parameters
    ----------
    X : ndarray, shape (n_cases, n_channels, n_timepoints)
    y : ndarray, shape (n_cases,)
        Class labels (or None for unlabelled data).
    sr : float, optional
        Sample rate in Hz; the time axis is in samples without it.

    Examples
    --------
    >>> fig = dataset_figure(np.zeros((4, 1, 32)), np.array(["a", "a", "b", "b"]), sr=32.0)
    """
    classes, counts = (np.unique(y, return_counts=True) if y is not None
                       else (np.array(["all"]), np.array([len(X)])))
    shown = classes[:max_classes]
    fig = new_figure(10, 0.5 + 1.0 * max(2, len(shown)))
    height = fig.get_figheight()
    grid = fig.add_gridspec(len(shown), 2, width_ratios=[1, 2.4], wspace=0.3, hspace=0.15,
                            left=0.12, right=0.98, top=1 - 0.35 / height, bottom=0.55 / height)
    bars = fig.add_subplot(grid[:, 0])
    positions = np.arange(len(classes))
    bars.barh(positions, counts, color=BLUE)
    bars.set_yticks(positions, [str(c) for c in classes])
    bars.invert_yaxis()
    bars.set_xlabel("cases")
    bars.set_title("cases per class", fontsize=10)
    for p, c in zip(positions, counts):
        bars.text(c, p, f" {c}", va="center", fontsize=8)
    bars.set_xlim(0, counts.max() * 1.18)
    t = np.arange(X.shape[2]) / (sr or 1.0)
    for row, label in enumerate(shown):
        ax = fig.add_subplot(grid[row, 1])
        index = int(np.flatnonzero(y == label)[0]) if y is not None else 0
        ax.plot(t, X[index, 0], lw=0.7, color=BLUE)
        ax.set_ylabel(str(label), rotation=0, ha="right", va="center", fontsize=8)
        ax.tick_params(labelsize=7)
        if row == 0:
            ax.set_title("an example of each class (channel 0)", fontsize=10)
        if row < len(shown) - 1:
            ax.set_xticklabels([])
        else:
            ax.set_xlabel("time (s)" if sr else "sample")
    return fig


def picture_grid(pictures: np.ndarray, y: np.ndarray, *, per_class: int = 4):
    """Pictures (n, 3, H, W) in [0, 1]: one row per class, ``per_class`` columns.

    Used when :func:`sigxfer.imaging.render.contact_sheet` is not available.

    Examples
    --------
    >>> len(picture_grid(np.zeros((4, 3, 8, 8)), np.array(["a", "a", "b", "b"]), per_class=2).axes)
    4
    """
    classes = np.unique(y)
    fig = new_figure(1.5 * per_class + 1.0, 1.5 * len(classes) + 0.3)
    for r, label in enumerate(classes):
        idx = np.flatnonzero(y == label)[:per_class]
        for c in range(per_class):
            ax = fig.add_subplot(len(classes), per_class, r * per_class + c + 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(idx):
                ax.imshow(pictures[idx[c]].transpose(1, 2, 0), origin="upper", interpolation="nearest")
            if c == 0:
                ax.set_ylabel(str(label), fontsize=9)
    fig.subplots_adjust(left=0.08, right=0.99, top=0.98, bottom=0.02, wspace=0.05, hspace=0.1)
    return fig


def training_figure(epochs: list[dict], *, best_epoch: int | None = None):
    """Training curves from ``history_["epochs"]``: losses, validation metric, learning rate.

    Each entry holds ``epoch``, ``phase``, ``train_loss``, ``val_loss``, ``val_metric``, ``lr``
    (any may be missing or None). Phases (head, body) are shaded.

    Examples
    --------
    >>> epochs = [{"epoch": 1, "phase": "head", "train_loss": 0.9}, {"epoch": 2, "phase": "body", "train_loss": 0.5}]
    >>> len(training_figure(epochs, best_epoch=2).axes)
    3
    """
    def series(key):
        return np.array([np.nan if e.get(key) is None else float(e[key]) for e in epochs])

    x = np.array([e.get("epoch", i + 1) for i, e in enumerate(epochs)], dtype=float)
    fig = new_figure(11, 3.2)
    loss_ax, metric_ax, lr_ax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 0.7]})
    for key, colour in (("train_loss", BLUE), ("val_loss", ORANGE)):
        values = series(key)
        if np.isfinite(values).any():
            loss_ax.plot(x, values, marker="o", ms=3, color=colour, label=key.replace("_", " "))
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss", fontsize=10)
    metric = series("val_metric")
    if np.isfinite(metric).any():
        metric_ax.plot(x, metric, marker="o", ms=3, color=GREEN, label="validation metric")
    metric_ax.set_xlabel("epoch")
    metric_ax.set_title("validation metric", fontsize=10)
    lr = series("lr")
    if np.isfinite(lr).any():
        lr_ax.plot(x, lr, color=GREY, marker=".", lw=1)
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    lr_ax.set_xlabel("epoch")
    lr_ax.set_title("learning rate", fontsize=10)
    phases = [e.get("phase") for e in epochs]
    start, shade = 0, 0.05
    for i in range(1, len(phases) + 1):
        if i == len(phases) or phases[i] != phases[start]:
            if phases[start] is not None:
                for ax in (loss_ax, metric_ax, lr_ax):
                    ax.axvspan(x[start] - 0.5, x[i - 1] + 0.5, color=GREY, alpha=shade, lw=0)
                loss_ax.text((x[start] + x[i - 1]) / 2, 0.97, str(phases[start]), ha="center", va="top",
                             transform=loss_ax.get_xaxis_transform(), fontsize=8, color="#555")
            start, shade = i, 0.17 - shade  # alternate light and darker bands, one per phase
    for ax in (loss_ax, metric_ax, lr_ax):
        if best_epoch is not None:
            ax.axvline(best_epoch, color=RED, ls=":", lw=1, label="best epoch" if ax is loss_ax else None)
        if ax is not lr_ax and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="lower left" if ax is loss_ax else "best")
        ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=0.16, wspace=0.28)
    return fig


def confusion_figure(cm, classes, *, max_side: float = 9.0):
    """Confusion matrix (rows true, columns predicted) with counts and row percentages.

    Returns
    -------
    fig : Figure
    cells : dict
        ``(i, j) -> (x0, y0, x1, y1)`` of each cell in the PNG's pixels (origin top-left), for an
        HTML image map whose areas link to the cases in each cell.

    Examples
    --------
    >>> fig, cells = confusion_figure([[3, 1], [0, 4]], ["a", "b"])
    >>> sorted(cells)
    [(0, 0), (0, 1), (1, 0), (1, 1)]
    """
    cm = np.asarray(cm)
    k = len(classes)
    side = min(max_side, 1.2 + 0.8 * k)  # inches of the matrix itself
    margin = 1.2 if max(len(str(c)) for c in classes) > 4 else 0.8
    fig = new_figure(side + margin + 1.6, side + margin + 0.15)
    width, height = fig.get_figwidth(), fig.get_figheight()
    ax = fig.add_axes([margin / width, margin / height, side / width, side / height])
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{cm[i, j]}\n{share[i, j]:.0%}" if rows[i, 0] else "0", ha="center", va="center",
                    fontsize=max(6, 11 - k // 3), color="white" if share[i, j] > 0.55 else "black")
    labels = [str(c) for c in classes]
    ax.set_xticks(range(k), labels, rotation=45 if max(map(len, labels)) > 4 else 0, ha="right"
                  if max(map(len, labels)) > 4 else "center")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    cax = fig.add_axes([(margin + side + 0.15) / width, margin / height, 0.15 / width, side / height])
    fig.colorbar(image, cax=cax, label="share of the true class")
    fig.canvas.draw()
    height = fig.bbox.height
    cells = {}
    for i in range(k):
        for j in range(k):
            (xa, ya), (xb, yb) = ax.transData.transform([(j - 0.5, i - 0.5), (j + 0.5, i + 0.5)])
            ya, yb = height - ya, height - yb  # display y grows upwards, image y downwards
            cells[(i, j)] = (round(min(xa, xb)), round(min(ya, yb)), round(max(xa, xb)), round(max(ya, yb)))
    return fig, cells


def comparison_figure(rows: list[dict], *, reference: dict | None = None):
    """Score and 95% interval of each contender, best at the top.

    ``rows`` are a :class:`~sigxfer.evaluation.results.Comparison`'s; ``reference`` (one of
    them, MiniRocket's) is drawn as a dashed line: the bar to clear.

    Examples
    --------
    >>> fig = comparison_figure([{"contender": "linear", "imaging": "mel", "metric": "accuracy", "score": 0.9,
    ...                           "ci_low": 0.8, "ci_high": 0.95, "status": "ok"}])
    >>> len(fig.axes)
    1
    """
    ok = [r for r in rows if r.get("status") == "ok" and r.get("score") is not None]
    ok.sort(key=lambda r: r["score"])
    labels = [r["contender"] + (f" · {r['imaging']}" if r.get("imaging") not in ("-", "", None) else "")
              for r in ok]
    left = 0.3 + 0.062 * max((len(label) for label in labels), default=10)  # inches for 8-pt labels
    height = 1.0 + 0.4 * max(len(ok), 2)  # inches: 0.65 below the axes for labels, 0.2 above
    width = left + 5.2
    fig = new_figure(width, height)
    ax = fig.add_axes([left / width, 0.65 / height, 5.0 / width, (height - 0.85) / height])
    ax.set_ylim(-0.6, len(ok) - 0.4)
    y = np.arange(len(ok))
    score = np.array([r["score"] for r in ok], dtype=float)
    low = np.array([r["score"] - r["ci_low"] if r.get("ci_low") is not None else 0 for r in ok], dtype=float)
    high = np.array([r["ci_high"] - r["score"] if r.get("ci_high") is not None else 0 for r in ok], dtype=float)
    colours = [BLUE if r["contender"] in ("linear", "finetune") else GREY for r in ok]
    ax.errorbar(score, y, xerr=[np.maximum(low, 0), np.maximum(high, 0)], fmt="none", ecolor="#444", capsize=3, lw=1)
    ax.scatter(score, y, c=colours, zorder=3)
    if reference is not None and reference.get("score") is not None:
        ax.axvline(reference["score"], color=ORANGE, ls="--", lw=1, label=f"{reference['contender']} (the bar)")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"{ok[0]['metric'] if ok else 'score'} with 95% interval (blue: transfer)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def regression_figure(true, predicted):
    """Predicted against true values, with the identity line (first target when several).

    Examples
    --------
    >>> len(regression_figure([1.0, 2.0, 3.0], [1.1, 1.9, 3.2]).axes)
    1
    """
    t = np.asarray(true, dtype=float).reshape(len(true), -1)[:, 0]
    p = np.asarray(predicted, dtype=float).reshape(len(predicted), -1)[:, 0]
    fig = new_figure(5, 5)
    ax = fig.add_axes([0.16, 0.13, 0.8, 0.8])
    ax.scatter(t, p, s=14, alpha=0.7, color=BLUE)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color=GREY, ls="--", lw=1, label="predicted = true")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
