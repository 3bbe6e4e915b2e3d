"""Auto's blends: the average of several scored heads, grown greedily on their held-out outputs.

Every candidate auto scores is a linear head on some of the same embedded columns, and its CV
already gives one held-out output per training case (``_oof`` in its row). A blend is grown from
those alone, with no new fit: start from the candidate of lowest held-out loss, then add (a
candidate may come back) whichever lowers the loss of the averaged outputs most, while one does
and at most :data:`PICKS` times (ensemble selection, Caruana et al., ICML 2004). Candidates that
read different views, depths or networks err on different cases, and their average is steadier
than the best of them; being one linear head on the union of their columns
(:class:`~.ensemble.Ensemble`), the blend changes nothing downstream. Its CV estimate is the
average's score on the same held-out outputs it was grown on, so, as the best single head's, it
is optimistic.
"""

from __future__ import annotations

import time

import numpy as np

from sigxfer.learning.strategies import selection as sel
from sigxfer.learning.strategies.ensemble import Ensemble
from sigxfer.learning.strategies.heads import _log_loss, fit_head, fold_summary

#: Most picks in a blend, a candidate counted as often as it is picked: five heads at most.
#: Set before any data set was run, and not tuned.
PICKS = 5


def blend_loss(outputs: np.ndarray, target: np.ndarray, task: str) -> float:
    """Mean log-loss of logits (classification) or mean squared error of outputs (regression).

    Examples
    --------
    >>> round(blend_loss(np.array([[0.0, 0.0]]), np.array([1]), "classification"), 4)
    0.6931
    """
    if task == "classification":
        return float(_log_loss(outputs, target).mean())
    return float(((outputs - target.reshape(len(target), -1)) ** 2).mean())


def greedy_blend(oofs, y: np.ndarray, *, task: str, picks: int = PICKS) -> tuple[np.ndarray, float]:
    """How many times each candidate counts in the blend, and the blend's held-out loss.

    ``oofs`` holds each candidate's held-out outputs, one row per case, NaN on the rows no fold
    held out (the same rows for every candidate); ``y`` the targets. The blend starts from the
    candidate of lowest loss and adds the one that lowers the loss of the averaged outputs most,
    while one lowers it, up to ``picks`` in all.

    Examples
    --------
    >>> y = np.array([0, 1, 0, 1])
    >>> a = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [0.0, 2.0]])  # wrong on case 2
    >>> b = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])  # wrong on case 3
    >>> counts, loss = greedy_blend([a, b], y, task="classification")
    >>> counts.tolist(), loss < blend_loss(a, y, "classification")
    ([1, 1], True)
    """
    held = np.all(np.isfinite(oofs[0]), axis=1)
    outs = [np.asarray(o)[held] for o in oofs]
    target = y[held]
    losses = [blend_loss(o, target, task) for o in outs]
    first = int(np.argmin(losses))
    counts = np.zeros(len(outs), dtype=int)
    counts[first] = 1
    total, best = outs[first].copy(), losses[first]
    for _ in range(picks - 1):
        k = counts.sum()
        trial = [blend_loss((total + o) / (k + 1), target, task) for o in outs]
        j = int(np.argmin(trial))
        if not trial[j] < best * (1 - 1e-9):
            break
        counts[j] += 1
        total += outs[j]
        best = trial[j]
    return counts, best


def single_widths(embedded: dict, pooling: str) -> tuple[tuple[int, ...], ...]:
    """The block widths of a backbone that is one network, as a joint's ``member_widths`` gives them."""
    first = embedded[min(embedded)][pooling]
    return tuple((block.shape[1],) for block in first)


def score_blends(table: list, names, y: np.ndarray, folds, subset, *, task: str, poolings, member_names,
                 widths_of) -> list:
    """One blend per pooling from the scored rows of ``table`` (:func:`greedy_blend`); its rows.

    The pool is the heads of the last round (the rows scored on the most cases, with held-out
    outputs ``_oof``) and, on a joint backbone, each member's own heads (``_member`` says whose
    columns they read). ``folds`` score every case, ``subset`` (rows, folds) the halving's
    first round, as :func:`~.selection.score_candidates` takes them. A blend that picks one
    candidate only is no blend and gives no row. ``widths_of(pooling)`` gives the
    :class:`~.ensemble.Ensemble`'s ``widths``.
    """
    pool = [r for r in table if r.get("status") == "scored" and r.get("_oof") is not None
            and r["kind"] in ("frozen", "member")]
    if not pool:
        return []
    widest = max(r["n_scored"] for r in pool)
    if widest != len(y):  # the finalists were not scored on every case: the first round's
        y, folds = y[subset[0]], subset[1]
    out = []
    for pooling in poolings:
        rows = [r for r in pool if r["n_scored"] == widest and r["pooling"] == pooling]
        if len(rows) < 2:
            continue
        start = time.perf_counter()
        counts, _ = greedy_blend([r["_oof"] for r in rows], y, task=task)
        if (counts > 0).sum() < 2:
            continue
        picked = [(r, int(c)) for r, c in zip(rows, counts) if c > 0]
        blend = Ensemble(tuple(r["_candidate"] for r, _ in picked), tuple(member_names), widths_of(pooling),
                         members=tuple(r.get("_member") for r, _ in picked), weights=tuple(c for _, c in picked))
        oof = sum(c * r["_oof"] for r, c in picked) / sum(c for _, c in picked)
        result = fold_summary([oof[test] for _, test in folds], y, folds, task)
        result["value"] = [r["C"] for r, _ in picked]
        sel.mark_held_out(result, folds, task)
        result["seconds"] = time.perf_counter() - start
        result["width"] = sum(r["width"] for r, _ in picked)  # the heads' columns, the joint's not embedded here
        row = sel.table_row(blend, names, result, None)
        row["n_scored"], row["_candidate"] = widest, blend
        out.append(row)
    return out


def fitted_outputs(candidate, value, embedded: dict, y: np.ndarray, fit_idx, out_idx, *, task: str,
                   n_outputs: int) -> np.ndarray:
    """Outputs on ``out_idx`` of ``candidate``'s head fitted on ``fit_idx`` at ``value``: one head's,
    or a blend's or ensemble's average of its parts' heads (each at its own value)."""
    if isinstance(candidate, Ensemble):
        parts = candidate.member_parts(embedded)
        return sum(share * _fitted(emb, dims, c, y, fit_idx, out_idx, task, n_outputs)
                   for share, (emb, dims), c in zip(candidate.shares, parts, value))
    emb, dims = candidate.blocks(embedded)
    return _fitted(emb, dims, value, y, fit_idx, out_idx, task, n_outputs)


def _fitted(emb, dims, value, y, fit_idx, out_idx, task, n_outputs) -> np.ndarray:
    weight, bias = fit_head(emb[fit_idx], y[fit_idx], block_dims=dims, task=task, value=value, n_outputs=n_outputs)
    return emb[out_idx] @ weight.T + bias
