"""Auto's ensembles on a joint backbone: each member network's own best head, their outputs averaged.

A joint backbone (:mod:`sigxfer.backbones.joint`) runs every member on every view and joins their
features block by block. Cut back into each member's columns, the same embeddings let auto search
each network on its own; the average of the members' best heads is then one linear head on the
joint features (zero where a member's candidate reads nothing), so the chosen model is still one
:class:`~sigxfer.learning.network.SignalNet` and nothing downstream changes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import ClassVar

import numpy as np

from sigxfer.learning.strategies import selection as sel
from sigxfer.learning.strategies.heads import cv_average
from sigxfer.learning.strategies.selection import Candidate


def member_embeddings(embedded: dict, widths) -> list[dict]:
    """Each member's own blocks, cut out of a joint backbone's: one ``embedded``-like dict per member.

    ``widths[k]`` lists the members' widths in tap block ``k``
    (:meth:`~sigxfer.backbones.joint.JointBackbone.member_widths`); a banded block is that many
    times wider, and the cut scales with it. The arrays are views: nothing is copied.

    Examples
    --------
    >>> embedded = {0: {"mean": [np.arange(10.0).reshape(2, 5)]}}
    >>> [m[0]["mean"][0].shape for m in member_embeddings(embedded, [[2, 3]])]
    [(2, 2), (2, 3)]
    """
    n_members = len(widths[0])
    out: list[dict] = [{} for _ in range(n_members)]
    for v, by_pooling in embedded.items():
        for m in range(n_members):
            out[m][v] = {}
        for p, blocks in by_pooling.items():
            cut: list[list[np.ndarray]] = [[] for _ in range(n_members)]
            for block, ws in zip(blocks, widths):
                factor, at = block.shape[1] // sum(ws), 0
                for m, w in enumerate(ws):
                    cut[m].append(block[:, at:at + w * factor])
                    at += w * factor
            for m in range(n_members):
                out[m][v][p] = cut[m]
    return out


def _tap_range(features: str, n_blocks: int) -> range:
    return range(n_blocks) if features == "multi" else range(n_blocks - 1, n_blocks)


def member_labels(member_names) -> list[str]:
    """How the table names each member: its network, numbered when a network is joined with itself.

    Examples
    --------
    >>> member_labels(("efficientnet_lite1", "efficientnet_lite2")), member_labels(("tinynet", "tinynet"))
    (['efficientnet_lite1', 'efficientnet_lite2'], ['tinynet #1', 'tinynet #2'])
    """
    names = list(member_names)
    return names if len(set(names)) == len(names) else [f"{name} #{m + 1}" for m, name in enumerate(names)]


@dataclasses.dataclass(frozen=True)
class Ensemble:
    """Several candidates' heads, their outputs averaged: one linear head on the union of their columns.

    Two kinds share this class. The members' ensemble of a joint backbone (``members`` None):
    part ``m`` is member ``m``'s own best candidate, each counted once. A blend
    (:func:`~.blend.greedy_blend`): any scored candidates, part ``i`` reading member ``members[i]``'s
    columns (None: every member's, a head of the joint or of a single network), counted
    ``weights[i]`` times. Either way the average of the parts' logits (or regression outputs) is
    one linear head on the union's features, each part's weights scaled by its share and zero
    where it reads nothing, so the model stays one
    :class:`~sigxfer.learning.network.SignalNet` reading the union of the views.
    """

    parts: tuple[Candidate, ...]
    member_names: tuple[str, ...]
    widths: tuple[tuple[int, ...], ...]  # member widths per tap block (member_widths; one member: the block's)
    members: tuple[int | None, ...] | None = None  # member whose columns part i reads; None: part m is member m
    weights: tuple[int, ...] | None = None  # times part i counts in the average; None: once each

    @property
    def kind(self) -> str:  # its row in the selection table
        return "ensemble" if self.members is None else "blend"

    @property
    def part_members(self) -> tuple[int | None, ...]:
        return tuple(range(len(self.parts))) if self.members is None else self.members

    @property
    def shares(self) -> np.ndarray:
        weights = np.ones(len(self.parts)) if self.weights is None else np.asarray(self.weights, dtype=float)
        return weights / weights.sum()

    @property
    def views(self) -> tuple[int, ...]:
        return tuple(sorted({v for part in self.parts for v in part.views}))

    @property
    def features(self) -> str:
        return "multi" if any(part.features == "multi" for part in self.parts) else "last"

    @property
    def pooling(self) -> str:
        return self.parts[0].pooling

    def label(self, names) -> str:
        if self.members is None:
            return "ensemble of " + " and ".join(f"{member} ({part.label(names)})"
                                                 for member, part in zip(member_labels(self.member_names), self.parts))
        return f"blend of {len(self.parts)} heads: " + ", ".join(
            label + ("" if w == 1 else f" ×{w}")
            for label, w in zip(self.part_labels(names), self.weights or (1,) * len(self.parts)))

    def part_labels(self, names) -> list[str]:
        """Each part's candidate in words, with the member whose columns it reads (if one)."""
        labels = member_labels(self.member_names)
        return [("" if m is None else f"{labels[m]}: ") + part.label(names) for part, m in zip(self.parts, self.part_members)]

    @property
    def joint(self) -> Candidate:
        """What the final network reads: every member on the union of the views."""
        return Candidate(self.views, self.features, self.pooling)

    def blocks(self, embedded: dict) -> tuple[np.ndarray, list[int]]:
        return self.joint.blocks(embedded)

    def width(self, embedded: dict) -> int:
        return self.joint.width(embedded)

    def member_parts(self, embedded: dict) -> list[tuple[np.ndarray, list[int]]]:
        """Each part's columns and block widths: its member's own, or every member's."""
        members = member_embeddings(embedded, self.widths)
        return [part.blocks(embedded if m is None else members[m]) for part, m in zip(self.parts, self.part_members)]

    def head(self, heads, embedded: dict) -> tuple[np.ndarray, np.ndarray]:
        """``(weight, bias)`` on :meth:`blocks`'s columns from each part's ``(weight, bias)``
        on its own columns: the weighted average of the parts' outputs as one linear map.

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> embedded = {v: {"mean": [rng.normal(size=(6, 5)), rng.normal(size=(6, 7))]} for v in (0, 1)}
        >>> ens = Ensemble((Candidate((0,), "last"), Candidate((0, 1), "multi")), ("a", "b"), ((2, 3), (3, 4)))
        >>> heads = [(rng.normal(size=(2, e.shape[1])), rng.normal(size=2)) for e, _ in ens.member_parts(embedded)]
        >>> weight, bias = ens.head(heads, embedded)
        >>> joint, mean = ens.blocks(embedded)[0], sum(e @ w.T + b for (e, _), (w, b) in zip(ens.member_parts(embedded), heads)) / 2
        >>> bool(np.allclose(joint @ weight.T + bias, mean))
        True
        """
        n_blocks, n_members = len(self.widths), len(self.widths[0])
        segments, at = {}, 0
        for v in self.views:
            for k in _tap_range(self.features, n_blocks):
                factor = embedded[v][self.pooling][k].shape[1] // sum(self.widths[k])
                for m, w in enumerate(self.widths[k]):
                    segments[(v, k, m)] = (at, w * factor)
                    at += w * factor
        weight = np.zeros((heads[0][0].shape[0], at))
        for part, member, share, (w_p, _) in zip(self.parts, self.part_members, self.shares, heads):
            col = 0
            for v in part.views:
                for k in _tap_range(part.features, n_blocks):
                    for m in range(n_members) if member is None else (member,):
                        start, width = segments[(v, k, m)]
                        weight[:, start:start + width] += share * w_p[:, col:col + width]
                        col += width
        return weight, sum(share * b for share, (_, b) in zip(self.shares, heads))


def score_ensemble(ensemble: Ensemble, embedded: dict, y: np.ndarray, folds, *, task: str, values,
                   n_outputs: int, max_iter: int) -> dict:
    """CV result of an ensemble, each member's head at its own chosen ``values[m]``, on the same folds."""
    start = time.perf_counter()
    result = cv_average([(emb, dims, value) for (emb, dims), value in zip(ensemble.member_parts(embedded), values)],
                        y, folds, task=task, n_outputs=n_outputs, max_iter=max_iter)
    sel.mark_held_out(result, folds, task)
    result["seconds"] = time.perf_counter() - start
    result["width"] = ensemble.width(embedded)
    return result


def accuracy_tolerance(single: dict) -> float:
    """How much CV accuracy an average may give up against the best single head ``single``: one
    standard error of that head's accuracy, sqrt(p(1 - p) / n) over the n held-out cases it
    was scored on (none where it got every case right).

    Examples
    --------
    >>> round(accuracy_tolerance({"cv_score": 0.975, "n_scored": 36}), 4)
    0.026
    >>> accuracy_tolerance({"cv_score": 1.0, "n_scored": 20})
    0.0
    >>> round(accuracy_tolerance({"cv_score": 0.9, "n_scored": 3000, "n_holdout": 600}), 4)
    0.0122
    """
    p, n = single["cv_score"], single.get("n_holdout") or single.get("n_scored") or 1
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def prefer_ensemble(single: dict, ensembles: list, *, task: str) -> dict | None:
    """The ensemble (or blend) row to take instead of the best single-head row ``single``, or None.

    Classification compares CV log-loss: fold accuracies of a few cases each tie too often (both
    at 1.000 on several small sets) to tell a model from a steadier average of two. On six
    UCR/UEA sets the ensemble of a joint backbone's members had the lower CV log-loss on all six
    and a mean test accuracy of 0.940 against 0.931 for the best single head (BENCHMARKS.md).
    An average whose CV accuracy trails the single head's by more than one standard error
    (:func:`accuracy_tolerance`) is not taken, whatever its log-loss: with many classes and one
    or two cases each, an average of two overconfident heads lowers the log-loss while it gets
    far fewer cases right (PigCVP, 52 classes: 0.529 against 0.692 in CV, 0.755 against 0.870
    on the test split). Regression compares CV R².

    Examples
    --------
    >>> prefer_ensemble({"cv_log_loss": 0.3, "cv_score": 0.9, "n_scored": 50},
    ...                 [{"cv_log_loss": 0.2, "cv_score": 0.88}], task="classification")
    {'cv_log_loss': 0.2, 'cv_score': 0.88}
    >>> prefer_ensemble({"cv_log_loss": 5.5, "cv_score": 0.69, "n_scored": 104},
    ...                 [{"cv_log_loss": 2.8, "cv_score": 0.53}], task="classification") is None
    True
    >>> prefer_ensemble({"cv_score": 0.9}, [{"cv_score": 0.8}], task="regression") is None
    True
    """
    if not ensembles:
        return None
    if task == "classification":
        floor = single["cv_score"] - accuracy_tolerance(single) - 1e-12
        close = [r for r in ensembles if r["cv_score"] >= floor]
        if not close:
            return None
        pick = min(close, key=lambda r: r["cv_log_loss"])
        return pick if pick["cv_log_loss"] < single.get("cv_log_loss", float("inf")) else None
    pick = max(ensembles, key=lambda r: r["cv_score"])
    return pick if pick["cv_score"] > single["cv_score"] else None


def ensemble_reason(ensemble: dict, single: dict, *, task: str) -> str:
    """Why the ensemble (or blend) won over the best single head, in words.

    Examples
    --------
    >>> ensemble_reason({"kind": "blend", "cv_score": 1.0, "cv_log_loss": 0.01},
    ...                 {"candidate": "gaf / last", "cv_score": 1.0, "cv_log_loss": 0.02}, task="classification")[:60]
    'the average of heads picked greedily by their held-out log-l'
    """
    what = ("the average of heads picked greedily by their held-out log-loss" if ensemble.get("kind") == "blend"
            else "the average of the members' best heads")
    if task == "classification":
        return (f"{what} has the lower CV log-loss ({ensemble['cv_log_loss']:.3g} "
                f"against {single['cv_log_loss']:.3g}; accuracy {ensemble['cv_score']:.3f} against "
                f"{single['cv_score']:.3f}) than the best single head, {single['candidate']}")
    return (f"{what} has the higher CV R² ({ensemble['cv_score']:.3f} against "
            f"{single['cv_score']:.3f}) than the best single head, {single['candidate']}")


def score_ensembles(backbone, embedded: dict, names, search, poolings, taps, y: np.ndarray, folds, *, task: str,
                    n_outputs: int, left, table: list) -> list:
    """A joint backbone's members searched one by one, then the average of their best heads.

    ``search(member_embedded, table, desc=)`` runs auto's search on one member's columns and returns its
    rows. Those rows go to ``table`` as ``kind="member"``; they cannot be chosen themselves, since
    the network computes every member. Per pooling, the members' best candidates make one
    :class:`Ensemble`, scored on the same ``folds``; its rows are returned, to compete with the
    joint's single heads (:func:`prefer_ensemble`).
    """
    widths = tuple(tuple(ws) for ws in backbone.member_widths(taps))
    best_of = []
    for m, (member, member_embedded) in enumerate(zip(member_labels(backbone.member_names),
                                                      member_embeddings(embedded, widths))):
        own: list = []
        rows = search(member_embedded, own, desc=f"auto: scoring {member} alone")
        rows = [r for r in rows if r["status"] == "scored"]
        for row in own:
            row["candidate"], row["kind"], row["_member"] = f"{member}: {row['candidate']}", "member", m
        table.extend(own)
        widest = max((r["n_scored"] for r in rows), default=0)
        best_of.append({p: max((r for r in rows if r["n_scored"] == widest and r["pooling"] == p), key=sel.rank,
                               default=None) for p in poolings})
    out = []
    for p in poolings:
        picks = [best[p] for best in best_of]
        if any(r is None for r in picks):
            continue
        ensemble = Ensemble(tuple(r["_candidate"] for r in picks), tuple(backbone.member_names), widths)
        estimate = sum(r["seconds"] for r in picks)  # a grid per member: more than one value per fold costs
        if estimate > left():
            table.append(sel.skipped_row(ensemble.label(names), "ensemble", estimate, left()))
            continue
        result = score_ensemble(ensemble, embedded, y, folds, task=task, values=[r["C"] for r in picks],
                                n_outputs=n_outputs, max_iter=500)
        row = sel.table_row(ensemble, names, result, estimate)
        row["n_scored"], row["_candidate"] = len(y), ensemble
        table.append(row)
        out.append(row)
    return out
