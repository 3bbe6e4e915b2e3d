"""Auto's fine-tuning candidate: LP-FT from the chosen frozen model, judged on a held-out part.

LP-FT (linear probe, then fine-tune): the head starts as the frozen model's, fitted on the fitting
part, and the last stages train at the fine-tune's lower body rate, so the first gradients the body
sees come from a good head, not a random one. The held-out part of the training data decides the
epochs (the fine-tune keeps the epoch of lowest held-out loss, or the mean of the last epochs'
weights where that is lower) and whether fine-tuning is kept at
all: it must beat the frozen model's head, fitted on the same fitting part, on the same cases.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from sigxfer.errors import ParameterError
from sigxfer.learning.augment import Augmenter
from sigxfer.learning.callbacks import Deadline
from sigxfer.learning.objectives import class_weights, make_loss, validation_split
from sigxfer.learning.costs import tail_train_rate
from sigxfer.learning.prefix import front_seconds, keeps
from sigxfer.learning.strategies import selection as sel
from sigxfer.learning.strategies.base import set_linear_head
from sigxfer.learning.strategies.blend import fitted_outputs
from sigxfer.learning.strategies.ensemble import Ensemble
from sigxfer.learning.strategies.finetune import FineTune
from sigxfer.learning.strategies.heads import fit_head, holdout_score


def finetune_of_auto(params: dict) -> FineTune:
    """The settings of auto's LP-FT candidate: ``FineTune(patience=None, average_last=3, **params)``;
    a bad value is reported as auto's, the strategy it was given to.

    Examples
    --------
    >>> finetune_of_auto({"epochs": 5}).patience, finetune_of_auto({}).average_last
    (None, 3)
    """
    try:
        return FineTune(**{"patience": None, "average_last": 3, **params})
    except ParameterError as err:
        text, own = str(err), f"strategy {FineTune.name!r}: "
        raise ParameterError(f"strategy 'auto': {text[len(own):]}" if text.startswith(own) else text) from None


def lp_ft(net, X, y, best: dict, embedded: dict, *, finetune: FineTune, unfreeze: int | None, task: str,
          n_outputs: int, seed: int, batch_size: int, progress, left, table: list, groups=None, baseline=None):
    """Try LP-FT on ``net`` (the frozen model ``best``); keep it only if it wins on the held-out part.

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
        The views' embeddings of ``X`` (:func:`~sigxfer.learning.strategies.views.embed_view`).
    finetune : FineTune
        The recipe's settings; its head, head phase and unfreeze are set here.
    unfreeze : int, optional
        Stages to train; None: a third of the backbone's.
    left : callable
        Seconds left in the budget.
    table : list
        The selection table; this candidate's row is appended.
    groups : array, optional
        The training cases' groups: given, LP-FT is skipped (its held-out part does not keep them apart).
    baseline : dict, optional
        The frozen candidate's row the fine-tune must beat on the held-out part, when it is not
        ``best`` (:func:`start_for_lp_ft`); None: ``best``.

    Returns
    -------
    (history, reason) or None
        The fine-tune's history and why it was kept, or None when the frozen model stays.
    """
    skip = ("LP-FT starts from one head, and the chosen model averages several"
            if isinstance(best["_candidate"], Ensemble) else
            "the fine-tune's held-out part does not keep groups apart" if groups is not None else None)
    if skip:
        table.append({"candidate": f"{best['candidate']} + fine-tune (LP-FT)", "kind": "finetune",
                      "status": f"skipped: {skip}"})
        return None
    n_stages, unfreeze = _stages(net, unfreeze)
    label = f"{best['candidate']} + fine-tune last {unfreeze} stages (LP-FT)"
    if not getattr(net.backbone.config, "trainable", True):
        table.append({"candidate": label, "kind": "finetune", "status": "skipped: the backbone cannot learn"})
        return None
    train_idx, val_idx, note = validation_split(y, finetune.val_size, task=task, seed=seed)
    if not len(val_idx):
        table.append({"candidate": label, "kind": "finetune", "status": f"skipped: {note}"})
        return None
    from sigxfer.learning.memory import check_batch_memory

    cut = n_stages - unfreeze
    try:  # training keeps its activations: a batch that would not fit skips LP-FT, it does not end the fit
        check_batch_memory(net.backbone, net.imager.size, min(batch_size or 32, len(train_idx)), training=True,
                           n_views=net.n_planes,
                           from_stage=cut if _keeps_front(net, cut, finetune, len(train_idx) + len(val_idx)) else 0)
    except ParameterError as err:
        table.append({"candidate": label, "kind": "finetune", "status": f"skipped: {err}"})
        return None
    first, per_epoch = _costs(net, cut, finetune, len(train_idx), len(val_idx), batch_size or 32)
    if first + per_epoch > left():  # not even one epoch fits
        table.append(sel.skipped_row(label, "finetune", first + per_epoch, left()))
        return None
    # The schedule is planned to fit: a cosine cut short by the deadline would end at a high rate.
    epochs = planned_epochs(finetune.epochs, first, per_epoch, left())
    estimate = first + epochs * per_epoch
    emb, dims = best["_candidate"].blocks(embedded)
    snapshot = {k: v.detach().clone() for k, v in net.state_dict().items()}
    weight, bias = fit_head(emb[train_idx], y[train_idx], block_dims=dims, task=task, value=best["C"],
                            n_outputs=n_outputs)
    set_linear_head(net, weight, bias)
    frozen_outputs = emb[val_idx] @ weight.T + bias
    baseline = best if baseline is None else baseline
    if baseline is not best:  # the frozen model to beat reads other views (or averages heads): same fitting part
        frozen_outputs = fitted_outputs(baseline["_candidate"], baseline["C"], embedded, y, train_idx, val_idx,
                                        task=task, n_outputs=n_outputs)
    frozen_score = holdout_score(frozen_outputs, y[val_idx], task)
    frozen_loss = _loss(frozen_outputs, y[val_idx], y[train_idx], finetune, task=task, n_outputs=n_outputs)
    started = time.perf_counter()
    # FineTune draws the same held-out part from the same seed, so both are judged on the same cases.
    # The deadline re-plans the epochs from the measured ones (fewer, or up to the epochs asked), so
    # the rate anneals by the deadline; the fine-tune keeps its epoch of lowest held-out loss, or
    # the mean of its last epochs' weights where that is lower.
    deadline = Deadline(started + left(), most=finetune.epochs)
    tune = dataclasses.replace(finetune, unfreeze=unfreeze, head="keep", head_epochs=0, epochs=epochs,
                               callbacks=[*finetune.callbacks, deadline])
    history = tune.fit(net, X, y, task=task, n_outputs=n_outputs, random_state=seed, batch_size=batch_size,
                       progress=progress)
    averaged = history.get("averaged") or {}
    record = averaged if averaged.get("kept") else \
        next((r for r in history["epochs"] if r["epoch"] == history["best_epoch"]), None)
    tuned_score = None if record is None else record["val_metric"]
    tuned_loss = None if record is None else record["val_loss"]
    table.append({"candidate": label, "kind": "finetune", "status": "scored", "holdout_score": tuned_score,
                  "holdout_frozen_score": frozen_score, "holdout_loss": tuned_loss, "holdout_frozen_loss": frozen_loss,
                  "n_holdout": int(len(val_idx)),
                  "best_epoch": history["best_epoch"], "epochs_planned": epochs,
                  "averaged": averaged or None,
                  "epochs_replanned": deadline.planned, "epochs_run": len(history["epochs"]),
                  "stopped_by_budget": deadline.hit, "kept_front": history["kept_front"],
                  "seconds": round(time.perf_counter() - started, 2), "est_seconds": round(estimate, 2)})
    if not beats(tuned_score, frozen_score):
        net.load_state_dict(snapshot)  # the frozen model, its head fitted on every training case
        return None
    history["_chosen"] = label
    reason = (f"LP-FT scored {tuned_score:.3f} (loss {tuned_loss:.4f}) on {len(val_idx)} held-out training cases "
              f"against {frozen_score:.3f} (loss {frozen_loss:.4f}) for the frozen {baseline['candidate']}; "
              + (f"it started from {best['candidate']} ({sel.describe(best)}), see the table's started_from; "
                 if baseline is not best else "")
              + f"the model is the fine-tuned one, fitted on the other {len(train_idx)} cases"
              + (f", its weights the mean of epochs {averaged['epochs'][0]}-{averaged['epochs'][-1]}"
                 if averaged.get("kept") else f", its weights those of epoch {history['best_epoch']}"))
    return history, reason


def beats(tuned_score: float | None, frozen_score: float) -> bool:
    """Whether the fine-tune is kept: a higher held-out score than the frozen model's; a tie keeps
    the frozen one.

    Losses do not break the tie. The fine-tune's is that of the epoch it kept for having the lowest
    loss on these very cases, and a fine-tuned net is surer of itself than a regularised linear
    head, so it would win nearly every tie: on the shipped audio clips, at 600 of 600 right, by
    0.0000 against 0.0008 twice. The rule rests on that bias; on test the two tied runs scored
    0.999 (the fine-tune kept on its loss) and 0.998 (the frozen model kept), BENCHMARKS.md.

    Examples
    --------
    >>> beats(0.998, 0.997), beats(1.0, 1.0), beats(None, 0.5)
    (True, False, False)
    """
    return tuned_score is not None and tuned_score > frozen_score


def epochs_that_fit(net, n_cases: int, *, finetune: FineTune, unfreeze: int | None, batch_size: int,
                    seconds: float) -> int:
    """The epochs LP-FT of ``net`` as it is now (its views, its depths) would plan in ``seconds``."""
    n_stages, unfreeze = _stages(net, unfreeze)
    n_val = int(round(finetune.val_size * n_cases))
    first, per_epoch = _costs(net, n_stages - unfreeze, finetune, n_cases - n_val, n_val, batch_size or 32)
    return planned_epochs(finetune.epochs, first, per_epoch, seconds) if first + per_epoch <= seconds else 0


def start_for_lp_ft(best: dict, rows: list, *, finetune: FineTune, plan) -> tuple[dict, str | None]:
    """``(start, why)``: the frozen candidate LP-FT starts from, ``best`` unless it fits too few epochs.

    A fine-tune reads every view of its model in every step, and the kept maps cost a pass per
    view: on the shipped audio clips two or three views fitted one to four epochs of LP-FT in the
    budget, which lost to the frozen model or scored 0.994 on test, where one view fitted ten and
    scored 0.997-1.000 (BENCHMARKS.md). So when ``best`` reads several views and ``plan(row)``
    (the epochs its fine-tune fits) is under the epochs asked, the best single-view candidate
    among ``rows`` is taken instead if it fits more
    (by CV on as many cases as ``best``, or on the subsample when ``best`` alone was rescored on
    every case). The frozen model LP-FT must beat stays ``best``.

    LP-FT starts from one head: when ``best`` is a blend (:mod:`.blend`), the start is the best
    single head scored on as many cases, then the rule above. A joint backbone's ensemble of its
    members is returned as it is (:func:`lp_ft` then skips: fine-tuning one member's head would
    leave the other network's untrained and its own share unclear).
    """
    if isinstance(best["_candidate"], Ensemble):
        heads = [r for r in rows if r["status"] == "scored" and r.get("kind", "frozen") == "frozen"
                 and r["n_scored"] == best["n_scored"]]
        if best.get("kind") != "blend" or not heads:
            return best, None
        head = max(heads, key=sel.rank)
        start, why = start_for_lp_ft(head, rows, finetune=finetune, plan=plan)
        return start, f"{best['candidate']} averages several heads; LP-FT starts from one" + (f", and {why}" if why else "")
    if len(best["_candidate"].views) == 1:
        return best, None
    mine = plan(best)
    if mine >= finetune.epochs:
        return best, None
    singles = [r for r in rows if r["status"] == "scored" and r.get("kind", "frozen") == "frozen"
               and len(r["_candidate"].views) == 1]
    if not singles:
        return best, None
    # Ranked among those scored on the most cases: as many as ``best`` where a single view was
    # rescored on every case beside it, else the subsample (where every single view was scored).
    widest = max(r["n_scored"] for r in singles)
    singles = [r for r in singles if r["n_scored"] == widest]
    alt = max(singles, key=sel.rank)
    theirs = plan(alt)
    if theirs <= mine:
        return best, None
    return alt, (f"{best['candidate']}'s fine-tune would fit {mine} of {finetune.epochs} epochs, "
                 f"{alt['candidate']}'s {theirs}")


def planned_epochs(epochs: int, first: float, per_epoch: float, seconds: float) -> int:
    """The fine-tune's epochs, as many of ``epochs`` as fit in ``seconds`` by the estimate (at least 1).

    The learning rate follows a cosine over the planned epochs; a run stopped by the deadline
    ends at a high rate, one planned to fit anneals (auto's LP-FT on the shipped audio clips,
    BENCHMARKS.md). The plan is the estimate's; :class:`~sigxfer.learning.callbacks.Deadline`
    re-plans it from the measured epochs, shorter or (up to ``epochs``) longer.

    Examples
    --------
    >>> planned_epochs(10, 60.0, 30.0, 240.0), planned_epochs(10, 0.0, 30.0, math.inf), planned_epochs(10, 60.0, 30.0, 70.0)
    (6, 10, 1)
    """
    if per_epoch <= 0 or not math.isfinite(seconds):  # no budget: the epochs asked for
        return int(epochs)
    return int(max(1, min(epochs, (seconds - first) // per_epoch)))


def _stages(net, unfreeze: int | None) -> tuple[int, int]:
    """``(stages of the backbone, stages LP-FT trains)``: ``unfreeze``, or a third of them."""
    n_stages = len(list(net.backbone.stages()))
    return n_stages, min(n_stages, unfreeze or max(1, math.ceil(n_stages / 3)))


def _keeps_front(net, cut: int, finetune: FineTune, n_cases: int) -> bool:
    """Whether the fine-tune will train from the kept maps of the stages in front of ``cut``: the
    same images every epoch (no augmentation, no mixup) and room for them (:func:`~.prefix.keeps`)."""
    same_images = Augmenter.from_config(finetune.augment).identity and not finetune.mixup > 0
    return keeps(net, cut, n_cases, same_images=same_images)


def _costs(net, cut: int, finetune: FineTune, n_train: int, n_val: int, batch_size: int) -> tuple[float, float]:
    """Measured seconds ``(before the first epoch, per epoch)`` of fine-tuning the stages from ``cut``.

    A training step of the stages that learn is timed on this machine
    (:func:`~sigxfer.learning.costs.tail_train_rate`); scoring the held-out part each epoch is a
    forward pass, about a third of a step. When the stages in front are run once and kept
    (:class:`~sigxfer.learning.prefix.FrozenPrefix`: no augmentation, no mixup, room in memory),
    steps start from their maps, and that one pass over every case, timed as the prefix runs it,
    comes first.
    """
    kept = _keeps_front(net, cut, finetune, n_train + n_val)
    rate = tail_train_rate(net, cut, start=cut if kept else 0, batch_size=max(1, min(batch_size, n_train)),
                           batchnorm=finetune.batchnorm)
    per_epoch = (n_train + n_val / 3) / rate
    return (net.n_planes * (n_train + n_val) * front_seconds(net, cut) if kept else 0.0), per_epoch


def _loss(outputs, target, fit_target, finetune: FineTune, *, task: str, n_outputs: int) -> float:
    """The fine-tune's own validation loss (its loss and class weights) of the frozen head's outputs."""
    import torch

    loss = finetune.loss or ("cross_entropy" if task == "classification" else "mse")
    weights = class_weights(fit_target, n_outputs, finetune.class_weight) if task == "classification" else None
    dtype = torch.long if task == "classification" else torch.float32
    target = torch.as_tensor(np.asarray(target), dtype=dtype)
    outputs = torch.as_tensor(np.asarray(outputs, dtype=np.float32))
    if task != "classification":
        target = target.reshape(outputs.shape)
    return float(make_loss(task, loss, weights)(outputs, target))
