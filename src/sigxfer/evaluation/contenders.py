"""The contenders of a comparison: a registry of named, built-in ones, and estimators given as they are.

A registered name is a factory: :class:`Contender` builds a fresh, unfitted estimator from the
settings the comparison shares (task, imaging, backbone, image size, ...), once per imaging for the
image-based ones. Anything else the caller gives is an estimator with scikit-learn's interface; it
is used as given (cloned for every split), never rebuilt and never multiplied over imagings.

:func:`resolve_contenders` turns what :func:`sigxfer.evaluation.compare.compare` receives (names, a
comma-separated string, estimators, ``(label, estimator)`` pairs or a ``{label: estimator}`` dict)
into ``(label, contender or estimator)`` pairs with unique labels.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Callable

import numpy as np
from sklearn.base import is_classifier, is_regressor

from sigxfer.errors import ParameterError

# Keys of a contender's parameters that configure the estimator rather than the training strategy.
_ESTIMATOR_KEYS = ("image_size", "backbone", "batch_size", "channel_mode")


@dataclasses.dataclass
class Setup:
    """What a contender factory needs to build a fresh, unfitted estimator.

    ``imaging`` is one imaging's config (``{"name": "mel", "n_mels": 64}``) for image-based
    contenders and None for the others; ``params`` holds the contender's own options
    (``compare(contender_params={name: {...}})``).

    Examples
    --------
    >>> setup = Setup(task="classification", imaging={"name": "spectrum"}, sr=100.0, backbone="tinynet",
    ...               image_size=32, channel_mode="auto", batch_size=8, device="cpu", random_state=0,
    ...               progress=False, params={})
    >>> type(get_contender("pixels-nb").build(setup)).__name__
    'PixelNaiveBayes'
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
    """One named entry of the comparison.

    Parameters
    ----------
    name : str
        Short name used in tables and on the command line (``"linear"``, ``"pixels-nb"``).
    description : str
        One line for the table's legend.
    build : callable
        ``build(setup: Setup) -> estimator`` with ``fit(signals, y)`` and ``predict`` (and
        ``predict_proba`` + ``classes_`` for classification), clonable by scikit-learn.
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

    Examples
    --------
    >>> from sigxfer.evaluation.baselines import PixelNaiveBayes
    >>> small = Contender("pixels-16", "naive Bayes on 16x16 pictures",
    ...                   lambda setup: PixelNaiveBayes(imaging=setup.imaging, image_size=16),
    ...                   tasks=("classification",))
    >>> small.uses_imaging, small.unavailable() is None
    (True, True)
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
    """Add a contender to the registry (refuses to replace one unless ``overwrite``).

    Examples
    --------
    >>> register_contender(get_contender("linear"))
    Traceback (most recent call last):
    ...
    sigxfer.errors.ParameterError: a contender named 'linear' is registered already; pass overwrite=True
    """
    if contender.name in _CONTENDERS and not overwrite:
        raise ParameterError(f"a contender named {contender.name!r} is registered already; pass overwrite=True")
    _CONTENDERS[contender.name] = contender
    return contender


def get_contender(name: str) -> Contender:
    """The registered contender called ``name``.

    Examples
    --------
    >>> get_contender("minirocket").uses_imaging
    False
    """
    if name not in _CONTENDERS:
        raise ParameterError(f"contender {name!r} is not known; use one of {sorted(_CONTENDERS)}")
    return _CONTENDERS[name]


def list_contenders(*, task: str | None = None, available: bool = True) -> list[str]:
    """Registered contenders in their default order, for ``task``, runnable here if ``available``.

    Examples
    --------
    >>> list_contenders(task="regression", available=False)[:2]
    ['linear', 'finetune']
    >>> "pixels-ridge" in list_contenders(task="classification")
    False
    """
    return [c.name for c in _CONTENDERS.values()
            if (task is None or task in c.tasks) and (not available or c.unavailable() is None)]


# ------------------------------------------------------------------------------------- resolving
def _is_estimator(item) -> bool:
    return hasattr(item, "fit") and not isinstance(item, (str, type))


def _named(name: str, task: str) -> Contender:
    contender = get_contender(name)
    if task not in contender.tasks:
        raise ParameterError(f"contender {name!r} does not do {task}; drop it or use one of "
                             f"{list_contenders(task=task)}")
    reason = contender.unavailable()
    if reason:
        raise ParameterError(f"contender {name!r} cannot run here: {reason}")
    return contender


def _checked_estimator(label, estimator, task: str):
    if isinstance(estimator, type):
        raise ParameterError(f"contender {label!r} is the class {estimator.__name__}; give an instance, "
                             f"e.g. {estimator.__name__}()")
    if not _is_estimator(estimator):
        raise ParameterError(f"contender {label!r} is a {type(estimator).__name__}, not an estimator: give a "
                             "registered name or an object with fit(X, y) and predict(X)")
    if not hasattr(estimator, "get_params"):
        raise ParameterError(f"contender {label!r} ({type(estimator).__name__}) cannot be cloned for each "
                             "split; give it get_params/set_params (subclass sklearn.base.BaseEstimator)")
    if task == "regression" and is_classifier(estimator):
        raise ParameterError(f"contender {label!r} is a classifier and the targets are numbers; give a regressor")
    if task == "classification" and is_regressor(estimator):
        raise ParameterError(f"contender {label!r} is a regressor and the targets are labels; give a classifier")
    return estimator


def _entries(contenders) -> list:
    """The caller's contenders as a flat list of names, estimators and (label, estimator) pairs."""
    if isinstance(contenders, str):
        return [c.strip() for c in contenders.split(",") if c.strip()]
    if isinstance(contenders, dict):
        return list(contenders.items())
    if isinstance(contenders, tuple) and len(contenders) == 2 and isinstance(contenders[0], str) \
            and _is_estimator(contenders[1]):
        return [contenders]  # one (label, estimator) pair
    if _is_estimator(contenders):
        return [contenders]
    try:
        return list(contenders)
    except TypeError:
        raise ParameterError(f"contenders={contenders!r} is not understood; give names, estimators, "
                             "(label, estimator) pairs or a {label: estimator} dict") from None


