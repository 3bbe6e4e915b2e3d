"""Auto's model selection on the training data: candidates over the embedded views, scored by CV.

The expensive part of a frozen-feature model is the backbone pass; every candidate that differs
only in which views or depths its head reads, or in its regularisation, reuses the same pass. So
each view is embedded once (:mod:`.views`), keeping the pooled map of every depth the
multi-depth features tap (the last of them is the last-layer embedding), and candidates are
column subsets of those blocks, each scored by the same cross-validation folds.

Nothing here sees test data: the caller passes the training signals only, and every index this
module makes points into them.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from tqdm.auto import tqdm

from sigxfer.errors import ParameterError
from sigxfer.learning.strategies.heads import cv_grid, grid, wilson_interval

#: Views whose combinations are all tried; with more candidate views, combinations are drawn
#: from the best-scoring ones.
MAX_COMBINED = 4

#: Candidates scored again on every case after a first round on a subsample.
FINALISTS = 3


def make_folds(y: np.ndarray, *, task: str, cv: int, seed: int, groups=None) -> tuple[list, str | None]:
    """Cross-validation folds over the training cases: stratified for classes, by group when given.

    The number of folds drops to the smallest class count (or group count) when that is fewer.

    Returns
    -------
    folds : list of (train_idx, test_idx)
        Index arrays into ``y``.
    note : str or None
        Why there are fewer folds than asked, if there are.

    Raises
    ------
    ParameterError
        Too few cases (or groups) for two folds.

    Examples
    --------
    >>> folds, note = make_folds(np.array([0, 0, 0, 1, 1, 1]), task="classification", cv=5, seed=0)
    >>> len(folds), note
    (3, 'the smallest class holds 3 case(s): 3 folds instead of 5')
    """
    n = len(y)
    note = None
    if task == "classification":
        limit, what = int(np.bincount(y)[np.bincount(y) > 0].min()), "the smallest class holds {} case(s)"
    else:
        limit, what = n, "there are {} case(s)"
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != n:
            raise ParameterError(f"groups has {len(groups)} entries for {n} cases; give one group per case")
        n_groups = len(np.unique(groups))
        if n_groups < limit:
            limit, what = n_groups, "there are {} group(s)"
    k = min(cv, limit)
    if k < 2:
        raise ParameterError(
            f"strategy 'auto' needs two cross-validation folds but {what.format(limit)}; "
            "give more training cases or use strategy='linear'"
        )
    if k < cv:
        note = f"{what.format(limit)}: {k} folds instead of {cv}"
    dummy = np.zeros(n)
    if groups is not None:
        splitter = (StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed % 2**32)
                    if task == "classification" else GroupKFold(n_splits=k))
        folds = list(splitter.split(dummy, y if task == "classification" else None, groups))
    elif task == "classification":
        folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed % 2**32).split(dummy, y))
    else:
        folds = list(KFold(n_splits=k, shuffle=True, random_state=seed % 2**32).split(dummy))
    return folds, note


def stratified_subsample(y: np.ndarray, size: int, *, task: str, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` training cases, every class in its share (at least 2 where it has them).

    Examples
    --------
    >>> y = np.array([0] * 90 + [1] * 10)
    >>> pick = stratified_subsample(y, 20, task="classification", seed=0)
    >>> len(pick), int((y[pick] == 1).sum())
    (20, 2)
    """
    rng = np.random.default_rng(seed)
    if task != "classification":
        return np.sort(rng.choice(len(y), size=size, replace=False))
    picks = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        share = max(min(2, len(members)), int(round(size * len(members) / len(y))))
        picks.append(rng.choice(members, size=min(share, len(members)), replace=False))
    return np.sort(np.concatenate(picks))


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A frozen-feature model: which views (indices into the net's views), depths and pooling."""

    views: tuple[int, ...]
    features: str  # "last" | "multi"
    pooling: str = "mean"

    def label(self, names) -> str:
        return ("+".join(names[v] for v in self.views) + f" / {self.features}"
                + ("" if self.pooling == "mean" else f" / {self.pooling}"))

    def _arrays(self, embedded: dict) -> list[np.ndarray]:
        arrays = []
        for v in self.views:
            taps = embedded[v][self.pooling]
            arrays += taps[-1:] if self.features == "last" else taps
        return arrays

    def blocks(self, embedded: dict) -> tuple[np.ndarray, list[int]]:
        """The candidate's columns and block widths from ``embedded[view][pooling] = tap blocks``."""
        arrays = self._arrays(embedded)
        return np.concatenate(arrays, axis=1), [a.shape[1] for a in arrays]

    def width(self, embedded: dict) -> int:
        return sum(a.shape[1] for a in self._arrays(embedded))


def single_candidates(views, features, poolings=("mean",)) -> list[Candidate]:
    """One candidate per (view, depth, pooling): last layer before multi-depth, views in the given order."""
    return [Candidate((v,), f, p) for v in views for f in features for p in poolings]


def combined_candidates(ranked_views, features, *, max_views: int, poolings=("mean",)) -> list[Candidate]:
    """Combinations of two or more views, smallest first, drawn from the best-ranked views.

    Up to :data:`MAX_COMBINED` views every combination is tried; beyond, only those of the
    best :data:`MAX_COMBINED` single views.

    Examples
    --------
    >>> [c.views for c in combined_candidates([2, 0, 1], ["last"], max_views=3)]
    [(0, 1), (0, 2), (1, 2), (0, 1, 2)]
    """
    pool = sorted(ranked_views[:MAX_COMBINED])
    out = []
    for size in range(2, min(max_views, len(pool)) + 1):
        for combo in itertools.combinations(pool, size):
            out += [Candidate(tuple(combo), f, p) for f in features for p in poolings]
    return out


def head_scale(first_folds, folds, width: int) -> float:
    """How many times a head's scoring on ``folds`` costs its scoring on ``first_folds``.

    A fold's fit costs about its training cases times the dimension it is solved in, the smaller
    of its cases and ``width`` (:func:`~.heads.row_space`). On the shipped audio clips (2,024
    features, 5 folds of a 500-case subsample, then 5 folds of 3,000 cases) this says 30x and 17x
    was measured (fewer iterations on more cases), so :func:`score_candidates` corrects it by what
    the first finalist measured.

    Examples
    --------
    >>> def kfold(n, k):  # k folds of n cases: each fits on n (k - 1) / k of them
    ...     return [(np.arange(n * (k - 1) // k), np.arange(n // k))] * k
    >>> round(head_scale(kfold(500, 5), kfold(3000, 5), 2024), 1)
    30.4
    >>> round(head_scale(kfold(500, 5), kfold(3000, 5)[:1], 2024), 1)  # one held-out fold
    6.1
    """
    def cost(splits):
        return sum(len(train) * min(len(train), width) for train, _ in splits)

    return cost(folds) / max(cost(first_folds), 1e-9)


def held_out_fold(y: np.ndarray, folds, *, task: str, val_size: float, seed: int, grouped: bool) -> list:
    """The one split that scores candidates on a large training set: ``[(fit_idx, held_out_idx)]``.

    It is the held-out part LP-FT is judged on (:func:`~sigxfer.learning.objectives.validation_split`
    with the same ``val_size`` and seed), so the frozen finalists and the fine-tune are compared on
    the same cases; with groups (which that split does not keep apart), or no cases to hold out,
    the first of the group-aware ``folds``.

    Examples
    --------
    >>> y = np.arange(100) % 4
    >>> [(fit, out)] = held_out_fold(y, None, task="classification", val_size=0.2, seed=0, grouped=False)
    >>> len(fit), len(out), np.bincount(y[out]).tolist()
    (80, 20, [5, 5, 5, 5])
    """
    from sigxfer.learning.objectives import validation_split

    if not grouped:
        fit_idx, held_idx, _ = validation_split(y, val_size, task=task, seed=seed)
        if len(held_idx):
            return [(fit_idx, held_idx)]
    return list(folds[:1])


def mark_held_out(result: dict, folds, task: str) -> dict:
    """On one split, give ``result`` (of :func:`~.heads.cv_grid` or ``cv_average``) the held-out
    part's size (``n_holdout``) and its score's interval: Wilson's for accuracy, None for R² (the
    t-interval over folds needs two of them). On several folds it is left as it is."""
    if len(folds) == 1:
        n_held = len(folds[0][1])
        result["n_holdout"] = n_held
        result["ci"] = ([float(v) for v in wilson_interval(int(round(result["mean"] * n_held)), n_held)]
                        if task == "classification" else None)
    return result


def score(candidate: Candidate, embedded: dict, y: np.ndarray, folds, *, task: str, values, n_outputs: int,
          max_iter: int, rows=None) -> dict:
    """CV result of one candidate (:func:`~sigxfer.learning.strategies.heads.cv_grid`) with its time.

    ``rows`` restricts it to some training cases (``folds`` then index into those).
    """
    start = time.perf_counter()
    emb, dims = candidate.blocks(embedded)
    if rows is not None:
        emb, y = emb[rows], y[rows]
    result = cv_grid(emb, y, folds, block_dims=dims, task=task, values=values, n_outputs=n_outputs,
                     max_iter=max_iter)
    mark_held_out(result, folds, task)
    result["seconds"] = time.perf_counter() - start
    result["width"] = int(emb.shape[1])
    return result


# ----------------------------------------------------------------------------- the table
def table_row(candidate, names, result, estimate) -> dict:
    """The selection table's row of a scored candidate (JSON values; ``estimate``: its predicted seconds)."""
    row = {"candidate": candidate.label(names), "kind": getattr(candidate, "kind", "frozen"),
           "views": [names[v] for v in candidate.views],
           "features": candidate.features, "pooling": candidate.pooling, "width": result["width"], "status": "scored",
           "cv_score": result["mean"], "cv_std": result["std"], "cv_ci": result["ci"], "C": result["value"],
           "fold_scores": result["scores"], "seconds": round(result["seconds"], 3),
           "est_seconds": None if estimate is None else round(estimate, 3),
           "n_holdout": result.get("n_holdout")}
    if "log_loss" in result:
        row["cv_log_loss"] = result["log_loss"]
    if result.get("oof") is not None:  # held-out outputs, for blends (auto drops "_" keys from its history)
        row["_oof"] = result["oof"]
    return row


def skipped_row(label: str, kind: str, estimate: float, left: float, room: str = "left") -> dict:
    """The row of a step skipped because its estimated seconds exceed those ``room`` in the budget.

    Examples
    --------
    >>> skipped_row("gaf (embedding)", "view", 12.0, 3.5)["status"]
    'skipped: over budget (estimated 12.0 s, 3.5 s left)'
    """
    return {"candidate": label, "kind": kind, "status": f"skipped: over budget (estimated {estimate:.1f} s, "
            f"{max(left, 0.0):.1f} s {room})", "est_seconds": round(estimate, 2)}


def rank(row: dict) -> tuple:
    """Sort key of scored rows, best highest: CV score, then lower CV log-loss, then fewer features."""
    return (row["cv_score"], -row.get("cv_log_loss", 0.0), -row["width"])


def describe(row: dict) -> str:
    """A scored row's estimate in words: its k-fold CV score, or its score on the held-out part.

    Examples
    --------
    >>> describe({"cv_score": 0.9, "cv_ci": [0.8, 0.95], "fold_scores": [0.9] * 5, "n_holdout": None})
    '5-fold CV score 0.900 (95% CI 0.800-0.950)'
    >>> describe({"cv_score": 0.99, "cv_ci": [0.98, 0.995], "fold_scores": [0.99], "n_holdout": 600})
    'score 0.990 on 600 held-out training cases (95% CI 0.980-0.995)'
    """
    interval = "" if row["cv_ci"] is None else f" (95% CI {row['cv_ci'][0]:.3f}-{row['cv_ci'][1]:.3f})"
    if row.get("n_holdout"):
        return f"score {row['cv_score']:.3f} on {row['n_holdout']} held-out training cases{interval}"
    return f"{len(row['fold_scores'])}-fold CV score {row['cv_score']:.3f}{interval}"


def reason(best: dict, scored: list, table: list, fold_note) -> str:
    """Why ``best`` was chosen, in one line: its score and interval, the plain baseline, what was skipped."""
    singles = [r for r in scored if len(r["views"]) == 1 and r["features"] == "last"]
    base = max(singles, key=rank) if singles else None
    text = f"highest {describe(best)} of {len(scored)} candidates scored"
    if base is not None and base is not best:
        text += f"; the best single view on its last layer, {base['candidate']}, scored {base['cv_score']:.3f}"
    skipped = sum(r["status"].startswith("skipped") for r in table)
    if skipped:
        text += f"; {skipped} skipped to stay within the time budget (see the table)"
    if fold_note:
        text += f"; {fold_note}"
    return text + "; being the highest of several, the winner's score is optimistic"


def score_candidates(embedded, names, features, poolings, y, folds, subset, *, Cs: int, max_views: int, task,
                     n_outputs, left, show, table, views=None, desc: str = "auto: scoring") -> list:
    """Score singles, then combinations of the best views (on ``subset`` = (rows, folds) when
    given, then the finalists on every case); rows of skipped steps say why.

    ``views`` (a :class:`~.views.ViewEmbeddings` whose ``embedded`` this is) embeds a finalist's
    views on the cases outside the subsample before it is scored on every case, when embedding
    them and scoring it are estimated to fit in the time left (the caller completes the views
    of the model it keeps).
    """
    values = grid(task, Cs)
    rows, unit_cost = [], None
    first_rows, first_folds = subset if subset is not None else (None, folds)
    singles = single_candidates(sorted(embedded), features, poolings)
    total = len(singles) + len(combined_candidates(sorted(embedded), features, max_views=max_views, poolings=poolings))
    total += 0 if subset is None else FINALISTS
    with tqdm(total=total, desc=desc, unit="candidate", disable=not show, leave=False) as bar:
        def record(row, c, n_scored):
            row["n_scored"], row["_candidate"] = n_scored, c
            rows.append(row)
            table.append(row)

        def run(candidates, pick, splits):
            nonlocal unit_cost
            for c in candidates:
                width = c.width(embedded)
                estimate = None if unit_cost is None else unit_cost * width
                if rows and estimate is not None and estimate > left():
                    row = skipped_row(c.label(names), "frozen", estimate, left())
                else:
                    result = score(c, embedded, y, splits, task=task, values=values, n_outputs=n_outputs,
                                       max_iter=500, rows=pick)
                    per_width = result["seconds"] / max(width, 1)
                    unit_cost = per_width if unit_cost is None else max(unit_cost, per_width)
                    row = table_row(c, names, result, estimate)
                record(row, c, len(y) if pick is None else len(pick))
                bar.update(1)

        run(singles, first_rows, first_folds)
        by_view = {}
        for r in rows:
            if r["status"] == "scored":
                v = r["_candidate"].views[0]
                by_view[v] = max(by_view.get(v, -math.inf), r["cv_score"])
        ranked = sorted(by_view, key=lambda v: -by_view[v])
        combined = combined_candidates(ranked, features, max_views=max_views, poolings=poolings)
        bar.total = bar.n + len(combined) + (0 if subset is None else FINALISTS)  # the views actually scored
        run(combined, first_rows, first_folds)
        if subset is not None:
            finalists = sorted((r for r in rows if r["status"] == "scored"), key=rank, reverse=True)
            bar.total = bar.n + len(finalists[:FINALISTS])
            measured = []  # measured / modelled cost of each finalist rescored
            for r in finalists[:FINALISTS]:
                c = r["_candidate"]
                model = head_scale(first_folds, folds, r["width"])
                missing = 0 if views is None else views.missing(c.views)
                head = r["seconds"] * model * (max(measured) if measured else 1.0)
                cost = head + (missing / max(views.rate or 1.0, 1e-6) if missing else 0.0)
                if cost > left():
                    room = "left to embed its views on every case and score it" if missing else "left"
                    record(skipped_row(c.label(names), "frozen", cost, left(), room=room), c, len(y))
                    bar.update(1)
                    continue
                if missing:  # its views on the other cases, then its head
                    with tqdm(total=missing, desc="auto: embedding the rest", unit="image",
                              disable=not show, leave=False) as more:
                        views.complete(c.views, on_batch=more.update)
                result = score(c, embedded, y, folds, task=task, values=values, n_outputs=n_outputs, max_iter=500)
                measured.append(result["seconds"] / max(r["seconds"] * model, 1e-9))
                record(table_row(c, names, result, head), c, len(y))
                bar.update(1)
    return rows
