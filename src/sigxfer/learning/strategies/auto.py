"""The "auto" strategy: a linear probe or a fine-tune, chosen by data size and domain distance."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np
import torch

from sigxfer._checks import Interval
from sigxfer.errors import ParameterError
from sigxfer.learning.domain import DOMAIN_THRESHOLD, domain_distance
from sigxfer.learning.network import SignalNet
from sigxfer.learning.strategies.base import Strategy, register_strategy
from sigxfer.learning.strategies.finetune import FineTune
from sigxfer.learning.strategies.linear import LinearProbe

#: Training-set sizes of :class:`Auto`'s rule: below SMALL_N nothing but a head is fitted, from
#: LARGE_N on a far domain gets the whole network fine-tuned.
SMALL_N = 100
LARGE_N = 1000
# Parameters of the FineTune an Auto holds that its constructor takes directly (unfreeze is Auto's).
_FINETUNE_PARAMS = tuple(f.name for f in dataclasses.fields(FineTune) if f.init and f.name != "unfreeze")


@register_strategy
@dataclasses.dataclass(init=False)
class Auto(Strategy):
    """Choose linear probe, partial or full fine-tuning from the data size and the domain distance.

    The rule of thumb of seed 004, with the distance of :func:`~sigxfer.learning.domain.domain_distance`
    (how far the training images drive the early BatchNorm layers from their ImageNet statistics):

    ===================  ============================  ==========================================
    training cases       close (distance < threshold)  far (distance >= threshold)
    ===================  ============================  ==========================================
    n < small_n          linear                        linear (too few to fine-tune safely)
    small_n <= n < large linear                        finetune, last ``unfreeze`` stages
    n >= large_n         finetune, last stages         finetune, all stages
    ===================  ============================  ==========================================

    When fine-tuning is chosen, the :class:`FineTune` this strategy holds (``finetune``) runs with
    the chosen ``unfreeze``. Its parameters may be given directly (``Auto(epochs=5)`` holds
    ``FineTune(epochs=5)``), and :meth:`get_config` lists them beside the rule's own, so a model
    file's ``{"name": "auto", "epochs": 5, ...}`` builds the same strategy. The choice and its
    reason go to ``history["auto"]``. The distance compares with pretrained statistics:
    with the estimator's ``pretrained=False`` they are re-estimated on the training images, the
    distance is near 0 and the rule sees every data set as close.

    Parameters
    ----------
    unfreeze : int, optional
        Stages a partial fine-tune trains; None: a third of the backbone's stages (at least one).
    small_n, large_n : int
        Training-set sizes of the rule above.
    distance_threshold : float
        Domain distance from which images count as far (calibration in :mod:`~sigxfer.learning.domain`).
    n_images : int
        Training cases (a seeded sample) used to measure the distance.
    finetune : FineTune or dict, optional
        The fine-tune to run when one is chosen (its ``unfreeze`` must be left at ``"all"``: the
        rule sets it). Default: ``FineTune(**finetune_params)``.
    **finetune_params
        Parameters of :class:`FineTune` (``epochs``, ``lr``, ``augment``, ...), when ``finetune``
        is not given.

    Examples
    --------
    >>> auto = Auto(epochs=5, small_n=50)
    >>> auto.finetune.epochs, auto.get_config()["epochs"]
    (5, 5)
    >>> auto.choose(n_train=300, distance=0.5, n_stages=18)["chosen"]
    'finetune-partial'
    """

    name: ClassVar[str] = "auto"
    frozen: ClassVar[bool] = False
    unfreeze: int | None = None
    small_n: int = SMALL_N
    large_n: int = LARGE_N
    distance_threshold: float = DOMAIN_THRESHOLD
    n_images: int = 32
    finetune: FineTune = dataclasses.field(default_factory=FineTune)

    _parameter_constraints = {
        "unfreeze": [None, Interval(int, 1, None)],
        "small_n": Interval(int, 0, None),
        "large_n": Interval(int, 0, None),
        "distance_threshold": Interval(float, None, None),
        "n_images": Interval(int, 1, None),
        "finetune": FineTune,
    }

    def __init__(self, *, unfreeze: int | None = None, small_n: int = SMALL_N, large_n: int = LARGE_N,
                 distance_threshold: float = DOMAIN_THRESHOLD, n_images: int = 32,
                 finetune: FineTune | dict | None = None, **finetune_params) -> None:
        unknown = sorted(set(finetune_params) - set(_FINETUNE_PARAMS))
        if unknown:
            raise TypeError(f"Auto() got an unexpected keyword argument {unknown[0]!r}")
        if finetune is None:
            finetune = _finetune_of_auto(finetune_params)
        elif finetune_params:
            raise ParameterError(
                f"strategy 'auto': give {', '.join(sorted(finetune_params))} either inside finetune= or "
                "directly, not both"
            )
        elif isinstance(finetune, dict):
            finetune = _finetune_of_auto(finetune)
        self.unfreeze = unfreeze
        self.small_n = small_n
        self.large_n = large_n
        self.distance_threshold = distance_threshold
        self.n_images = n_images
        self.finetune = finetune
        self._check()

    def _check_together(self) -> None:
        if self.small_n > self.large_n:
            raise ParameterError(
                f"strategy 'auto': small_n={self.small_n} and large_n={self.large_n} must have small_n <= large_n"
            )
        if self.finetune.unfreeze != "all":
            raise ParameterError(
                f"strategy 'auto': finetune has unfreeze={self.finetune.unfreeze!r}, but auto chooses the stages; "
                f"leave it at 'all' and give Auto(unfreeze={self.finetune.unfreeze!r}) for the partial fine-tune"
            )
        if not self.finetune.uses_pretrained_weights:
            raise ParameterError(
                f"strategy 'auto' starts from pretrained weights; finetune= must be a FineTune, "
                f"not {type(self.finetune).__name__}"
            )
        self.finetune._check()

    def get_config(self) -> dict:
        """Name and parameters as plain JSON values, the held fine-tune's flattened in.

        ``resolve_strategy`` of the result builds an equal strategy.

        Examples
        --------
        >>> config = Auto(epochs=5).get_config()
        >>> config["name"], config["epochs"], config["small_n"], "finetune" in config
        ('auto', 5, 100, False)
        """
        finetune = self.finetune.get_config()
        del finetune["name"], finetune["unfreeze"]
        return {"name": self.name, "unfreeze": self.unfreeze, **finetune, "small_n": self.small_n,
                "large_n": self.large_n, "distance_threshold": self.distance_threshold, "n_images": self.n_images}

    def choose(self, n_train: int, distance: float, n_stages: int) -> dict:
        """The rule: ``{"chosen": "linear" | "finetune-partial" | "finetune-all", "unfreeze": ..., "reason": ...}``.

        Parameters
        ----------
        n_train : int
            Training cases.
        distance : float
            Domain distance of the training images; NaN counts as far.
        n_stages : int
            Stages of the backbone, for a partial fine-tune's default share.

        Examples
        --------
        >>> Auto().choose(n_train=3000, distance=0.5, n_stages=18)["chosen"]
        'finetune-all'
        >>> Auto(unfreeze=2).choose(n_train=300, distance=0.5, n_stages=18)["unfreeze"]
        2
        """
        partial = min(n_stages, self.unfreeze or max(1, math.ceil(n_stages / 3)))
        if not np.isfinite(distance):
            far, measured = True, "domain distance unknown (no BatchNorm in the early stages), taken as far"
        else:
            far = distance >= self.distance_threshold
            measured = f"domain distance {distance:.3f} {'>=' if far else '<'} threshold {self.distance_threshold}"
        domain = "images far from the pretrained domain" if far else "images close to the pretrained domain"
        size = f"{n_train} training cases"
        if n_train < self.small_n:
            chosen, unfreeze = "linear", None
            why = f"{size} < {self.small_n}: too few to fine-tune without overfitting; linear probe on frozen features"
        elif n_train < self.large_n and not far:
            chosen, unfreeze = "linear", None
            why = f"{size} < {self.large_n} and {domain}: the frozen features fit; linear probe"
        elif n_train >= self.large_n and far:
            chosen, unfreeze = "finetune-all", "all"
            why = f"{size} >= {self.large_n} and {domain}: fine-tune all {n_stages} stages"
        else:
            chosen, unfreeze = "finetune-partial", partial
            band = f"from {self.small_n} to {self.large_n - 1}" if far else f">= {self.large_n}"
            why = f"{size} ({band}) and {domain}: fine-tune the last {partial} of {n_stages} stages"
        return {"chosen": chosen, "unfreeze": unfreeze, "reason": f"{why} ({measured})"}

    @torch.no_grad()
    def measure_distance(self, net: SignalNet, X: np.ndarray, *, random_state=None, batch_size: int = 32) -> float:
        """Domain distance of a seeded sample of ``n_images`` training signals, as images.

        Parameters
        ----------
        net : SignalNet
            Network with a fitted imager and the backbone to compare with; left in eval mode, its
            weights unchanged.
        X : ndarray, shape (n_cases, n_channels, n_timepoints)

        Returns
        -------
        float
            See :func:`~sigxfer.learning.domain.domain_distance`; NaN if the early stages hold no BatchNorm.

        Examples
        --------
        >>> Auto(n_images=16).measure_distance(net, X, random_state=0)  # doctest: +SKIP
        0.47
        """
        rng = np.random.default_rng(random_state)
        pick = np.sort(rng.choice(len(X), size=min(len(X), self.n_images), replace=False))
        device = next(net.parameters()).device
        net.eval()
        batches = (net.imager(torch.as_tensor(X[pick[i:i + batch_size]], device=device))
                   for i in range(0, len(pick), batch_size))
        return domain_distance(net.backbone, batches)

    def fit(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None,
            warm_start=False):
        """Measure the distance, apply :meth:`choose`, and fit the chosen strategy; see :meth:`Strategy.fit`.

        The history is the chosen strategy's, with the choice under ``"auto"``.
        """
        self._check()
        n_stages = len(list(net.backbone.stages()))
        distance = self.measure_distance(net, X, random_state=random_state, batch_size=batch_size)
        decision = self.choose(len(X), distance, n_stages)
        if decision["chosen"] == "linear":
            strategy = LinearProbe()
        else:
            strategy = dataclasses.replace(self.finetune, unfreeze=decision["unfreeze"])
        history = strategy.fit(net, X, y, task=task, n_outputs=n_outputs, random_state=random_state,
                               batch_size=batch_size, progress=progress, warm_start=warm_start)
        history["auto"] = {**decision, "n_train": int(len(X)),
                           "domain_distance": float(distance) if np.isfinite(distance) else None,
                           "distance_threshold": self.distance_threshold, "strategy": strategy.get_config()}
        return history


def _finetune_of_auto(params: dict) -> FineTune:
    """``FineTune(**params)``; a bad value is reported as auto's, the strategy it was given to."""
    try:
        return FineTune(**params)
    except ParameterError as err:
        text, own = str(err), f"strategy {FineTune.name!r}: "
        raise ParameterError(f"strategy {Auto.name!r}: {text[len(own):]}" if text.startswith(own) else text) from None
