"""`auto` on the shipped spoken-digit-like task, against MiniRocket and a linear probe, in one run.

    python bench/bench_audio.py                 # 300 clips per class for training (3,000), 100 for testing
    python bench/bench_audio.py --quick         # 10 per class, tinynet: checks the script
    python bench/bench_audio.py --methods linear finetune   # the fine-tune against the probe (MiniRocket always runs)

Training and test clips come from different seeds, so the test "speakers" (pitch, rate, vocal
tract, noise) were never heard in training. Every transfer choice is made on the training clips
only (auto's cross-validation); test accuracy carries a 95% Wilson interval; fit times are wall
seconds on this machine, in the same run.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from sigxfer import TransferClassifier
from sigxfer.data import make_digits
from sigxfer.evaluation.metrics import wilson_interval


def score(name, y_true, y_pred, fit, predict, chose="", tried="") -> dict:
    correct = int(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    lo, hi = wilson_interval(correct, len(y_true))
    return {"method": name, "accuracy": correct / len(y_true), "ci": (lo, hi), "fit": fit, "predict": predict,
            "chose": chose, "tried": tried}


#: What ``--methods`` may name: a row label and the estimator's parameters. The fine-tunes read mel
#: images with FineTune's defaults (head for 2 epochs, then every stage for 10 at a tenth of the
#: head's rate, early stopping on a fifth of the training clips).
METHODS = {
    "linear": ("linear (mel)", {"imaging": "mel", "strategy": "linear"}),
    "auto": ("auto (default budget)", {"strategy": "auto"}),
    "auto-blend": ("auto, blend=True", {"strategy": {"name": "auto", "blend": True}}),
    "auto-root": ("auto, power=0.5", {"strategy": {"name": "auto", "power": 0.5}}),
    "finetune": ("finetune (mel)", {"imaging": "mel", "strategy": "finetune"}),
    "finetune-bn-train": ("finetune (mel), batchnorm=train",
                          {"imaging": "mel", "strategy": {"name": "finetune", "batchnorm": "train"}}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=300, help="training clips per class")
    parser.add_argument("--n-test", type=int, default=100, help="test clips per class")
    parser.add_argument("--backbone", default=None,
                        help="default: none named, as a user leaves it (the probe reads efficientnet_lite0, auto chooses)")
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=["linear", "auto"],
                        help="rows after MiniRocket's (default: linear auto)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    backbone = args.backbone or ("tinynet" if args.quick else None)
    n_train, n_test = (10, 5) if args.quick else (args.n_train, args.n_test)
    train = make_digits(n_train, seed=0)
    test = make_digits(n_test, seed=1)
    print(f"machine: {platform.processor() or platform.machine()}; {len(train)} training clips, {len(test)} test "
          f"clips of {train.n_timepoints} samples at {train.sr:g} Hz; backbone {backbone or 'not named'}", flush=True)
    rows = []

    from aeon.classification.convolution_based import MiniRocketClassifier

    start = time.perf_counter()
    rocket = MiniRocketClassifier(random_state=0, n_jobs=1).fit(train.X.astype(np.float64), train.y)
    fitted = time.perf_counter()
    pred = rocket.predict(test.X.astype(np.float64))
    rows.append(score("MiniRocket", test.y, pred, fitted - start, time.perf_counter() - fitted, "raw clips"))
    print(rows[-1], flush=True)

    size = {"image_size": 32} if args.quick else {}
    for method in args.methods:
        name, params = METHODS[method]
        start = time.perf_counter()
        model = TransferClassifier(backbone=backbone, random_state=0, progress=False, **size, **params).fit(train)
        fitted = time.perf_counter()
        pred = model.predict(test)
        selection = model.history_.get("selection") or {}
        chose = f"{model.backbone_.replace('efficientnet_', '')}: {selection.get('chosen', params.get('imaging', ''))}"
        table = selection.get("table", [])
        tried = (f"{sum(r.get('status') == 'scored' for r in table)} scored, "
                 f"{sum(r.get('status') != 'scored' for r in table)} skipped") if table else "–"
        if "best_epoch" in model.history_:  # a fine-tune: how long it ran and which epoch it kept
            runs = f"{len(model.history_['epochs'])} epochs run, best {model.history_['best_epoch']}"
            tried = f"{tried}; {runs}" if table else runs
        rows.append(score(name, test.y, pred, fitted - start, time.perf_counter() - fitted, chose, tried))
        print(rows[-1], flush=True)
        for r in table:  # auto's fine-tune candidate: what the held-out part said, and what it cost
            if r.get("kind") == "blend" and r.get("status") == "scored":
                print(f"  {r['candidate']}: held-out {r['cv_score']:.4f} (log-loss {r['cv_log_loss']:.4f}) on "
                      f"{r.get('n_holdout') or r['n_scored']} clips", flush=True)
            if r.get("kind") == "finetune":
                print(f"  {r['candidate']}: {r['status']}"
                      + (f"; held-out {r['holdout_score']:.4f} (loss {r['holdout_loss']:.4f}) against the frozen "
                         f"model's {r['holdout_frozen_score']:.4f} (loss {r['holdout_frozen_loss']:.4f}) on "
                         f"{r['n_holdout']} clips; {r['epochs_run']} of {r['epochs_planned']} planned epochs run"
                         + (f" (re-planned to {r['epochs_replanned']} from the measured epochs)"
                            if r.get("epochs_replanned") else "")
                         + f", best {r['best_epoch']}"
                         + (f" (kept: the mean of epochs {r['averaged']['epochs']})"
                            if (r.get("averaged") or {}).get("kept") else "")
                         + ", "
                         f"stopped by the budget: {r['stopped_by_budget']}, maps kept from stage "
                         f"{r['kept_front']}; {r['seconds']:.0f} s (estimated {r['est_seconds']:.0f})"
                         if r["status"] == "scored" else ""), flush=True)
        if selection.get("frozen_search_seconds") is not None:  # what the frozen search cost, before any LP-FT
            widths = sorted({r["n_scored"] for r in table if "n_scored" in r})
            print(f"  frozen search: {selection['frozen_search_seconds']:.0f} s, {selection['images_embedded']} images "
                  f"embedded; scored on " + ", ".join(
                      f"{w} cases: {sum(r.get('n_scored') == w and r['status'] == 'scored' for r in table)}"
                      for w in widths) + "; skipped: " + ", ".join(
                      r["candidate"] for r in table if r["status"] != "scored"), flush=True)
        if selection.get("reason"):
            print(f"  reason: {selection['reason']}", flush=True)
        if "best_epoch" in model.history_:  # each epoch's length and held-out loss, for the cost model
            print("  epochs: " + ", ".join(f"{e['epoch']}: {e['seconds']:.0f} s, loss {e['val_loss']:.4f}"
                                           for e in model.history_["epochs"] if e.get("val_loss") is not None),
                  flush=True)
        if model.history_.get("averaged"):  # the mean of the last epochs' weights, as scored on the held-out part
            a = model.history_["averaged"]
            print(f"  weights averaged over epochs {a['epochs']}: loss {a['val_loss']:.4f}, score {a['val_metric']:.4f}, "
                  f"kept: {a['kept']}", flush=True)
        if "backbone" in model.history_:
            print(f"  backbone {model.backbone_}: {model.history_['backbone']['reason']}", flush=True)

    ref = rows[0]["accuracy"]
    print("\n| method | chose | candidates | test accuracy (95% CI) | Δ vs MiniRocket | fit (s) | predict (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        delta = "–" if r["method"] == "MiniRocket" else f"{100 * (r['accuracy'] - ref):+.1f} pt"
        print(f"| {r['method']} | {r['chose']} | {r['tried'] or '–'} | {r['accuracy']:.3f} "
              f"({r['ci'][0]:.3f}–{r['ci'][1]:.3f}) | {delta} | {r['fit']:.0f} | {r['predict']:.0f} |")


if __name__ == "__main__":
    main()
