"""UCR/UEA benchmark: transfer learning against MiniRocket on official train/test splits.

For each data set (GunPoint, ArrowHead, BasicMotions, as bundled with aeon):

1. MiniRocket (aeon's ``MiniRocketClassifier``, 10,000 kernels, ridge classifier) is fitted on the
   train split and scored on the test split: the bar to reach, measured in the same run.
2. The transform is chosen on the TRAIN split only: for every transform that
   :func:`sigxfer.imaging.list_transforms` offers, train signals are embedded once by the frozen
   backbone (imager scale fitted on the train split), and a linear probe (standardise + logistic
   regression, C by inner CV) is scored by 5-fold stratified cross-validation. The highest mean
   CV accuracy wins; ties go to the lower CV log-loss. The test split is not looked at.
3. Each strategy (``linear`` and, when registered, ``finetune``, ``scratch``, ``auto``) is fitted
   on the whole train split with that transform and scored once on the test split. Wall time is
   fit + predict, as a user would run it.

UCR files record no sample rate, so every transform gets ``sr=1.0`` (frequencies in cycles per
sample). The spectral window follows the series length by the library's rule (:func:`transform_params`),
fixed before looking at any result.

Usage::

    python bench/bench_ucr.py                        # print the table
    python bench/bench_ucr.py --write BENCHMARKS_ucr.md --json bench/ucr_results.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sigxfer import TransferClassifier
from sigxfer.backbones import create_backbone, get_backbone_config
from sigxfer.cli.options import parse_value
from sigxfer.data.ucr import load_ucr
from sigxfer.evaluation import wilson_interval
from sigxfer.imaging import Imager, list_transforms
from sigxfer.imaging.resolve import imaging_defaults
from sigxfer.learning.embeddings import extract_embeddings
from sigxfer.learning.network import SignalNet
from sigxfer.learning.strategies import list_strategies
from timing import machine

DATASETS = ("GunPoint", "ArrowHead", "BasicMotions")
STRATEGIES = ("linear", "finetune", "scratch", "auto")
BACKBONE = "efficientnet_lite0"
SR = 1.0  # UCR series carry no sample rate
CV_FOLDS = 5
SEED = 0


def transform_params(transform: str, n_timepoints: int) -> dict:
    """Parameters of ``transform`` for series of ``n_timepoints`` samples: the library's own rule
    (:func:`sigxfer.imaging.resolve.imaging_defaults`), recorded in the results."""
    return imaging_defaults(transform, {}, n_timepoints=n_timepoints)


def parse_strategy(text: str):
    """``"finetune"`` or ``"finetune:batchnorm=train,epochs=5"``: a name, or a dict with its parameters.

    >>> parse_strategy("finetune:batchnorm=train,epochs=5")
    {'name': 'finetune', 'batchnorm': 'train', 'epochs': 5}
    """
    name, _, rest = text.partition(":")
    if not rest:
        return name
    pairs = (item.partition("=") for item in rest.split(","))
    return {"name": name, **{key.strip(): parse_value(value.strip()) for key, _, value in pairs}}


def strategy_spec(text: str, image_size: int | None) -> dict:
    """Estimator keyword arguments of one strategy as benchmarked (``text``: see :func:`parse_strategy`)."""
    strategy = parse_strategy(text)
    spec = {"strategy": strategy}
    name = strategy if isinstance(strategy, str) else strategy["name"]
    if name in ("finetune", "scratch") and image_size is not None:
        spec["image_size"] = image_size
    return spec


def run_minirocket(train, test) -> dict:
    """Fit + predict, timed after one untimed warm-up fit that compiles aeon's numba kernels."""
    from aeon.classification.convolution_based import MiniRocketClassifier

    X_train, X_test = train.X.astype(np.float64), test.X.astype(np.float64)
    start = time.perf_counter()
    MiniRocketClassifier(random_state=SEED, n_jobs=1).fit(X_train, train.y).predict(X_test)
    first_call = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.process_time()
    model = MiniRocketClassifier(random_state=SEED, n_jobs=1).fit(X_train, train.y)
    pred = model.predict(X_test)
    seconds = time.perf_counter() - start
    return _result("MiniRocket", test.y, pred, seconds, time.process_time() - cpu, first_call_seconds=first_call)


