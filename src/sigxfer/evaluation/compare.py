"""Transfer learning against the obvious alternatives, on identical splits.

Seed 002's comparison as one call, in the manner of scikit-learn's ``cross_validate(estimator,
...)``: :func:`compare` takes its contenders as estimators, or as names of the built-in ones (the
transfer model's linear probe and fine-tune, the same network without pretrained knowledge, a
classic learner on raw pixels, a random forest on frozen CNN features, and MiniRocket when aeon is
installed; see :mod:`sigxfer.evaluation.contenders`). Every contender is cloned for each split,
sees the same training and test cases (or the same folds) and is timed the same way; MiniRocket,
when it runs, is the bar the others are measured against.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import time
from typing import Callable

import numpy as np

from sigxfer._allocator import held
from sigxfer._json import to_jsonable
from sigxfer.data.signals import SignalSet
from sigxfer.data.splits import cv_splits, train_test_split_signals
from sigxfer.errors import DataError, ParameterError
from sigxfer.evaluation.contenders import (  # noqa: F401  (Contender, register_contender: re-exported)
    REFERENCE,
    Contender,
    Setup,
    list_contenders,
    register_contender,
    resolve_contenders,
    warm_up_of,
)
from sigxfer.evaluation.cv import (
    FOLD_METRICS,
    PRIMARY,
    fit_and_predict,
    fold_record,
    score_fold,
    summarize_folds,
    task_of,
)
from sigxfer.evaluation.metrics import N_BOOTSTRAP
from sigxfer.evaluation.results import CSV_COLUMNS, OWNER, RESULT_FILES, Comparison, check_output_dir  # noqa: F401
from sigxfer.evaluation.scoring import training_estimate
from sigxfer.imaging.picture import imaging_for_pictures
from sigxfer.imaging.resolve import resolve_imaging


@dataclasses.dataclass
class _Job:
    """One row of the comparison: a contender on one imaging (or on its own input)."""

    label: str
    imaging: str
    make: Callable[[], object]  # the unfitted estimator; fit_and_predict clones it for every split
    warm_up: Callable[[], None] | None = None

    @property
    def key(self) -> str:
        return f"{self.label}/{self.imaging}" if self.imaging else self.label


def _own_imaging(estimator) -> str:
    """The label of a caller's estimator's ``imaging`` parameter, or "" when it has none."""
    try:
        imaging = estimator.get_params(deep=False).get("imaging")
    except Exception:  # a hand-written get_params may be stricter than scikit-learn's
        return ""
    if imaging is None:
        return ""
    try:
        return "+".join(spec.label for spec in resolve_imaging(imaging, multi_view=True))
    except ParameterError:
        return str(imaging)


def _plain_param(value):
    value = to_jsonable(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _described(estimator) -> dict:
    """A caller's estimator as plain values: its class and its own parameters."""
    cls = type(estimator)
    params = {k: _plain_param(v) for k, v in estimator.get_params(deep=False).items()}
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "params": params}


def _jobs(entries, imaging_list, setup: Setup, contender_params: dict) -> list[_Job]:
    jobs = []
    for label, item in entries:
        if not isinstance(item, Contender):
            jobs.append(_Job(label, _own_imaging(item), make=lambda item=item: item, warm_up=warm_up_of(item)))
            continue
        views = [(v.label, v.to_config()) for v in imaging_list] if item.uses_imaging else [("-", None)]
        for view, spec in views:
            own = dataclasses.replace(setup, imaging=spec, params=dict(contender_params.get(label, {})))
            warm_up = None if item.warm_up is None else (lambda item=item, own=own: item.warm_up(own))
            jobs.append(_Job(label, view, make=lambda item=item, own=own: item.build(own), warm_up=warm_up))
    return jobs


