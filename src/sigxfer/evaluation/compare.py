"""Transfer learning against the obvious alternatives, on identical splits.

Seed 002's comparison as one call: the transfer model (linear probe, fine-tuning), the same network
without pretrained knowledge, a classic learner on raw pixels, a random forest on frozen CNN
features, and MiniRocket when aeon is installed. Every contender sees the same training and test
cases (or the same folds) and is timed the same way.

Contenders live in a registry: :func:`register_contender` adds one, and strategies such as
``finetune`` and ``scratch`` join as soon as :func:`sigxfer.learning.strategies.list_strategies`
offers them.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from sigxfer.data.signals import SignalSet
from sigxfer.data.splits import cv_splits, train_test_split_signals
from sigxfer.errors import DataError, OutputExistsError, ParameterError
from sigxfer.evaluation.cv import (
    FOLD_METRICS,
    PRIMARY,
    fit_and_predict,
    fold_record,
    score_fold,
    summarize_folds,
    task_of,
)
from sigxfer.evaluation.io import to_csv_text, to_json_text
from sigxfer.evaluation.metrics import N_BOOTSTRAP
from sigxfer.imaging.picture import imaging_for_pictures
from sigxfer.imaging.resolve import resolve_imaging

#: Files ``Comparison.save`` writes into its folder.
RESULT_FILES = ("comparison.csv", "comparison.json")
CSV_COLUMNS = ["contender", "imaging", "metric", "score", "ci_low", "ci_high", "interval", "score_sd",
               "balanced_accuracy", "macro_f1", "roc_auc", "mae", "rmse", "fit_seconds", "predict_seconds",
               "predict_ms_per_case", "fit_cpu_seconds", "predict_cpu_seconds", "n_train", "n_test", "n_folds",
               "status"]
# Keys of a contender's parameters that configure the estimator rather than the training strategy.
_ESTIMATOR_KEYS = ("image_size", "backbone", "batch_size", "channel_mode")


@dataclasses.dataclass
class Setup:
    """What a contender factory needs to build a fresh, unfitted estimator.

    ``params`` holds the contender's own options (``compare(contender_params={name: {...}})``).
    """

    task: str
    imaging: dict | None
    sr: float | None
    backbone: str
    image_size: int | None
    channel_mode: str
    batch_size: int
    device: str
    random_state: int | None
    progress: bool | None
    params: dict


@dataclasses.dataclass(frozen=True)
class Contender:
    """One entry of the comparison.

    Parameters
    ----------
    name : str
        Short name used in tables and on the command line (``"linear"``, ``"pixels-nb"``).
    description : str
        One line for the table's legend.
    build : callable
        ``build(setup: Setup) -> estimator`` with ``fit(signals, y)`` and ``predict`` (and
        ``predict_proba`` + ``classes_`` for classification).
    tasks : tuple of str
        ``"classification"`` and/or ``"regression"``.
    uses_imaging : bool
        Whether it reads images (run once per imaging) or raw signals (run once).
    unavailable : callable
        Returns why the contender cannot run here (a missing package or strategy), or None.
    warm_up : callable, optional
        ``warm_up(setup)``, run once and untimed before the timed fits: one-time costs of a
        process (numba compiling MiniRocket's kernels) are not a property of the method. Its
        duration is recorded in the details as ``warm_up_seconds``.
    """

    name: str
    description: str
    build: Callable[[Setup], object]
    tasks: tuple[str, ...] = ("classification", "regression")
    uses_imaging: bool = True
    unavailable: Callable[[], str | None] = lambda: None
    warm_up: Callable[[Setup], None] | None = None


_CONTENDERS: dict[str, Contender] = {}


def register_contender(contender: Contender, *, overwrite: bool = False) -> Contender:
    """Add a contender to the registry (refuses to replace one unless ``overwrite``)."""
    if contender.name in _CONTENDERS and not overwrite:
        raise ParameterError(f"a contender named {contender.name!r} is registered already; pass overwrite=True")
    _CONTENDERS[contender.name] = contender
    return contender


def get_contender(name: str) -> Contender:
    if name not in _CONTENDERS:
        raise ParameterError(f"contender {name!r} is not known; use one of {sorted(_CONTENDERS)}")
    return _CONTENDERS[name]


def list_contenders(*, task: str | None = None, available: bool = True) -> list[str]:
    """Registered contenders in their default order, for ``task``, runnable here if ``available``."""
    return [c.name for c in _CONTENDERS.values()
            if (task is None or task in c.tasks) and (not available or c.unavailable() is None)]


# ------------------------------------------------------------------------------------- built-ins
def _strategy_missing(name: str) -> Callable[[], str | None]:
    def check():
        from sigxfer.learning.strategies import list_strategies

        if name not in list_strategies():
            return f"strategy {name!r} is not available in this version of sigxfer"
        return None
    return check


def _transfer(strategy: str, *, pretrained: bool) -> Callable[[Setup], object]:
    def build(setup: Setup):
        from sigxfer.estimators import TransferClassifier, TransferRegressor

        params = dict(setup.params)
        own = {k: params.pop(k) for k in _ESTIMATOR_KEYS if k in params}
        cls = TransferClassifier if setup.task == "classification" else TransferRegressor
        return cls(imaging=setup.imaging,
                   backbone=own.get("backbone", setup.backbone), pretrained=pretrained,
                   strategy={"name": strategy, **params}, sr=setup.sr,
                   image_size=own.get("image_size", setup.image_size),
                   channel_mode=own.get("channel_mode", setup.channel_mode),
                   batch_size=own.get("batch_size", setup.batch_size), device=setup.device,
                   random_state=setup.random_state, progress=setup.progress)
    return build


def _pixels(setup: Setup):
    from sigxfer.evaluation.baselines import PixelNaiveBayes, PixelRidge

    cls = PixelNaiveBayes if setup.task == "classification" else PixelRidge
    return cls(imaging=setup.imaging, sr=setup.sr,
               channel_mode=setup.channel_mode, **setup.params)


def _forest(setup: Setup):
    from sigxfer.evaluation.baselines import EmbeddingForest

    params = dict(setup.params)
    return EmbeddingForest(imaging=setup.imaging, sr=setup.sr,
                           backbone=params.pop("backbone", setup.backbone),
                           image_size=params.pop("image_size", setup.image_size),
                           channel_mode=params.pop("channel_mode", setup.channel_mode),
                           batch_size=params.pop("batch_size", setup.batch_size), device=setup.device,
                           task=setup.task, random_state=setup.random_state, progress=setup.progress, **params)


def _minirocket(setup: Setup):
    from sigxfer.evaluation.baselines import MiniRocket

    return MiniRocket(task=setup.task, random_state=setup.random_state, **setup.params)


def _minirocket_warm_up(setup: Setup) -> None:
    from sigxfer.data.signals import SignalSet

    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b"], 4) if setup.task == "classification" else rng.normal(size=8)
    tiny = SignalSet(rng.normal(size=(8, 1, 64)).astype(np.float32), y=y)
    _minirocket(dataclasses.replace(setup, params={**setup.params, "n_kernels": 84})).fit(tiny, tiny.y)


def _aeon_missing():
    from sigxfer.evaluation.baselines import minirocket_available

    return None if minirocket_available() else "needs the optional aeon package (pip install 'sigxfer[aeon]')"


register_contender(Contender(
    "linear", "ImageNet-pretrained CNN, frozen; linear head (transfer, linear probe)",
    _transfer("linear", pretrained=True)))
register_contender(Contender(
    "finetune", "ImageNet-pretrained CNN, fine-tuned (transfer)", _transfer("finetune", pretrained=True),
    unavailable=_strategy_missing("finetune")))
register_contender(Contender(
    "scratch", "the same CNN trained from random weights (no transfer)", _transfer("scratch", pretrained=False),
    unavailable=_strategy_missing("scratch")))
register_contender(Contender(
    "random-linear", "the same CNN with random weights, frozen; linear head (no transfer)",
    _transfer("linear", pretrained=False)))
register_contender(Contender(
    "pixels-nb", "Gaussian naive Bayes on the raw pixels of 64x64 pictures", _pixels, tasks=("classification",)))
register_contender(Contender(
    "pixels-ridge", "ridge regression on the raw pixels of 64x64 pictures", _pixels, tasks=("regression",)))
register_contender(Contender(
    "embeddings-rf", "random forest (500 trees) on frozen ImageNet-CNN embeddings", _forest))
register_contender(Contender(
    "minirocket", "MiniRocket (aeon) on the raw signals, no images", _minirocket, uses_imaging=False,
    unavailable=_aeon_missing, warm_up=_minirocket_warm_up))


# ------------------------------------------------------------------------------------- results
def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


@dataclasses.dataclass
class Comparison:
    """Results of :func:`compare`.

    Attributes
    ----------
    rows : list of dict
        One per contender (and imaging): the columns of :data:`CSV_COLUMNS`.
    details : dict
        Per row key (``"linear/spectrogram"``): the full summary (confusion matrix, per-class
        rates, misclassified cases) and, under cross-validation, the per-fold scores.
    config : dict
        Everything needed to rerun: data description, splits, settings, versions, machine.
    """

    rows: list
    details: dict
    config: dict

    def to_dict(self) -> dict:
        return {"format": "sigxfer-comparison", "format_version": 1, "config": self.config,
                "rows": self.rows, "details": self.details}

    @classmethod
    def from_dict(cls, data: dict) -> Comparison:
        if data.get("format") != "sigxfer-comparison":
            raise DataError("this JSON is not a sigxfer comparison (written by `sigxfer compare`)")
        return cls(rows=data["rows"], details=data.get("details", {}), config=data.get("config", {}))

    @classmethod
    def read(cls, path) -> Comparison:
        """Read ``comparison.json`` (or the folder holding it)."""
        import json

        path = Path(path)
        if path.is_dir():
            path = path / "comparison.json"
        if not path.exists():
            raise DataError(f"{path} does not exist; pass the folder written by `sigxfer compare -o DIR`")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError) as err:
            raise DataError(f"{path}: not a readable comparison ({err})") from None

    def to_csv(self) -> str:
        return to_csv_text(self.rows, CSV_COLUMNS)

    def best(self) -> dict:
        """The row with the highest score (accuracy and R² both grow with quality)."""
        ok = [r for r in self.rows if r["status"] == "ok" and _finite(r["score"])]
        if not ok:
            raise DataError("no contender produced a score; see the status column")
        return max(ok, key=lambda r: r["score"])

    def format_table(self) -> str:
        """The comparison as an aligned text table."""
        cv = self.config.get("splits", {}).get("mode") == "cv"
        metric = self.rows[0]["metric"] if self.rows else "score"
        head = [("contender", "<"), ("imaging", "<"), (metric, "<"), ("95% CI", "<"),
                ("fit s", ">"), ("predict s", ">")]
        lines = []
        table = []
        for r in self.rows:
            if r["status"] != "ok":
                table.append([r["contender"], r["imaging"], r["status"], "", "", ""])
                continue
            score = f"{r['score']:.3f}" + (f" ± {r['score_sd']:.3f}" if cv and _finite(r["score_sd"]) else "")
            ci = f"{r['ci_low']:.3f}-{r['ci_high']:.3f}" if _finite(r["ci_low"]) and _finite(r["ci_high"]) else "n/a"
            table.append([r["contender"], r["imaging"], score, ci, f"{r['fit_seconds']:.1f}",
                          f"{r['predict_seconds']:.2f}"])
        widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, (h, _) in enumerate(head)]
        fmt = lambda cells: "  ".join(f"{c:{a}{w}}" for c, (_, a), w in zip(cells, head, widths))  # noqa: E731
        lines.append(fmt([h for h, _ in head]))
        lines.extend(fmt(row) for row in table)
        splits = self.config.get("splits", {})
        lines.append(f"({splits.get('description', '')}; interval: {self.rows[0]['interval'] if self.rows else ''})")
        return "\n".join(lines)

    def save(self, out, *, overwrite: bool = False) -> list[Path]:
        """Write ``comparison.csv`` and ``comparison.json`` into the folder ``out``, atomically.

        Raises
        ------
        OutputExistsError
            ``out`` holds results already and ``overwrite`` is False.
        """
        from sigxfer._atomic import atomic_write_text

        out = check_output_dir(out, overwrite=overwrite)
        return [atomic_write_text(out / "comparison.csv", self.to_csv(), overwrite=overwrite),
                atomic_write_text(out / "comparison.json", to_json_text(self.to_dict()), overwrite=overwrite)]


def check_output_dir(out, *, overwrite: bool = False) -> Path:
    """Refuse (before any work) a results folder that holds results, unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out} is a file; give a folder for the comparison results")
    existing = [name for name in RESULT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{out} holds results already ({', '.join(existing)}); pass overwrite=True (--overwrite) "
            "or choose another folder"
        )
    return out