def _result(method: str, y_true, y_pred, seconds: float, cpu_seconds: float | None = None, **extra) -> dict:
    correct = int(np.sum(np.asarray(y_true) == np.asarray(y_pred)))
    n = len(y_true)
    lo, hi = wilson_interval(correct, n)
    return {"method": method, "accuracy": correct / n, "ci95": [lo, hi], "correct": correct, "n": n,
            "seconds": seconds, "cpu_seconds": cpu_seconds, "load1_after": os.getloadavg()[0], **extra}


def select_transform(train, *, log) -> tuple[str, list[dict]]:
    """Pick the transform by 5-fold CV of a linear probe on frozen embeddings of the train split."""
    config = get_backbone_config(BACKBONE)
    backbone = create_backbone(BACKBONE)
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=SEED)
    probe = make_pipeline(StandardScaler(), LogisticRegressionCV(
        Cs=np.logspace(-4, 2, 13), cv=3, scoring="neg_log_loss", max_iter=3000))
    rows = []
    for transform in list_transforms():
        start = time.perf_counter()
        params = transform_params(transform, train.n_timepoints)
        imager = Imager(transform, sr=SR, size=config.input_size, mean=config.mean, std=config.std,
                        **params).fit(train.X)
        emb = extract_embeddings(SignalNet(imager, backbone), train.X, progress=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs convergence chatter on tiny folds
            scores = cross_validate(probe, emb, train.y, cv=folds, scoring=("accuracy", "neg_log_loss"))
        row = {"transform": transform, "params": params,
               "cv_accuracy": float(scores["test_accuracy"].mean()),
               "cv_accuracy_std": float(scores["test_accuracy"].std()),
               "cv_log_loss": float(-scores["test_neg_log_loss"].mean()),
               "seconds": time.perf_counter() - start}
        rows.append(row)
        log(f"    cv {transform:<12} acc {row['cv_accuracy']:.3f} ± {row['cv_accuracy_std']:.3f}  "
            f"log-loss {row['cv_log_loss']:.3f}  ({row['seconds']:.0f} s)")
    best = max(rows, key=lambda r: (r["cv_accuracy"], -r["cv_log_loss"]))
    return best["transform"], rows


def run_strategy(name: str, train, test, transform: str, image_size: int | None) -> dict:
    spec = strategy_spec(name, image_size)
    start, cpu = time.perf_counter(), time.process_time()
    model = TransferClassifier(imaging=transform,
                               backbone=BACKBONE, sr=SR, random_state=SEED, progress=False, **spec)
    model.fit(train)
    pred = model.predict(test)
    seconds = time.perf_counter() - start
    history = model.history_ or {}
    chosen = (history.get("auto") or {}).get("chosen")
    trained = {k: history[k] for k in ("n_val", "best_epoch", "stopped_early", "phases") if k in history}
    if "auto" in history:
        trained["auto_reason"] = history["auto"].get("reason")
    return _result(name, test.y, pred, seconds, time.process_time() - cpu, image_size=spec.get("image_size"),
                   strategy_config=model.strategy_.get_config(), chosen=chosen, training=trained)


def run(datasets, strategies, image_size, log) -> dict:
    results = {"machine": machine(), "backbone": BACKBONE, "image_size_trained": image_size,
               "load_before": os.getloadavg(), "datasets": {}}
    total, total_cpu = time.perf_counter(), time.process_time()
    for name in datasets:
        train, test = load_ucr(name, split="train"), load_ucr(name, split="test")
        log(f"{name}: train {train.X.shape}, test {test.X.shape}, classes {len(train.classes)}")
        entry = {"n_train": len(train), "n_test": len(test), "n_channels": train.n_channels,
                 "n_timepoints": train.n_timepoints, "n_classes": len(train.classes)}
        entry["minirocket"] = run_minirocket(train, test)
        log(f"  MiniRocket   acc {entry['minirocket']['accuracy']:.3f}  {entry['minirocket']['seconds']:.1f} s")
        start = time.perf_counter()
        best, cv_rows = select_transform(train, log=log)
        entry.update(transform=best, transform_params=transform_params(best, train.n_timepoints),
                     cv=cv_rows, selection_seconds=time.perf_counter() - start)
        log(f"  chosen transform: {best}")
        entry["strategies"] = []
        for strategy in strategies:
            r = run_strategy(strategy, train, test, best, image_size)
            entry["strategies"].append(r)
            log(f"  {strategy:<12} acc {r['accuracy']:.3f}  {r['seconds']:.1f} s"
                + (f"  (chose {r['chosen']})" if strategy == "auto" else ""))
        results["datasets"][name] = entry
    results["total_seconds"] = time.perf_counter() - total
    results["total_cpu_seconds"] = time.process_time() - total_cpu
    results["load_after"] = os.getloadavg()
    return results


def format_markdown(results: dict, command: str) -> str:
    m = results["machine"]
    lines = [
        "## UCR/UEA: transfer learning against MiniRocket",
        "",
        f"Official train/test splits of the data sets bundled with aeon; backbone `{results['backbone']}` "
        "(ImageNet weights); transform chosen per data set by 5-fold CV of a linear probe on the "
        "**train split only**; each method fitted once on train and scored once on test. "
        "Accuracy with its 95% Wilson interval; time is fit + predict wall time in seconds "
        "(MiniRocket's after one untimed warm-up fit that compiles its numba kernels; first calls took "
        + ", ".join(f"{n} {e['minirocket']['first_call_seconds']:.1f} s" for n, e in results["datasets"].items())
        + "). Strategies run with their default settings"
        + (f"; finetune and scratch on {results['image_size_trained']} px images to fit the CPU budget, "
           "the others (and transform selection) at the backbone's 224 px." if results["image_size_trained"] else
           "; every method at the backbone's 224 px.")
        + "".join(f" {n}'s {e['n_channels']} channels are tiled into one picture (channel_mode auto)."
                  for n, e in results["datasets"].items() if e["n_channels"] not in (1, 3))
        + " UCR files record no sample rate, so sr=1 (frequencies in cycles per sample).",
        "",
        "| data set | method | transform | image | test accuracy (95% CI) | Δ vs MiniRocket | time (s) | × MiniRocket time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in results["datasets"].items():
        mr = e["minirocket"]
        lines.append(f"| {name} ({e['n_train']}/{e['n_test']}) | MiniRocket | raw series | – | "
                     f"{_acc(mr)} | – | {mr['seconds']:.2f} | 1 |")
        for r in e["strategies"]:
            size = r.get("image_size") or get_backbone_config(results["backbone"]).input_size
            label = r["method"] + (f" (→ {r['chosen']})" if r["method"] == "auto" and r.get("chosen") else "")
            lines.append(f"| | {label} | {e['transform']} | {size} px | {_acc(r)} | "
                         f"{100 * (r['accuracy'] - mr['accuracy']):+.1f} pt | {r['seconds']:.1f} | "
                         f"{r['seconds'] / mr['seconds']:.0f}× |")
    lines += ["", "Transform selection (5-fold CV accuracy of the linear probe on the train split):", "",
              "| data set | " + " | ".join(r["transform"] for r in next(iter(results["datasets"].values()))["cv"])
              + " | chosen |",
              "|---|" + "---|" * (len(next(iter(results["datasets"].values()))["cv"]) + 1)]
    for name, e in results["datasets"].items():
        lines.append(f"| {name} | " + " | ".join(f"{r['cv_accuracy']:.2f}" for r in e["cv"]) + f" | {e['transform']} |")
    lines += ["", *_findings(results), "",
              f"Command: `{command}`", "",
              f"Machine: {m['cpus']}-core CPU ({m['processor']}, {m['platform']}), torch {m['torch']} "
              f"({m['torch_threads']} threads), Python {m['python']}, no GPU. Whole run "
              f"{results['total_seconds'] / 60:.1f} min wall, {results['total_cpu_seconds'] / 60:.1f} min of CPU "
              f"time. {_load_note(results)}", ""]
    return "\n".join(lines)


def _load_note(results: dict) -> str:
    """Whether other jobs competed for the cores: this run's own two threads make a load of about 2."""
    peak = max(r["load1_after"] for e in results["datasets"].values() for r in [e["minirocket"], *e["strategies"]])
    busy = results["total_cpu_seconds"] / results["total_seconds"]
    threads = results["machine"]["torch_threads"]
    if busy >= 0.9 * threads and peak <= threads + 0.5:
        return (f"The run had the cores to itself: it kept {busy:.1f} of {threads} cores busy (CPU time / wall "
                f"time) and the 1-minute load average stayed at or below {peak:.1f}.")
    return (f"Other jobs shared the cores: the run kept only {busy:.1f} of {threads} cores busy and the 1-minute "
            f"load average reached {peak:.1f}, so wall times and their ratios are inflated.")


def _epochs(training: dict) -> str:
    phases = training.get("phases", [])
    run = sum(ph["epochs_run"] for ph in phases)
    planned = sum(ph["planned_epochs"] for ph in phases)
    return (f"{run} of {planned} epochs run, best epoch {training.get('best_epoch')}, "
            f"{training.get('n_val')} validation cases")


def _acc(r: dict) -> str:
    return f"{r['accuracy']:.3f} ({r['ci95'][0]:.3f}–{r['ci95'][1]:.3f})"


def _findings(results: dict) -> list[str]:
    out = ["Findings from this run:", ""]
    for name, e in results["datasets"].items():
        mr = e["minirocket"]
        by = {r["method"]: r for r in e["strategies"]}
        best = max(e["strategies"], key=lambda r: r["accuracy"])
        gap = 100 * (best["accuracy"] - mr["accuracy"])
        text = (f"- {name}: best transfer method {best['method']} {best['accuracy']:.3f} vs MiniRocket "
                f"{mr['accuracy']:.3f} ({gap:+.1f} points) at {best['seconds'] / mr['seconds']:.0f}× its time")
        if "finetune" in by and "scratch" in by:
            beats = by["finetune"]["accuracy"] > by["scratch"]["accuracy"]
            text += (f"; finetune {by['finetune']['accuracy']:.3f} vs scratch {by['scratch']['accuracy']:.3f}: "
                     f"finetune {'beats' if beats else 'does NOT beat'} scratch")
        out.append(text + ".")
    linear_rows = [(n, {r["method"]: r for r in e["strategies"]}) for n, e in results["datasets"].items()]
    tuned = [(n, by) for n, by in linear_rows if "finetune" in by and "linear" in by]
    if tuned:
        worse = [n for n, by in tuned if by["finetune"]["accuracy"] < by["linear"]["accuracy"]]
        runs = "; ".join(f"{n} {_epochs(by['finetune']['training'])}" for n, by in tuned)
        out.append(f"- finetune (its defaults) trails the linear probe on {len(worse)} of {len(tuned)} data sets. "
                   f"It keeps the epoch with the lowest loss on a validation split of 20 % of the train split: {runs}.")
    variants = sorted({m for _, by in linear_rows for m in by if m.startswith("finetune:")})
    for variant in variants:
        pairs = [(n, by[variant], by["finetune"]) for n, by in linear_rows if variant in by and "finetune" in by]
        out.append(f"- {variant} against finetune's defaults ({pairs[0][2]['strategy_config'].get('batchnorm')} "
                   "BatchNorm statistics): " + "; ".join(
                       f"{n} {v['accuracy']:.3f} against {d['accuracy']:.3f} ({_epochs(v['training'])})"
                       for n, v, d in pairs) + ".")
    autos = [(n, by["auto"]) for n, by in linear_rows if "auto" in by and by["auto"].get("chosen")]
    for n, a in autos:
        out.append(f"- auto on {n} chose {a['chosen']}: {a['training'].get('auto_reason')}.")
    if not all(s in list_strategies() for s in STRATEGIES):
        missing = [s for s in STRATEGIES if s not in list_strategies()]
        out.append(f"- Not measured: {', '.join(missing)} (not registered in this sigxfer).")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--strategies", nargs="+", default=None,
                        help="default: those of linear, finetune, scratch, auto that are registered; "
                             "NAME:KEY=VALUE,... sets parameters, e.g. finetune:batchnorm=train")
    parser.add_argument("--image-size", type=int, default=None,
                        help="image side for finetune and scratch (to save CPU time); linear, auto and "
                             "the transform selection always use the backbone's own size")
    parser.add_argument("--write", default=None, help="write the markdown fragment here")
    parser.add_argument("--json", default=None, help="write all numbers here")
    args = parser.parse_args(argv)
    strategies = args.strategies or [s for s in STRATEGIES if s in list_strategies()]
    unknown = [s for s in strategies if s.partition(":")[0] not in list_strategies()]
    if unknown:
        parser.error(f"strategies {unknown} are not registered; have {list_strategies()}")

    def log(text):
        print(text, flush=True)

    results = run(args.datasets, strategies, args.image_size, log)
    command = "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    text = format_markdown(results, command)
    print(text)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
