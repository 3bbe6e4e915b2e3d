"""Auto's fine-tuning candidate: LP-FT from the chosen frozen model, judged on a held-out part.

LP-FT (linear probe, then fine-tune): the head starts as the frozen model's, fitted on the fitting
part, and the last stages train at the fine-tune's lower body rate, so the first gradients the body
sees come from a good head, not a random one. The held-out part of the training data decides the
epochs (the fine-tune keeps the epoch of lowest held-out loss) and whether fine-tuning is kept at
all: it must beat the frozen model's head, fitted on the same fitting part, on the same cases.
"""

from __future__ import annotations

import dataclasses
import math
import time

from sigxfer.learning.objectives import validation_split
from sigxfer.learning.strategies import selection as sel
from sigxfer.learning.strategies.base import set_linear_head
from sigxfer.learning.strategies.finetune import FineTune
from sigxfer.learning.strategies.heads import fit_head, holdout_score


def lp_ft(net, X, y, best: dict, embedded: dict, *, finetune: FineTune, unfreeze: int | None, task: str,
          n_outputs: int, seed: int, batch_size: int, progress, rate: float, left, table: list):
    """Try LP-FT on ``net`` (the chosen frozen model); keep it only if it wins on the held-out part.

    Parameters
    ----------
    net : SignalNet
        The frozen model auto chose, its head fitted on every training case; left as it is when
        fine-tuning loses or does not fit in the time left.
    X, y : ndarray
        The training signals and targets (the held-out part is drawn from them).
    best : dict
        The chosen frozen candidate's table row (``C``, ``candidate``, ``cv_score``, ``_candidate``).
    embedded : dict
        The views' embeddings of ``X`` (:func:`~sigxfer.learning.strategies.selection.embed_view`).
    finetune : FineTune
        The recipe's settings; its head, head phase and unfreeze are set here.
    unfreeze : int, optional
        Stages to train; None: a third of the backbone's.
    rate : float
        Measured images per second, for the cost estimate.
    left : callable
        Seconds left in the budget.
    table : list
        The selection table; this candidate's row is appended.

    Returns
    -------
    (history, reason) or None
        The fine-tune's history and why it was kept, or None when the frozen model stays.
    """
    n_stages = len(list(net.backbone.stages()))
    unfreeze = min(n_stages, unfreeze or max(1, math.ceil(n_stages / 3)))
    label = f"{best['candidate']} + fine-tune last {unfreeze} stages (LP-FT)"
    if not getattr(net.backbone.config, "trainable", True):
        table.append({"candidate": label, "kind": "finetune", "status": "skipped: the backbone cannot learn"})
        return None
    train_idx, val_idx, note = validation_split(y, finetune.val_size, task=task, seed=seed)
    if not len(val_idx):
        table.append({"candidate": label, "kind": "finetune", "status": f"skipped: {note}"})
        return None
    from sigxfer.errors import ParameterError
    from sigxfer.learning.memory import check_batch_memory

    try:  # training keeps every activation: a batch that would not fit skips LP-FT, it does not end the fit
        check_batch_memory(net.backbone, net.imager.size, min(batch_size or 32, len(train_idx)), training=True,
                           n_views=net.n_views)
    except ParameterError as err:
        table.append({"candidate": label, "kind": "finetune", "status": f"skipped: {err}"})
        return None
    # A forward and backward pass costs about three forward passes per case and epoch.
    estimate = finetune.epochs * net.n_views * (3 * len(train_idx) + len(val_idx)) / rate
    if estimate > left():
        table.append(sel.skipped_row(label, "finetune", estimate, left()))
        return None
    emb, dims = best["_candidate"].blocks(embedded)
    snapshot = {k: v.detach().clone() for k, v in net.state_dict().items()}
    weight, bias = fit_head(emb[train_idx], y[train_idx], block_dims=dims, task=task, value=best["C"],
                            n_outputs=n_outputs)
    set_linear_head(net, weight, bias)
    frozen_score = holdout_score(emb[val_idx] @ weight.T + bias, y[val_idx], task)
    started = time.perf_counter()
    # FineTune draws the same held-out part from the same seed, so both are judged on the same cases.
    tune = dataclasses.replace(finetune, unfreeze=unfreeze, head="keep", head_epochs=0)
    history = tune.fit(net, X, y, task=task, n_outputs=n_outputs, random_state=seed, batch_size=batch_size,
                       progress=progress)
    record = next((r for r in history["epochs"] if r["epoch"] == history["best_epoch"]), None)
    tuned_score = None if record is None else record["val_metric"]
    table.append({"candidate": label, "kind": "finetune", "status": "scored", "holdout_score": tuned_score,
                  "holdout_frozen_score": frozen_score, "n_holdout": int(len(val_idx)),
                  "best_epoch": history["best_epoch"], "seconds": round(time.perf_counter() - started, 2),
                  "est_seconds": round(estimate, 2)})
    if tuned_score is None or not tuned_score > frozen_score:
        net.load_state_dict(snapshot)  # the frozen model, its head fitted on every training case
        return None
    history["_chosen"] = label
    reason = (f"LP-FT scored {tuned_score:.3f} on {len(val_idx)} held-out training cases against "
              f"{frozen_score:.3f} for the frozen {best['candidate']} (CV {best['cv_score']:.3f}); "
              f"the model is the fine-tuned one, fitted on the other {len(train_idx)} cases")
    return history, reason