def _reference(entries) -> str | None:
    """The label of the contender the others are measured against: MiniRocket, named or given."""
    from sigxfer.evaluation.baselines import MiniRocket

    labels = [label for label, item in entries if isinstance(item, Contender) and item.name == REFERENCE]
    labels += [label for label, item in entries if isinstance(item, MiniRocket)]
    return labels[0] if labels else None


def _machine() -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__}


def _splits(train: SignalSet, test: SignalSet | None, *, stratify, test_size, cv, repeats, groups, random_state):
    """[(repeat, fold, train_set, test_set)] and a description of the splitting."""
    if test is not None:
        if cv is not None:
            raise ParameterError("give either a test set or cv, not both (cv splits the training data)")
        if groups is not None:
            raise ParameterError("groups split the data; with a given test set there is nothing to split")
        return [(0, 0, train, test)], {"mode": "given", "description": f"given split: {len(train)} train, "
                                       f"{len(test)} test", "test_names": list(test.names)}
    if cv is not None:
        pairs = cv_splits(train, n_splits=cv, n_repeats=repeats, random_state=random_state, groups=groups,
                          stratify=stratify)
        folds = [(i // cv, i % cv, train[a], train[b]) for i, (a, b) in enumerate(pairs)]
        kind = "stratified " if stratify else ""
        return folds, {"mode": "cv", "cv": cv, "repeats": repeats, "grouped": groups is not None,
                       "description": f"{repeats} x {cv}-fold {kind}cross-validation on {len(train)} cases"
                                      f"{', group-aware' if groups is not None else ''}",
                       "test_names": [list(f[3].names) for f in folds]}
    tr, te = train_test_split_signals(train, test_size=test_size, random_state=random_state, groups=groups,
                                      stratify=stratify)
    return [(0, 0, tr, te)], {"mode": "holdout", "test_size": test_size, "grouped": groups is not None,
                              "description": f"held-out split: {len(tr)} train, {len(te)} test"
                                             f"{', group-aware' if groups is not None else ''}",
                              "test_names": list(te.names)}


def _check_data(train, test, task=None) -> str:
    for name, value in (("train", train), ("test", test)):
        if value is not None and not isinstance(value, SignalSet):
            raise ParameterError(f"{name} must be a SignalSet (sigxfer.load_signals), not {type(value).__name__}")
    if train.y is None or (test is not None and test.y is None):
        raise DataError("comparison needs labels or targets; load a folder of class folders or pass y=")
    task = task_of(train.y, task=task)
    try:
        same = test is None or task_of(test.y, task=task) == task
    except DataError:
        same = False
    if not same:
        raise DataError("train holds labels and test holds numbers (or the other way round); use one kind")
    if test is not None and (test.n_channels, test.n_timepoints) != (train.n_channels, train.n_timepoints):
        raise DataError(f"test signals are {test.n_channels} x {test.n_timepoints} but train signals are "
                        f"{train.n_channels} x {train.n_timepoints}; load both with the same length=")
    if task == "classification":
        train.check_classification("the training data")
    return task


@held()
def compare(train: SignalSet, test: SignalSet | None = None, *, contenders=None, task: str | None = None,
            imaging="spectrogram",
            sr: float | None = None, backbone: str = "efficientnet_lite0",
            image_size: int | None = None, channel_mode: str = "auto", contender_params: dict | None = None,
            test_size: float | int = 0.25, cv: int | None = None, repeats: int = 1, groups=None,
            stratify: bool = True, batch_size: int = 32, device: str = "cpu", random_state: int | None = 0,
            progress: bool | None = None, n_bootstrap: int = N_BOOTSTRAP, out=None, overwrite: bool = False,
            echo: Callable[[str], None] | None = None) -> Comparison:
    """Train and score every contender on identical splits.

    Three ways to split: a given ``test`` set (official splits), repeated k-fold ``cv`` on
    ``train``, or else one stratified (group-aware with ``groups``) hold-out of ``test_size``.
    Every contender is cloned (:func:`sklearn.base.clone`) for each split, so the estimators
    passed in stay unfitted, and every one sees the same cases.

    Parameters
    ----------
    train : SignalSet
        Labelled signals (class labels: classification; numbers: regression). All of the data
        when ``test`` is None.
    test : SignalSet, optional
        Held-out signals; then ``train`` is used as is.
    contenders : str, estimator, list or dict, optional
        What to compare, as in :func:`~sigxfer.evaluation.contenders.resolve_contenders`:
        registered names (:func:`list_contenders`, a comma-separated string allowed),
        estimators with scikit-learn's interface on signals, ``(label, estimator)`` pairs, or a
        ``{label: estimator}`` dict; a list may mix them. All available registered contenders
        for the task by default. Labels are unique: an estimator without one is labelled by its
        class name (numbered when the class repeats).
    imaging : str, dict or list
        Imagings for the registered image-based contenders: names, ``"mel:n_mels=64"`` or
        ``{"name": "spectrogram", "n_fft": 64}`` (see
        :func:`sigxfer.imaging.resolve.resolve_imaging`). Each runs once per imaging, MiniRocket
        once; a caller's estimator runs once with its own settings, whatever ``imaging`` says.
    sr : float, optional
        Sample rate when the signals do not carry one.
    backbone, image_size, channel_mode, batch_size, device
        As for :class:`~sigxfer.TransferClassifier`, shared by the registered CNN contenders.
    contender_params : dict, optional
        Per registered contender options: ``{"finetune": {"epochs": 5, "image_size": 128}}``.
        ``image_size``, ``backbone``, ``batch_size`` and ``channel_mode`` set the estimator;
        other keys go to the strategy (or to the baseline's constructor). A caller's estimator
        takes its options itself.
    task : {"classification", "regression"}, optional
        By default read from ``train.y`` (see :func:`sigxfer.data.task_of`); give it for
        whole-number targets (ages, counts) to regress.
    stratify : bool
        Keep the class proportions in every split (classification only).
    test_size : float or int
        Hold-out fraction or count when neither ``test`` nor ``cv`` is given.
    cv, repeats : int, optional
        Repeated k-fold cross-validation (``cv=5, repeats=3``).
    groups : array-like, optional
        Group id per case of ``train``; no group spans training and test data.
    random_state : int, optional
        Seeds the splits and every registered contender.
    progress : bool, optional
        Progress bars of the registered CNN contenders.
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
        One row per contender and imaging. A contender that fails is recorded with its error
        and does not stop the others. When a fitted model carries its own cross-validation
        estimate from training, the row shows it next to the test score (``training_cv``).

    Examples
    --------
    >>> from sigxfer import TransferClassifier, make_devices
    >>> from sigxfer.evaluation.baselines import PixelNaiveBayes
    >>> signals = make_devices(12, seed=0)
    >>> result = compare(signals, contenders=["pixels-nb", ("small pixels", PixelNaiveBayes(image_size=16)),
    ...                                       TransferClassifier(backbone="tinynet", imaging="mel")],
    ...                  imaging=["spectrum", "spectrogram"], cv=3, progress=False)  # doctest: +SKIP
    >>> [(r["contender"], r["imaging"]) for r in result.rows]  # doctest: +SKIP
    [('pixels-nb', 'spectrum'), ('pixels-nb', 'spectrogram'), ('small pixels', 'spectrogram'),
     ('TransferClassifier', 'mel')]
    >>> print(result.format_table())  # doctest: +SKIP
    """
    say = echo or (lambda _line: None)
    if out is not None:
        check_output_dir(out, overwrite=overwrite)
    task = _check_data(train, test, task)
    entries = resolve_contenders(contenders, task=task)
    imaging = imaging_for_pictures(imaging, train.image_shape)  # pictures: the default means "picture"
    imaging_list = resolve_imaging(imaging, multi_view=True)
    contender_params = dict(contender_params or {})
    named = [label for label, item in entries if isinstance(item, Contender)]
    unknown = set(contender_params) - set(named)
    if unknown:
        raise ParameterError(f"contender_params names {sorted(unknown)}, which are not among the contenders "
                             f"{named} (an estimator given as an object takes its options itself)")
    sr = train.sr or sr
    folds, split_info = _splits(train, test, stratify=stratify and task == "classification", test_size=test_size,
                                cv=cv, repeats=repeats, groups=groups, random_state=random_state)
    everything = [train] if test is None else [train, test]
    classes = (np.unique(np.concatenate([s.y for s in everything])) if task == "classification" else None)
    setup = Setup(task=task, imaging=None, sr=sr, backbone=backbone, image_size=image_size,
                  channel_mode=channel_mode, batch_size=batch_size, device=device, random_state=random_state,
                  progress=progress, params={})
    jobs = _jobs(entries, imaging_list, setup, contender_params)

    say(f"comparing {len(jobs)} contender(s) on {split_info['description']}")
    started = time.perf_counter()
    rows, details = [], {}
    for job in jobs:
        row, detail = _run_job(job, folds, task=task, classes=classes, cv=split_info["mode"] == "cv",
                               n_bootstrap=n_bootstrap, random_state=random_state, say=say)
        rows.append(row)
        details[job.key] = detail
    config = {
        "sigxfer_version": _version(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "task": task, "metric": PRIMARY[task],
        "data": {"n_train": len(train), "n_test": None if test is None else len(test),
                 "n_channels": train.n_channels, "n_timepoints": train.n_timepoints, "sr": sr,
                 "classes": None if classes is None else classes.tolist()},
        "splits": split_info,
        "contenders": {label: item.description if isinstance(item, Contender)
                       else f"given estimator: {repr(item)[:200]}" for label, item in entries},
        "estimators": {label: _described(item) for label, item in entries if not isinstance(item, Contender)},
        "reference": _reference(entries),
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


def _run_job(job: _Job, folds, *, task, classes, cv, n_bootstrap, random_state, say):
    """Fit and score one contender on every fold; (CSV row, details)."""
    metric = PRIMARY[task]
    row = {"contender": job.label, "imaging": job.imaging, "metric": metric, "status": "ok", "n_folds": len(folds)}
    shown = job.imaging or "(own)"
    records, summaries, estimates = [], [], []
    warm_up_seconds = history = None
    try:
        if job.warm_up is not None:
            t0 = time.perf_counter()
            job.warm_up()
            warm_up_seconds = time.perf_counter() - t0
        estimator = job.make()
        for repeat, fold, tr, te in folds:
            result = fit_and_predict(estimator, tr, te, task=task, classes=classes)
            summary = score_fold(task, te, result, classes=classes, n_bootstrap=0 if cv else n_bootstrap,
                                 random_state=random_state)
            records.append(fold_record(task, summary, result, n_train=len(tr), repeat=repeat, fold=fold))
            summaries.append(summary)
            estimates.append(training_estimate(result["estimator"]))
            history = getattr(result["estimator"], "history_", None)
            where = f" fold {len(records)}/{len(folds)}" if cv else ""
            say(f"  {job.label:<14} {shown:<14}{where} {metric} {summary[metric]:.3f}  "
                f"fit {result['fit_seconds']:.1f} s  predict {result['predict_seconds']:.2f} s")
    except Exception as err:  # one failing contender must not cost the others' results
        message = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        say(f"  {job.label:<14} {shown:<14} failed: {message}")
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
    if estimates and all(e is not None for e in estimates):
        # What the models expected of themselves from their training data, beside what they scored.
        row["training_cv"] = float(np.mean([e["score"] for e in estimates]))
        detail["training_estimates"] = estimates
    detail["warm_up_seconds"] = warm_up_seconds
    if history is not None:
        detail["history_last_fold"] = history  # how a trained contender trained (epochs, early stop)
    return row, detail
