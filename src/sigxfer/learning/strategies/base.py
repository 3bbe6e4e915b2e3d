"""What every strategy is: a dataclass of parameters, checked against one table, with ``fit``.

Strategies live in a registry by name, so ``strategy="finetune"`` or
``strategy={"name": "finetune", "epochs": 5}`` finds its class; each module that defines one
registers it with :func:`register_strategy`.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import ClassVar

import numpy as np
import torch

from sigxfer._checks import check_params
from sigxfer.errors import ParameterError
from sigxfer.learning.network import SignalNet

_STRATEGIES: dict[str, type[Strategy]] = {}
#: The backbone an estimator builds when the user names none (``backbone=None``), unless its
#: strategy chooses one itself (:meth:`Strategy.choose_backbone`).
DEFAULT_BACKBONE = "efficientnet_lite0"


def register_strategy(cls):
    """Class decorator adding a strategy under ``cls.name``.

    Examples
    --------
    >>> import dataclasses
    >>> @register_strategy
    ... @dataclasses.dataclass
    ... class Centroids(Strategy):
    ...     name = "centroids"
    >>> "centroids" in list_strategies()
    True
    """
    if not (isinstance(cls, type) and issubclass(cls, Strategy)) or not cls.name:
        raise ParameterError(f"register_strategy needs a Strategy subclass with a name; got {cls!r}")
    _STRATEGIES[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    """Names of the registered strategies, sorted.

    Examples
    --------
    >>> sorted({"auto", "finetune", "linear", "scratch"} & set(list_strategies()))
    ['auto', 'finetune', 'linear', 'scratch']
    """
    return sorted(_STRATEGIES)


def resolve_strategy(strategy) -> Strategy:
    """A strategy object from a name, a config dict (``{"name": ..., **params}``) or an object.

    A dict is what :meth:`Strategy.get_config` returns, so a model file's strategy comes back
    equal to the one it was trained with.

    Raises
    ------
    ParameterError
        Unknown name, or parameters the strategy does not take or accept.

    Examples
    --------
    >>> resolve_strategy({"name": "finetune", "epochs": 5}).epochs
    5
    >>> resolve_strategy("linear").name
    'linear'
    """
    if isinstance(strategy, Strategy):
        return strategy
    if isinstance(strategy, dict):
        params = dict(strategy)
        name = params.pop("name", None)
    else:
        name, params = strategy, {}
    if name not in _STRATEGIES:
        raise ParameterError(f"strategy={name!r} is not known; use one of {list_strategies()}")
    try:
        return _STRATEGIES[name](**params)
    except TypeError as err:
        raise ParameterError(f"strategy {name!r}: {err}") from None


@dataclasses.dataclass
class Strategy:
    """Base class. Subclasses are dataclasses whose fields are their parameters.

    A subclass declares its parameter checks in ``_parameter_constraints``, a table
    ``{field: constraint or [constraints]}`` (see :func:`sigxfer._checks.check_params`), checked on
    construction and again at the start of ``fit``; checks that tie parameters together go in
    :meth:`_check_together`.

    Examples
    --------
    >>> import dataclasses
    >>> from sigxfer._checks import Interval
    >>> @dataclasses.dataclass
    ... class Nearest(Strategy):
    ...     name = "nearest"
    ...     k: int = 1
    ...     _parameter_constraints = {"k": Interval(int, 1, None)}
    >>> Nearest(k=0)
    Traceback (most recent call last):
    ...
    sigxfer.errors.ParameterError: strategy 'nearest': k=0 must be an integer >= 1
    """

    name: ClassVar[str] = ""
    #: Whether the backbone stays frozen (then embeddings can be computed once and cached).
    frozen: ClassVar[bool] = True
    #: Whether the estimator should build the backbone with its pretrained weights (when its
    #: ``pretrained=True``); False for training from a random initialisation.
    uses_pretrained_weights: ClassVar[bool] = True
    #: ``{field: constraint or [constraints]}``, checked by :meth:`_check`.
    _parameter_constraints: ClassVar[dict] = {}

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        """Check every parameter against the class's table, then the checks across parameters."""
        params = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        check_params(f"strategy {self.name!r}", params, self._parameter_constraints)
        self._check_together()

    def _check_together(self) -> None:
        """Checks that involve several parameters (none by default); may normalise values too."""

    def candidate_imagings(self, *, n_channels: int, n_timepoints: int, sr: float | None) -> list:
        """The views an estimator builds when the user leaves ``imaging=None``: a spectrogram.

        A strategy that chooses views itself (``auto``) returns its candidates, all of which
        the estimator builds and fits; the strategy keeps those it chooses
        (:meth:`~sigxfer.learning.network.SignalNet.keep_views`).

        Examples
        --------
        >>> from sigxfer.learning.strategies import LinearProbe
        >>> [s.name for s in LinearProbe().candidate_imagings(n_channels=1, n_timepoints=100, sr=None)]
        ['spectrogram']
        """
        from sigxfer.imaging.resolve import ImagingSpec

        return [ImagingSpec("spectrogram")]

    def channel_groups(self, n_channels: int, channel_mode: str) -> list:
        """The channel groups each imaging is read in, one view per group (None: all channels).

        ``channel_mode="groups"`` gives consecutive groups of three
        (:func:`~sigxfer.imaging.resolve.channel_groups`); any other mode one picture of all
        channels. A strategy that chooses views itself (``auto``) may offer both.

        Examples
        --------
        >>> from sigxfer.learning.strategies import LinearProbe
        >>> LinearProbe().channel_groups(6, "groups"), LinearProbe().channel_groups(6, "tile")
        ([[0, 1, 2], [3, 4, 5]], [None])
        """
        from sigxfer.imaging.resolve import channel_groups

        return channel_groups(n_channels, channel_mode)

    def views_in_one_pass(self, n_views: int) -> int:
        """The most of the ``n_views`` built views one batch runs through the backbone together:
        all of them for a model that reads every view it was given.

        Examples
        --------
        >>> from sigxfer.learning.strategies import LinearProbe
        >>> LinearProbe().views_in_one_pass(4)
        4
        """
        return n_views

    def choose_backbone(self, build, X: np.ndarray) -> tuple[str, SignalNet, str]:
        """``(name, net, why)`` when the user names no backbone: :data:`DEFAULT_BACKBONE`.

        ``build(name)`` returns the estimator's network on that backbone (every candidate view,
        imagers fitted); a strategy that weighs backbones against its budget (``auto``) builds
        and times several.

        Examples
        --------
        >>> from sigxfer.learning.strategies import LinearProbe
        >>> LinearProbe().choose_backbone(lambda name: name, None)
        ('efficientnet_lite0', 'efficientnet_lite0', 'the default backbone')
        """
        return DEFAULT_BACKBONE, build(DEFAULT_BACKBONE), "the default backbone"

    def get_config(self) -> dict:
        """Name and parameters as plain JSON values (fields marked ``metadata={"config": False}`` left out).

        Examples
        --------
        >>> from sigxfer.learning.strategies import LinearProbe
        >>> LinearProbe(C=0.5).get_config()["C"]
        0.5
        """
        params = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)
                  if f.metadata.get("config", True)}
        return {"name": self.name, **params}

    def fit(self, net: SignalNet, X: np.ndarray, y: np.ndarray, *, task: str, n_outputs: int,
            random_state: int | None = None, batch_size: int = 32, progress: bool | None = None,
            warm_start: bool = False) -> dict:
        """Train ``net`` in place on signals ``X`` and targets ``y``; return the history.

        ``y`` holds class indices (``task="classification"``) or standardised targets of shape
        (n_cases, n_outputs) (``task="regression"``). ``warm_start=True`` (passed only when the
        estimator starts from another fitted model, ``init=``) says the head comes from an earlier
        stage: a strategy may continue from it (fine-tuning) or shrink towards it (the linear
        probe, for regression) instead of starting afresh.
        """
        raise NotImplementedError


def set_linear_head(net: SignalNet, weight: np.ndarray, bias: np.ndarray) -> None:
    """Replace the backbone's classifier by a linear layer with the given weights.

    Parameters
    ----------
    net : SignalNet
        Network whose ``backbone.classifier`` is replaced, in place.
    weight : ndarray, shape (n_outputs, net.embedding_dim)
    bias : ndarray, shape (n_outputs,)

    Examples
    --------
    >>> set_linear_head(net, np.zeros((2, 16)), np.array([0.0, 1.0]))  # doctest: +SKIP
    >>> net.head.out_features  # doctest: +SKIP
    2
    """
    if weight.ndim != 2 or weight.shape[1] != net.embedding_dim:
        raise ParameterError(
            f"head weights of shape {tuple(weight.shape)} do not fit embeddings of {net.embedding_dim} values"
        )
    net.reset_head(weight.shape[0])
    with torch.no_grad():
        net.backbone.classifier.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        net.backbone.classifier.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
