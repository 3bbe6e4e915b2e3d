"""Auto's frozen search: its plan, each view embedded while the budget allows, heads scored on them,
and the best frozen candidate with the reason for it.

What follows the search (LP-FT from ``large_n`` cases, the chosen model's head, the history) is
:class:`~.auto.Auto`'s. Nothing here sees test data: ``X`` and ``y`` are the training cases.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from tqdm.auto import tqdm

from sigxfer.learning.strategies import ensemble as ens
from sigxfer.learning.strategies import selection as sel
from sigxfer.learning.strategies import views as view_passes
from sigxfer.learning.strategies.blend import score_blends, single_widths
from sigxfer.learning.strategies.views import ViewEmbeddings

#: Share of the budget kept for scoring heads when deciding how many views to embed.
SCORING_SHARE = 0.25


@dataclasses.dataclass
class FrozenSearch:
    """What the frozen search found.

    ``best`` is the chosen row (a single head's or an ensemble's) and ``reason`` why; ``rows``
    every row of auto's own search, both rounds of the halving (``table`` holds those, the
    members' and the skipped steps'); ``views`` the embeddings, complete for ``best``'s views;
    ``folds`` those that scored the last round; ``rate`` the images per second of the last pass;
    ``chain`` whether the backbone has a chain of stages (multi-depth features).
    """

    best: dict
    reason: str
    rows: list
    table: list
    views: ViewEmbeddings
    folds: list
    rate: float
    chain: bool


def frozen_search(auto, net, X: np.ndarray, y: np.ndarray, *, task: str, n_outputs: int, seed: int, groups,
                  batch_size, budget: float, kept_for_tuning: float, left, show: bool, say) -> FrozenSearch:
    """Embed ``net``'s candidate views and score ``auto``'s candidates on them in the time left.

    ``budget`` is the whole fit's seconds (``math.inf``: none) and ``left()`` what remains of it;
    the search leaves ``kept_for_tuning`` of it to LP-FT. ``say`` prints the plan.
    """
    def left_frozen() -> float:  # what the frozen search may spend: LP-FT's share stays
        return left() - kept_for_tuning

    n = len(X)
    folds, fold_note = sel.make_folds(y, task=task, cv=auto.cv, seed=seed, groups=groups)
    if n >= auto.large_n:
        # A large set: what is scored on every case is scored on one held-out part, the one
        # LP-FT is judged on (a fifth of every case says more than k folds of the subsample,
        # at a k-th of the cost of k folds of every case).
        folds = sel.held_out_fold(y, folds, task=task, val_size=auto.finetune.val_size, seed=seed,
                                  grouped=groups is not None)
        fold_note = None
    names = list(net.view_names)
    auto.read_as_candidates(net)  # every view is embedded, and the kept model reads, as the user asked
    features, taps, poolings, chain = auto.reads(net)
    rate = view_passes.measure_rate(net, X, taps=taps, poolings=poolings)
    subset = None
    if groups is None and auto.subsample is not None and n > auto.subsample:
        # Successive halving: every candidate on a subsample, the best few on every case; the
        # views too are embedded on the subsample first, and on every case for the finalists
        # (on a joint backbone the members' own searches need every view's every case).
        pick = sel.stratified_subsample(y, auto.subsample, task=task, seed=seed)
        subset = (pick, sel.make_folds(y[pick], task=task, cv=auto.cv, seed=seed)[0])
    joint = auto.ensemble and getattr(net.backbone, "member_names", None)
    halves = subset is not None and not joint
    say(_plan(auto, net, n, features, poolings, rate, subset, halves, folds, budget, kept_for_tuning))

    views = ViewEmbeddings(net, X, taps=taps, poolings=poolings, rows=subset[0] if halves else None,
                           batch_size=batch_size)
    table, embedded = [], views.embedded
    first = views.first_cases
    reserve = 0.0 if budget == math.inf else SCORING_SHARE * (budget - kept_for_tuning)
    with tqdm(total=len(names) * first, desc="auto: embedding", unit="image", disable=not show,
              leave=False) as bar:
        for v, view in enumerate(names):
            estimate = first / rate
            if embedded and estimate > left_frozen() - reserve:
                table.append(sel.skipped_row(view + " (embedding)", "view", estimate, left_frozen() - reserve,
                                             room="left for views, a quarter of the budget kept for heads"))
                bar.update(first)
                continue
            views.embed(v, on_batch=bar.update)
            rate = views.rate  # the rate of real batches, for what follows

    def search(columns, own, views=None, desc="auto: scoring"):  # on ``columns``: all, or one member's
        return sel.score_candidates(columns, names, features, poolings, y, folds, subset, Cs=auto.Cs,
                                    max_views=auto.max_views, task=task, n_outputs=n_outputs, left=left_frozen,
                                    show=show, table=own, views=views, desc=desc)

    rows = search(embedded, table, views if halves else None)
    if joint:
        rows += ens.score_ensembles(net.backbone, embedded, names, search, poolings, taps, y, folds, task=task,
                                    n_outputs=n_outputs, left=left_frozen, table=table)
    if auto.blend:
        members = tuple(net.backbone.member_names) if joint else (body_name(net),)
        blends = score_blends(table, names, y, folds, subset, task=task, poolings=poolings, member_names=members,
                              widths_of=lambda p: (tuple(tuple(ws) for ws in net.backbone.member_widths(taps)) if joint
                                                   else single_widths(embedded, p)))
        table.extend(blends)
        rows += blends
    scored = [r for r in rows if r["status"] == "scored"]
    widest = max(r["n_scored"] for r in scored)
    scored = [r for r in scored if r["n_scored"] == widest]  # the last round decides
    singles = [r for r in scored if r["kind"] not in ("ensemble", "blend")]
    best = max(singles, key=sel.rank)
    reason = sel.reason(best, singles, table, fold_note)
    averaged = ens.prefer_ensemble(best, [r for r in scored if r["kind"] in ("ensemble", "blend")], task=task)
    if averaged is not None:
        reason = ens.ensemble_reason(averaged, best, task=task) + "; " + reason
        best = averaged
    views.complete(getattr(best["_candidate"], "views", ()))  # the model's head is fitted on every case
    return FrozenSearch(best=best, reason=reason, rows=rows, table=table, views=views, folds=folds, rate=rate,
                        chain=chain)


def body_name(net) -> str:
    """The name of ``net``'s backbone (its registry name, else its class's)."""
    return getattr(getattr(net.backbone, "config", None), "name", type(net.backbone).__name__)


def _plan(auto, net, n, features, poolings, rate, subset, halves, folds, budget, kept_for_tuning) -> str:
    """The plan auto prints before it starts: cases, backbone, views, scoring, budget."""
    names = list(net.view_names)
    body = body_name(net)
    if len(folds) > 1:
        scoring = f"{len(folds)}-fold CV of {auto.Cs} regularisation values per head"
    else:
        scoring = (f"{len(subset[1])}-fold CV of {auto.Cs} regularisation values per head on the subsample, "
                   if subset is not None else f"{auto.Cs} regularisation values per head, ")
        scoring += f"on every case scored on a held-out part of {len(folds[0][1])}"
    return (f"auto: {n} training cases, backbone {body}, {len(names)} candidate views ({', '.join(names)}), "
            f"features {'/'.join(features)}, pooling {'/'.join(poolings)}"
            + (f", each series also read shifted by {net.shift:g} of its length either way (3 passes)"
               if net.shift else "")
            + (f", features through a signed power of {net.power:g}" if net.power != 1.0 else "")
            + f"; {rate:.1f} series/s measured, so about {n / rate:.0f} s per view"
            + (f" (each first on a subsample of {len(subset[0])}, then the finalists' on every case)"
               if halves else "") + f"; {scoring}; "
            f"budget {'none' if budget == math.inf else f'{budget:.0f} s'}"
            + (f"; no fine-tuning ({n} < {auto.large_n} cases)" if n < auto.large_n else
               f"; {kept_for_tuning:.0f} s of it kept for fine-tuning (LP-FT)" if kept_for_tuning else ""))
