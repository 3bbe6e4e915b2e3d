"""The frozen model auto keeps: the chosen candidate's views and depths set on the network, and
its head fitted on every training case.

:class:`~.auto.Auto` calls :func:`keep_frozen` once its search has chosen (and again when LP-FT
starts from another row or loses); the embeddings are the search's own, so the head is fitted on
exactly what was scored.
"""

from __future__ import annotations

from sigxfer.learning.strategies import ensemble as ens
from sigxfer.learning.strategies.base import set_linear_head
from sigxfer.learning.strategies.heads import fit_head
from sigxfer.learning.strategies.linear import set_net_features


def keep_frozen(net, candidate, embedded, y, best: dict, *, task: str, n_outputs: int, chain: bool, config: dict,
                head: bool = True) -> dict | None:
    """Make ``net`` the frozen model of ``candidate`` (scored as the table row ``best``): its views,
    its depths and a head fitted on all training cases; returns the history, ``config`` (the
    strategy's) under ``"strategy"``. ``head=False``: the views and depths only, e.g. to time its
    fine-tune (returns None).
    """
    names = list(net.view_names)
    net.keep_views(candidate.views)
    if not chain:
        net.set_features(None)  # a backbone without a stage chain: its own last-layer embedding
    else:
        set_net_features(net, candidate.features, candidate.pooling)
    if not head:
        return None
    if isinstance(candidate, ens.Ensemble):  # each member's head on its own columns, averaged
        heads = [fit_head(emb, y, block_dims=dims, task=task, value=value, n_outputs=n_outputs)
                 for (emb, dims), value in zip(candidate.member_parts(embedded), best["C"])]
        weight, bias = candidate.head(heads, embedded)
    else:
        emb, dims = candidate.blocks(embedded)
        weight, bias = fit_head(emb, y, block_dims=dims, task=task, value=best["C"], n_outputs=n_outputs)
    set_linear_head(net, weight, bias)
    key = "C" if task == "classification" else "alpha"
    history = {"strategy": config, "n_train": int(len(y)), "views": list(net.view_names),
               "features": candidate.features, "pooling": candidate.pooling, "shift": net.shift, "power": net.power, key: best["C"],
               "embedding_dim": int(net.embedding_dim)}
    if getattr(candidate, "kind", None) == "blend":  # what each averaged head reads, and its share
        history["heads"] = [{"reads": label, "share": round(float(share), 6), key: value} for label, share, value
                            in zip(candidate.part_labels(names), candidate.shares, best["C"])]
    return history