# ------------------------------------------------------------------------------------- running
def _resolve_contenders(contenders, task: str) -> list[Contender]:
    if contenders is None:
        return [get_contender(name) for name in list_contenders(task=task)]
    if isinstance(contenders, str):
        contenders = [c.strip() for c in contenders.split(",") if c.strip()]
    chosen = []
    for name in contenders:
        contender = get_contender(name)
        if task not in contender.tasks:
            raise ParameterError(f"contender {name!r} does not do {task}; drop it or use one of "
                                 f"{list_contenders(task=task)}")
        reason = contender.unavailable()
        if reason:
            raise ParameterError(f"contender {name!r} cannot run here: {reason}")
        chosen.append(contender)
    if not chosen:
        raise ParameterError("no contenders to compare; name at least one")
    return chosen


def _machine() -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__}


def _splits(train: SignalSet, test: SignalSet | None, *, test_size, cv, repeats, groups, random_state):
    """[(repeat, fold, train_set, test_set)] and a description of the splitting."""
    if test is not None:
        if cv is not None:
            raise ParameterError("give either a test set or cv, not both (cv splits the training data)")
        if groups is not None:
            raise ParameterError("groups split the data; with a given test set there is nothing to split")
        return [(0, 0, train, test)], {"mode": "given", "description": f"given split: {len(train)} train, "
                                       f"{len(test)} test", "test_names": list(test.names)}
    if cv is not None:
        pairs = cv_splits(train, n_splits=cv, n_repeats=repeats, random_state=random_state, groups=groups)
        folds = [(i // cv, i % cv, train[a], train[b]) for i, (a, b) in enumerate(pairs)]
        kind = "stratified " if task_of(train.y) == "classification" else ""
        return folds, {"mode": "cv", "cv": cv, "repeats": repeats, "grouped": groups is not None,
                       "description": f"{repeats} x {cv}-fold {kind}cross-validation on {len(train)} cases"
                                      f"{', group-aware' if groups is not None else ''}",
                       "test_names": [list(f[3].names) for f in folds]}
    tr, te = train_test_split_signals(train, test_size=test_size, random_state=random_state, groups=groups)
    return [(0, 0, tr, te)], {"mode": "holdout", "test_size": test_size, "grouped": groups is not None,
                              "description": f"held-out split: {len(tr)} train, {len(te)} test"
                                             f"{', group-aware' if groups is not None else ''}",
                              "test_names": list(te.names)}


def compare(train: SignalSet, test: SignalSet | None = None, *, contenders=None, imaging="spectrogram",
            sr: float | None = None, backbone: str = "efficientnet_lite0",
            image_size: int | None = None, channel_mode: str = "auto", contender_params: dict | None = None,
            test_size: float | int = 0.25, cv: int | None = None, repeats: int = 1, groups=None,
            batch_size: int = 32, device: str = "cpu", random_state: int | None = 0,
            progress: bool | None = None, n_bootstrap: int = N_BOOTSTRAP, out=None, overwrite: bool = False,
            echo: Callable[[str], None] | None = None) -> Comparison:
    """Train and score every contender on identical splits.

    Three ways to split: a given ``test`` set (official splits), repeated k-fold ``cv`` on
    ``train``, or else one stratified (group-aware with ``groups``) hold-out of ``test_size``.

    Parameters
    ----------
    train : SignalSet
        Labelled signals (class labels: classification; numbers: regression). All of the data
        when ``test`` is None.
    test : SignalSet, optional
        Held-out signals; then ``train`` is used as is.
    contenders : list of str or str, optional
        Names from :func:`list_contenders` (comma-separated string allowed); all available ones
        for the task by default.
    imaging : str, dict or list
        Imagings to compare: names, ``"mel:n_mels=64"`` or ``{"name": "spectrogram", "n_fft": 64}``
        (see :func:`sigxfer.imaging.resolve.resolve_imaging`). Image-based contenders run once per
        imaging; MiniRocket once.
    sr : float, optional
        Sample rate when the signals do not carry one.
    backbone, image_size, channel_mode, batch_size, device
        As for :class:`~sigxfer.TransferClassifier`, shared by the CNN contenders.
    contender_params : dict, optional
        Per contender options: ``{"finetune": {"epochs": 5, "image_size": 128}}``. ``image_size``,
        ``backbone``, ``batch_size`` and ``channel_mode`` set the estimator; other keys go to the
        strategy (or to the baseline's constructor).
    test_size : float or int
        Hold-out fraction or count when neither ``test`` nor ``cv`` is given.
    cv, repeats : int, optional
        Repeated k-fold cross-validation (``cv=5, repeats=3``).
    groups : array-like, optional
        Group id per case of ``train``; no group spans training and test data.
    random_state : int, optional
        Seeds the splits and every contender.
    progress : bool, optional
        Progress bars of the CNN contenders.
    n_bootstrap : int
        Bootstrap resamples for the intervals of a single split.
    out : str or Path, optional
        Folder to save ``comparison.csv`` and ``comparison.json`` into; checked before any training.
    overwrite : bool
        Replace results already in ``out``.
    echo : callable, optional
        Receives progress lines (``print`` for the CLI).

    Returns
    -------
    Comparison
    """
    say = echo or (lambda _line: None)
    if out is not None:
        check_output_dir(out, overwrite=overwrite)
    for name, value in (("train", train), ("test", test)):
        if value is not None and not isinstance(value, SignalSet):
            raise ParameterError(f"{name} must be a SignalSet (sigxfer.load_signals), not {type(value).__name__}")
    if train.y is None or (test is not None and test.y is None):
        raise DataError("comparison needs labels or targets; load a folder of class folders or pass y=")
    task = task_of(train.y)
    if test is not None and task_of(test.y) != task:
        raise DataError("train holds labels and test holds numbers (or the other way round); use one kind")
    if test is not None and (test.n_channels, test.n_timepoints) != (train.n_channels, train.n_timepoints):
        raise DataError(f"test signals are {test.n_channels} x {test.n_timepoints} but train signals are "
                        f"{train.n_channels} x {train.n_timepoints}; load both with the same length=")
    if task == "classification":
        train.check_classification("the training data")
    chosen = _resolve_contenders(contenders, task)
    imaging = imaging_for_pictures(imaging, train.image_shape)  # pictures: the default means "picture"
    imaging_list = resolve_imaging(imaging, multi_view=True)
    contender_params = dict(contender_params or {})
    unknown = set(contender_params) - {c.name for c in chosen}
    if unknown:
        raise ParameterError(f"contender_params names {sorted(unknown)}, which are not among the contenders "
                             f"{[c.name for c in chosen]}")
    sr = train.sr or sr
    folds, split_info = _splits(train, test, test_size=test_size, cv=cv, repeats=repeats, groups=groups,
                                random_state=random_state)
    everything = [train] if test is None else [train, test]
    classes = (np.unique(np.concatenate([s.y for s in everything])) if task == "classification" else None)

    jobs = []
    for contender in chosen:
        for label, spec in ([(v.label, v.to_config()) for v in imaging_list] if contender.uses_imaging
                            else [("-", None)]):
            setup = Setup(task=task, imaging=spec, sr=sr, backbone=backbone,
                          image_size=image_size, channel_mode=channel_mode, batch_size=batch_size, device=device,
                          random_state=random_state, progress=progress,
                          params=dict(contender_params.get(contender.name, {})))
            jobs.append((contender, label, setup))

    say(f"comparing {len(jobs)} contender(s) on {split_info['description']}")
    started = time.perf_counter()
    rows, details = [], {}
    for contender, label, setup in jobs:
        key = f"{contender.name}/{label}"
        row, detail = _run_job(contender, label, setup, folds, task=task, classes=classes,
                               cv=split_info["mode"] == "cv", n_bootstrap=n_bootstrap,
                               random_state=random_state, say=say)
        rows.append(row)
        details[key] = detail
    config = {
        "sigxfer_version": _version(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "task": task, "metric": PRIMARY[task],
        "data": {"n_train": len(train), "n_test": None if test is None else len(test),
                 "n_channels": train.n_channels, "n_timepoints": train.n_timepoints, "sr": sr,
                 "classes": None if classes is None else classes.tolist()},
        "splits": split_info,
        "contenders": {c.name: c.description for c in chosen},
        "settings": {"imaging": [{"label": v.label, "name": v.name, "params": v.params} for v in imaging_list],
                     "backbone": backbone, "image_size": image_size, "channel_mode": channel_mode,
                     "contender_params": contender_params, "batch_size": batch_size, "device": device,
                     "random_state": random_state, "n_bootstrap": n_bootstrap},
        "machine": _machine(),
        "seconds": time.perf_counter() - started,
    }
    result = Comparison(rows=rows, details=details, config=config)
    if out is not None:
        result.save(out, overwrite=overwrite)
    return result


def _version() -> str:
    from sigxfer._version import __version__

    return __version__


def _run_job(contender, label, setup, folds, *, task, classes, cv, n_bootstrap, random_state, say):
    """Fit and score one contender on every fold; (CSV row, details)."""
    metric = PRIMARY[task]
    row = {"contender": contender.name, "imaging": label, "metric": metric, "status": "ok",
           "n_folds": len(folds)}
    records, summaries = [], []
    warm_up_seconds = history = None
    try:
        if contender.warm_up is not None:
            t0 = time.perf_counter()
            contender.warm_up(setup)
            warm_up_seconds = time.perf_counter() - t0
        estimator = contender.build(setup)
        for repeat, fold, tr, te in folds:
            result = fit_and_predict(estimator, tr, te, task=task, classes=classes)
            summary = score_fold(task, te, result, classes=classes, n_bootstrap=0 if cv else n_bootstrap,
                                 random_state=random_state)
            records.append(fold_record(task, summary, result, n_train=len(tr), repeat=repeat, fold=fold))
            summaries.append(summary)
            history = getattr(result["estimator"], "history_", None)
            where = f" fold {len(records)}/{len(folds)}" if cv else ""
            say(f"  {contender.name:<14} {label:<14}{where} {metric} {summary[metric]:.3f}  "
                f"fit {result['fit_seconds']:.1f} s  predict {result['predict_seconds']:.2f} s")
    except Exception as err:  # one failing contender must not cost the others' results
        message = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        say(f"  {contender.name:<14} {label:<14} failed: {message}")
        row.update(status=f"failed: {message}")
        return row, {"error": message, "folds": records}
    stats = summarize_folds(task, records, n_cases=len(folds[0][2]) + len(folds[0][3]))
    n_test = float(np.mean([r["n_test"] for r in records]))
    row.update(n_train=round(stats["n_train"], 1), n_test=round(n_test, 1),
               fit_seconds=stats["fit_seconds"]["mean"], predict_seconds=stats["predict_seconds"]["mean"],
               predict_ms_per_case=1000 * stats["predict_seconds"]["mean"] / max(n_test, 1),
               fit_cpu_seconds=stats["fit_cpu_seconds"]["mean"],
               predict_cpu_seconds=stats["predict_cpu_seconds"]["mean"])
    if cv:
        row.update(score=stats[metric]["mean"], score_sd=stats[metric]["sd"],
                   interval="corrected-t, at least wilson" if task == "classification" else "corrected-t")
        row["ci_low"], row["ci_high"] = stats[metric]["ci95"]
        for key in FOLD_METRICS[task]:
            if key != metric:
                row[key] = stats[key]["mean"]
        detail = {"summary": stats, "folds": records}
        if task == "classification":
            # Summed over folds and repeats: each case counted once per repeat.
            detail["confusion_matrix"] = np.sum([s["confusion_matrix"] for s in summaries], axis=0).tolist()
            detail["classes"] = summaries[0]["classes"]
    else:
        summary = summaries[0]
        row.update(score=summary[metric], score_sd=None)
        if task == "classification":
            row["interval"] = "wilson"
            row["ci_low"], row["ci_high"] = summary["accuracy_ci95"]
            row.update(balanced_accuracy=summary["balanced_accuracy"], macro_f1=summary["macro_f1"],
                       roc_auc=summary["roc_auc"])
        else:
            row["interval"] = "bootstrap"
            row["ci_low"], row["ci_high"] = summary["r2_ci95"]
            row.update(mae=summary["mae"], rmse=summary["rmse"])
            summary = {k: v for k, v in summary.items() if k not in ("true", "predicted")}
        detail = {"summary": summary, "folds": records}
    detail["warm_up_seconds"] = warm_up_seconds
    if history is not None:
        detail["history_last_fold"] = history  # how a trained contender trained (epochs, early stop)
    return row, detail
