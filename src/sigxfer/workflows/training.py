"""Train a model, report it on held-out cases, and save it: ``sigxfer train`` as one call."""

from __future__ import annotations

from typing import Callable

from sigxfer._atomic import check_output
from sigxfer.data.splits import train_test_split_signals
from sigxfer.data.tasks import task_of
from sigxfer.workflows._common import dataset, input_paths, quiet, replaced_note, score, target_note

__all__ = ["train_and_report"]


def train_and_report(data, output=None, *, targets=None, target: str | None = None, task: str | None = None,
                     sr: float | None = None, length: int | None = None, imaging="spectrogram",
                     backbone: str | None = None, pretrained: bool = True, strategy="linear", init=None,
                     image_size: int | None = None, channel_mode: str = "auto", batch_size: int = 32,
                     engine: str = "auto", precision: str = "auto", device: str = "cpu", test_size: float | int = 0.25, stratify: bool = True,
                     random_state: int | None = 0, progress: bool | None = None, overwrite: bool = False,
                     echo: Callable[[str], None] | None = None):
    """Fit a classifier (or a regressor), score it on held-out cases, and save it.

    Everything that can be checked before the work is: the output, the imaging, the strategy,
    the backbone and the task all fail before a signal is read.

    Parameters
    ----------
    data : str, path-like or SignalSet
        A folder of class folders, ``ucr:NAME[:train|test]``, the folder holding the files of
        ``targets``, or signals in memory (see :func:`sigxfer.data.load_dataset`).
    output : str or path-like, optional
        Model file to write (``model.sigx``); nothing is saved without it.
    targets, target : optional
        A CSV table of ``file,target`` rows to regress, and its column (default: the second).
    task : {"classification", "regression"}, optional
        By the one rule of :func:`sigxfer.data.task_of`: regression with ``targets``, else what
        the labels hold.
    sr, length
        As for :func:`sigxfer.data.load_dataset`.
    imaging, backbone, pretrained, strategy, image_size, channel_mode, batch_size, engine, precision, device
        As for :class:`~sigxfer.TransferClassifier`.
    test_size : float or int
        Held-out fraction (or count) for the report; 0 trains on every case and reports nothing.
    stratify : bool
        Keep the class proportions on both sides of the split (classification only).
    random_state : int, optional
        Seeds the split and the training.
    progress : bool, optional
        Progress bars while training.
    overwrite : bool
        Replace an existing ``output``.
    echo : callable, optional
        Receives the report and progress lines (``print``); silent by default.

    init : str, Path or estimator, optional
        A fitted model (or its file) to start from instead of ImageNet: its imaging with its
        fitted scale, weights and head (a later stage of sim-to-real transfer); the lineage of
        stages goes into the new model file.
    Returns
    -------
    model : TransferClassifier or TransferRegressor
        Fitted; ``metrics_`` holds the held-out summary.
    summary : dict or None
        :func:`~sigxfer.evaluation.classification_summary` (or the regression one) of the
        held-out cases; None with ``test_size=0``.

    Raises
    ------
    OutputExistsError
        ``output`` exists (without ``overwrite``), is a folder, or is one of the inputs.
    DataError, ParameterError
        Unreadable data, unusable labels, or a wrong parameter, as the functions called raise.

    Examples
    --------
    >>> from sigxfer.data import make_devices
    >>> model, summary = train_and_report(make_devices(8, n_timepoints=128, seed=0), backbone="tinynet",
    ...                                   image_size=32, imaging="spectrum", progress=False)
    >>> summary["n"]
    4
    """
    from sigxfer.backbones import get_backbone_config
    from sigxfer.deploy import save
    from sigxfer.estimators import TransferClassifier, TransferRegressor
    from sigxfer.evaluation.metrics import format_summary
    from sigxfer.imaging.resolve import resolve_imaging
    from sigxfer.learning.strategies import resolve_strategy

    say = echo or quiet
    replaced = [] if output is None else check_output(output, overwrite=overwrite, inputs=input_paths(data, targets))
    if imaging is not None:
        resolve_imaging(imaging, multi_view=True)  # a wrong name fails before any data is read
    resolve_strategy(strategy)
    if backbone is not None:
        get_backbone_config(backbone)
    task_of(task=task, targets=targets)
    signals = dataset(data, sr=sr, length=length, targets=targets, target=target)
    note = target_note(targets, target)
    if note:
        say(note)
    task = task_of(signals.y, task=task, targets=targets)
    if task == "classification":
        signals.check_classification()
    estimator = TransferRegressor if task == "regression" else TransferClassifier
    model = estimator(imaging=imaging, backbone=backbone, pretrained=pretrained, strategy=strategy, init=init,
                      image_size=image_size, channel_mode=channel_mode, batch_size=batch_size, engine=engine,
                      precision=precision, device=device,
                      random_state=random_state, progress=progress)
    summary = None
    if test_size:
        # Regression is never stratified: whole-number targets (ages, counts) are numbers, not classes.
        train, test = train_test_split_signals(signals, test_size=test_size, random_state=random_state,
                                               stratify=stratify and task == "classification")
        model.fit(train)
        summary = score(model, test)
        model.metrics_ = {"test": summary, "test_size": test_size}
        say(format_summary(summary, title=f"held-out test ({len(test)} of {len(signals)} signals)"))
    else:
        model.fit(signals)
        say(f"trained on all {len(signals)} signals (no held-out test: test_size=0)")
    chosen = (model.history_ or {}).get("backbone")
    if chosen and chosen["reason"] != "the default backbone":
        say(f"backbone {chosen['chosen']}: {chosen['reason']}")
    if output is not None:
        save(model, output, overwrite=overwrite)
        say(f"saved {output}" + (f" ({replaced_note(replaced, output)})" if replaced else ""))
    return model, summary