def resolve_contenders(contenders, *, task: str) -> list[tuple[str, object]]:
    """``(label, item)`` per contender: ``item`` a registered :class:`Contender` or the caller's estimator.

    Parameters
    ----------
    contenders : None, str, estimator, list or dict
        None: every registered contender available for ``task``. A str: registered names, comma-
        separated. A list may mix registered names, estimators and ``(label, estimator)`` pairs;
        a dict maps labels to estimators.
    task : {"classification", "regression"}

    Returns
    -------
    list of (str, Contender or estimator)
        Labels are unique: a registered contender is labelled by its name; an estimator by its
        label, else by its class name, numbered (``"MyModel-1"``, ``"MyModel-2"``) when that
        class appears more than once.

    Raises
    ------
    ParameterError
        Unknown or unavailable names, contenders that do not do ``task``, objects that are not
        clonable estimators, repeated labels, or no contender at all.

    Examples
    --------
    >>> from sigxfer.evaluation.baselines import PixelNaiveBayes
    >>> pairs = resolve_contenders(["pixels-nb", PixelNaiveBayes(), ("small", PixelNaiveBayes(image_size=16)),
    ...                             PixelNaiveBayes()], task="classification")
    >>> [label for label, _ in pairs]
    ['pixels-nb', 'PixelNaiveBayes-1', 'small', 'PixelNaiveBayes-2']
    """
    if contenders is None:
        return [(name, get_contender(name)) for name in list_contenders(task=task)]
    given = []  # (label or None, item)
    for entry in _entries(contenders):
        if isinstance(entry, str):
            given.append((entry, _named(entry, task)))
        elif isinstance(entry, tuple):
            if len(entry) != 2 or not isinstance(entry[0], str) or not entry[0].strip():
                raise ParameterError(f"contender {entry!r} must be a (label, estimator) pair with a non-empty label")
            if isinstance(entry[1], str):
                raise ParameterError(f"contender {entry!r} pairs a label with the name {entry[1]!r}; give a "
                                     f"registered contender by its name alone ({entry[1]!r})")
            given.append((entry[0].strip(), _checked_estimator(entry[0], entry[1], task)))
        else:
            given.append((None, _checked_estimator(type(entry).__name__, entry, task)))
    if not given:
        raise ParameterError("no contenders to compare; name at least one or give an estimator")
    explicit = [label for label, _ in given if label is not None]
    repeated = sorted(label for label, n in Counter(explicit).items() if n > 1)
    if repeated:
        raise ParameterError(f"contender label(s) {repeated} are given more than once; labels must be unique")
    used = set(explicit)
    by_class = Counter(type(item).__name__ for label, item in given if label is None)
    numbers: Counter = Counter()
    out = []
    for label, item in given:
        if label is None:
            base = type(item).__name__
            label = base
            if by_class[base] > 1 or base in used:
                # Number every repeat, skipping numbers that a given label holds already.
                numbers[base] += 1
                label = f"{base}-{numbers[base]}"
                while label in used:
                    numbers[base] += 1
                    label = f"{base}-{numbers[base]}"
            used.add(label)
        out.append((label, item))
    return out


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
    return cls(imaging=setup.imaging, sr=setup.sr, channel_mode=setup.channel_mode, **setup.params)


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
    warm_up_of(_minirocket(setup))()


def warm_up_of(estimator) -> Callable[[], None] | None:
    """The untimed warm-up a caller's estimator needs before its timed fits, or None.

    A given :class:`~sigxfer.evaluation.baselines.MiniRocket` gets the registered one's: a fit
    of a clone on eight tiny signals, so numba's one-time compiling is not charged to its first
    split.

    Examples
    --------
    >>> from sigxfer.evaluation.baselines import MiniRocket, PixelNaiveBayes
    >>> warm_up_of(PixelNaiveBayes()) is None, callable(warm_up_of(MiniRocket()))
    (True, True)
    """
    from sklearn.base import clone

    from sigxfer.data.signals import SignalSet
    from sigxfer.evaluation.baselines import MiniRocket

    if not isinstance(estimator, MiniRocket):
        return None

    def warm_up():
        rng = np.random.default_rng(0)
        y = np.repeat(["a", "b"], 4) if estimator.task == "classification" else rng.normal(size=8)
        tiny = SignalSet(rng.normal(size=(8, 1, 64)).astype(np.float32), y=y)
        clone(estimator).set_params(n_kernels=84).fit(tiny, tiny.y)
    return warm_up


def _aeon_missing():
    from sigxfer.evaluation.baselines import minirocket_available

    return None if minirocket_available() else "needs the optional aeon package (pip install 'sigxfer[aeon]')"


#: The registered contender whose score the others are measured against, when it ran.
REFERENCE = "minirocket"

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
    REFERENCE, "MiniRocket (aeon) on the raw signals, no images", _minirocket, uses_imaging=False,
    unavailable=_aeon_missing, warm_up=_minirocket_warm_up))
