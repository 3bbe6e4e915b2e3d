"""The "auto" strategy: the transfer model that cross-validates best on the training data, in a time budget.

Candidates, in the order they are tried (cheapest and simplest first):

1. each candidate view alone (the estimator builds every view :meth:`Auto.candidate_imagings`
   names, or those the user listed in ``imaging=``; with more than three channels, each both as
   one tiled picture and per group of three channels; with ``derivative``, the shape views of
   the series' first difference too; with ``segments``, the series cut into rows), its head
   reading the last layer, then
   several depths (``features``), the regularisation of each head chosen by the same CV;
2. combinations of views (all of them up to four views, else those of the best four);
   on a joint backbone (``"efficientnet_lite1+efficientnet_lite2"``, auto's first choice when
   its budget allows) also each member network's own search, and the average of the members'
   best heads (one linear head on the joint features), taken when its CV log-loss is lower;
   with ``blend=True`` also a blend of up to five scored heads grown greedily on their held-out
   outputs (:mod:`.blend`), taken on the same rule;
3. from ``large_n`` cases, in the :data:`FINETUNE_SHARE` of the budget the frozen search leaves:
   LP-FT, the best frozen model's head then its last stages fine-tuned for the epochs that fit,
   scored against that frozen model on a held-out part of the training data.

Each view is embedded once; heads on any subset of views and depths reuse those embeddings, so
the whole search costs about one backbone pass per view. Costs are estimated from the
images per second measured on a few training signals at the start, and a step whose estimate
does not fit in the time left is skipped and the table says so (views are embedded while a
quarter of the budget stays for the heads). With many cases, heads are first scored on a
subsample and the best few again on every case (successive halving); the views are embedded on
the subsample first too, and on the other cases only for the views those finalists read
(:class:`~.views.ViewEmbeddings`). From ``large_n`` cases the finalists are scored on one
held-out part instead of k folds, the part LP-FT is then judged on.

The frozen search (steps 1 and 2) is :func:`~.search.frozen_search`, the model kept from it
:func:`~.chosen.keep_frozen` and LP-FT (step 3) :mod:`.lpft`; this module holds the strategy's
parameters and the order of those steps.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
import warnings
from typing import ClassVar

import numpy as np

from sigxfer._checks import Interval
from sigxfer.errors import ParameterError
from sigxfer.learning.network import MAX_SHIFT, MIN_POWER, POOLINGS
from sigxfer.learning.strategies.base import Strategy, register_strategy
from sigxfer.learning.strategies.chosen import keep_frozen
from sigxfer.learning.strategies.finetune import FineTune
from sigxfer.learning.strategies.linear import FEATURES
from sigxfer.learning.strategies import blend
from sigxfer.learning.strategies import space
from sigxfer.learning.strategies.lpft import epochs_that_fit, finetune_of_auto, lp_ft, start_for_lp_ft
from sigxfer.learning.strategies.search import frozen_search

#: Training cases from which fine-tuning candidates are considered.
LARGE_N = 1000
#: Seconds for the whole fit: 3,000 one-second clips then finish within about ten minutes on two
#: CPU cores. EfficientNet-Lite0 reads about 150 images/s there on the calibrated engine
#: (BENCHMARKS.md), so about 20 s per view: every candidate view is embedded and most of the
#: budget scores heads on them.
DEFAULT_BUDGET = 600.0
#: Share of the budget kept for LP-FT from ``large_n`` cases; the frozen search plans in the rest.
FINETUNE_SHARE = 0.4
# Parameters of the FineTune an Auto holds that its constructor takes directly (unfreeze is
# Auto's; head is set by the LP-FT recipe).
_FINETUNE_PARAMS = tuple(f.name for f in dataclasses.fields(FineTune) if f.init and f.name not in ("unfreeze", "head"))
# Parameters of the former fixed rule (data size and domain distance), still read from model files.
_LEGACY_PARAMS = ("small_n", "distance_threshold", "n_images")


def _check_listed(name: str, values, allowed) -> None:
    """Refuse an empty list, an unknown value or a repeat in the parameter ``name``."""
    if not values or any(v not in allowed for v in values) or len(set(values)) != len(values):
        raise ParameterError(
            f"strategy 'auto': {name}={values!r} must list some of {', '.join(map(repr, allowed))}, each once"
        )


@register_strategy
@dataclasses.dataclass(init=False)
class Auto(Strategy):
    """Pick views, feature depth, regularisation (and on large data LP-FT) by cross-validation.

    Only the training data given to ``fit`` is used: stratified folds (by group when ``groups``
    are passed to the estimator's ``fit``) for the frozen candidates, a held-out part for
    fine-tuning. From ``large_n`` cases, candidates scored on every case are scored on that same
    held-out part (the finalists of the halving; all of them with ``subsample=None``): a fifth
    of every case there holds more cases than the subsample's folds, at a fifth of the cost of
    k-fold CV on every case. The table of every candidate, its estimate and its cost goes to
    ``history["selection"]``; with progress on, the plan, a progress bar and the choice are
    printed to stderr.

    Parameters
    ----------
    time_budget : float, optional
        Seconds for the whole fit; None: no limit. Steps whose estimated cost does not fit in
        what is left are skipped (the first view is always embedded: a model needs one).
    cv : int
        Folds of the cross-validation (fewer when a class has fewer cases).
    Cs : int
        Regularisation values tried per head, log-spaced (C from 1e-4 to 1e2; ridge alpha for regression).
    features : list of {"last", "multi"}
        Depths tried: the last layer, the pooled maps of several depths.
    pooling : list of {"mean", "bands", "max"}, optional
        Poolings tried: the mean of each map, means of 3 bands along the image width
        (position-aware) and/or the maximum of each map (the last two for backbones with a stage
        chain); each pooling doubles the heads to score. None: the mean, and the maximum too
        where the shape views lead on up to three channels (:func:`.space.default_poolings`).
    max_views : int
        Most views one candidate combines.
    subsample : int, optional
        With more training cases than this, every candidate is first scored on a stratified
        subsample of this size and the best :data:`.selection.FINALISTS` then on every case (successive
        halving); None scores every candidate on every case.
    large_n : int
        Training cases from which LP-FT candidates are considered.
    unfreeze : int, optional
        Stages the LP-FT candidate trains; None: a third of the backbone's stages.
    ensemble : bool
        On a joint backbone, search each member network on its own too and score the average
        of the members' best heads (:class:`~.ensemble.Ensemble`); it is kept when its CV
        log-loss (R² for regression) beats the best single head's.
    blend : bool
        Also grow a blend of the scored heads (:mod:`.blend`: up to five picks, each the head
        whose held-out outputs most lower the average's held-out log-loss); it is kept when its
        CV log-loss (R² for regression) beats the best single head's and any ensemble's. From
        ``large_n`` cases LP-FT then starts from the best single head and must beat the blend.
        Off by default: on nine UCR/UEA sets it gained test accuracy on three, lost on three
        (two of them the sets auto was developed on) and tied on three, +0.6 points on average
        (BENCHMARKS.md); no better than noise, and a blend reads more views at prediction.
    derivative : bool
        Where the shape views lead (no sample rate, or series shorter than 256 samples) and
        the signals have at most three channels, also try each shape view on the series' first
        difference (``waveform:derivative=1``, ...). On nine UCR/UEA sets CV kept such a view
        on six; test accuracy rose on three, fell on one (GunPoint, one case of 150) and held on
        five, +0.7 points on average, for 1.7x the fit time (BENCHMARKS.md). Command line:
        ``--strategy-param derivative=false``.
    segments : bool
        Where the shape views lead, also try the series cut into overlapping segments stacked
        as rows (``imaging="segments"``, :class:`~sigxfer.imaging.encodings.Segments`). Off by
        default: on nine UCR/UEA sets it won two (ACSF1, ItalyPowerDemand), lost three and tied
        four, its mean 0.888 against 0.894 (BENCHMARKS.md). Command line:
        ``--strategy-param segments=true``.
    shift : float, optional
        0: each series is read as it is. Above 0 (a fraction of the length below 0.5), every
        candidate reads shift-averaged features: each view's embedding is the mean over the
        series and its copies moved that fraction later and earlier, the edge sample repeated
        (:attr:`~sigxfer.learning.network.SignalNet.shift`), so a dip a few samples early or
        late gives nearly the same features; three backbone passes per series at fit, at
        prediction, in the ONNX export and the stream. None: :data:`.space.SHIFT` where the
        shape views lead on up to three channels, else 0 (:func:`.space.default_shift`).
        Off by default: on nine UCR/UEA sets ``shift=None`` won four, lost three (ArrowHead and
        the two 24-sample sets, where a class may sit at a fixed time) and tied two, its mean
        0.894 against 0.896, for 1.7x the fit time (BENCHMARKS.md).
    power : float, optional
        1: every candidate's head reads the pooled features as they are. Below 1 (down to 0.1),
        through a signed power (:func:`~sigxfer.learning.network.power_map`; 0.5 is the square
        root), which tames the few channels that fire strongly, at fit, at prediction, in the
        ONNX export and the stream; it costs nothing beside the pass. None (the default):
        :data:`.space.POWER` where the shape views lead on up to three channels, else 1
        (:func:`.space.default_power`). On eleven UCR/UEA sets in one run the root won five
        (PigCVP +6 test cases of 208, ACSF1 +4 of 100), lost two (ItalyPowerDemand 4 of 1,029,
        OSULeaf 1 of 242) and tied four, +1.0 point on average (BENCHMARKS.md). Command line:
        ``--strategy-param power=1`` turns it off.
    finetune : FineTune or dict, optional
        Settings of the LP-FT candidate (epochs, lr, ...); its head starts from the frozen model's,
        its ``unfreeze`` is Auto's; it plans as many epochs as the time left holds and runs them all
        (``patience=None`` unless given: the rate anneals), then keeps the epoch of lowest held-out
        loss or the mean of the last 3 epochs' weights where that is lower (``average_last=3``).
        Its parameters may be given directly (``Auto(epochs=5)``).
    **finetune_params
        Parameters of :class:`FineTune` when ``finetune`` is not given. ``small_n``,
        ``distance_threshold`` and ``n_images``, parameters of the former fixed rule, are still
        accepted so that model files that stored them load; they have no effect.

    Examples
    --------
    >>> auto = Auto(time_budget=60, epochs=5)
    >>> auto.finetune.epochs, auto.get_config()["time_budget"]
    (5, 60)
    >>> [s.label for s in auto.candidate_imagings(n_channels=1, n_timepoints=150, sr=None)][:4]
    ['waveform', 'gaf', 'recurrence', 'waveform:derivative=1']
    """

    name: ClassVar[str] = "auto"
    frozen: ClassVar[bool] = False
    time_budget: float | None = DEFAULT_BUDGET
    cv: int = 5
    Cs: int = 7
    features: list = dataclasses.field(default_factory=lambda: list(FEATURES))
    pooling: list | None = None
    max_views: int = 3
    subsample: int | None = 500
    large_n: int = LARGE_N
    unfreeze: int | None = None
    ensemble: bool = True
    blend: bool = False
    derivative: bool = True
    segments: bool = False
    shift: float | None = 0.0
    power: float | None = None
    finetune: FineTune = dataclasses.field(default_factory=lambda: finetune_of_auto({}))

    _parameter_constraints = {
        "time_budget": [None, Interval(float, 0, None, closed="neither")],
        "cv": Interval(int, 2, None),
        "Cs": Interval(int, 1, None),
        "features": [list, tuple],
        "pooling": [None, list, tuple],
        "max_views": Interval(int, 1, None),
        "subsample": [None, Interval(int, 20, None)],
        "large_n": Interval(int, 0, None),
        "unfreeze": [None, Interval(int, 1, None)],
        "ensemble": bool,
        "blend": bool,
        "derivative": bool,
        "segments": bool,
        "shift": [None, Interval(float, 0, MAX_SHIFT, closed="left")],
        "power": [None, Interval(float, MIN_POWER, 1, closed="both")],
        "finetune": FineTune,
    }

    def __init__(self, *, time_budget: float | None = DEFAULT_BUDGET, cv: int = 5, Cs: int = 7,
                 features=tuple(FEATURES), pooling=None, max_views: int = 3, subsample: int | None = 500,
                 large_n: int = LARGE_N, unfreeze: int | None = None, ensemble: bool = True, blend: bool = False,
                 derivative: bool = True, segments: bool = False, shift: float | None = 0.0,
                 power: float | None = None, finetune: FineTune | dict | None = None, **finetune_params) -> None:
        for key in _LEGACY_PARAMS:
            if finetune_params.pop(key, None) is not None:
                warnings.warn(f"Auto({key}=...) belonged to the former fixed rule and has no effect",
                              DeprecationWarning, stacklevel=2)
        unknown = sorted(set(finetune_params) - set(_FINETUNE_PARAMS))
        if unknown:
            raise TypeError(f"Auto() got an unexpected keyword argument {unknown[0]!r}")
        if finetune is None:
            finetune = finetune_of_auto(finetune_params)
        elif finetune_params:
            raise ParameterError(
                f"strategy 'auto': give {', '.join(sorted(finetune_params))} either inside finetune= or "
                "directly, not both"
            )
        elif isinstance(finetune, dict):
            finetune = finetune_of_auto(finetune)
        self.time_budget = time_budget
        self.cv = cv
        self.Cs = Cs
        self.features = list(features) if isinstance(features, (list, tuple)) else features
        self.pooling = list(pooling) if isinstance(pooling, (list, tuple)) else pooling
        self.max_views = max_views
        self.subsample = subsample
        self.large_n = large_n
        self.unfreeze = unfreeze
        self.ensemble = ensemble
        self.blend = blend
        self.derivative, self.segments = derivative, segments
        self.shift = shift
        self.power = power
        self.finetune = finetune
        self._check()

    def _check_together(self) -> None:
        _check_listed("features", self.features, FEATURES)
        if self.pooling is not None:  # None: space.default_poolings decides on the network
            _check_listed("pooling", self.pooling, POOLINGS)
        if self.finetune.unfreeze != "all":
            raise ParameterError(
                f"strategy 'auto': finetune has unfreeze={self.finetune.unfreeze!r}, but auto chooses the stages; "
                f"leave it at 'all' and give Auto(unfreeze={self.finetune.unfreeze!r}) for the fine-tune"
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
        >>> config["name"], config["epochs"], config["features"], "finetune" in config
        ('auto', 5, ['last', 'multi'], False)
        """
        finetune = self.finetune.get_config()
        for key in ("name", "unfreeze", "head"):
            del finetune[key]
        return {"name": self.name, "time_budget": self.time_budget, "cv": self.cv, "Cs": self.Cs,
                "features": list(self.features), "pooling": None if self.pooling is None else list(self.pooling),
                "max_views": self.max_views, "subsample": self.subsample, "large_n": self.large_n,
                "unfreeze": self.unfreeze, "ensemble": self.ensemble, "blend": self.blend,
                "derivative": self.derivative, "segments": self.segments, "shift": self.shift, "power": self.power,
                **finetune}

    def candidate_imagings(self, *, n_channels: int, n_timepoints: int, sr: float | None) -> list:
        """Views tried when the user leaves ``imaging=None`` (:func:`.space.candidate_imagings`).

        Examples
        --------
        >>> [s.name for s in Auto().candidate_imagings(n_channels=1, n_timepoints=16000, sr=16000.0)]
        ['spectrogram', 'mel', 'waveform', 'gaf', 'recurrence']
        """
        return space.candidate_imagings(n_timepoints=n_timepoints, sr=sr, derivative=self.derivative,
                                        segments=self.segments, n_channels=n_channels)

    def views_in_one_pass(self, n_views: int) -> int:
        """Auto embeds its candidate views one at a time; the model it keeps reads at most
        ``max_views`` views per head, two heads for an ensemble, :data:`.blend.PICKS` for a blend.

        Examples
        --------
        >>> Auto().views_in_one_pass(30), Auto(blend=True).views_in_one_pass(30), Auto().views_in_one_pass(2)
        (6, 15, 2)
        """
        heads = blend.PICKS if self.blend else 2 if self.ensemble else 1
        return min(n_views, self.max_views * heads)

    def channel_groups(self, n_channels: int, channel_mode: str) -> list:
        """With more than three channels and ``channel_mode="auto"``, one tiled picture and groups of
        three, both (:func:`.space.channel_groups`); a channel mode the user chose is kept.

        Examples
        --------
        >>> Auto().channel_groups(6, "auto"), Auto().channel_groups(3, "auto"), Auto().channel_groups(6, "tile")
        ([None, [0, 1, 2], [3, 4, 5]], [None], [None])
        """
        return space.channel_groups(n_channels, channel_mode)

    def reads(self, net) -> tuple[list, list | None, list, bool]:
        """:func:`.space.candidate_reads` of ``net`` with this strategy's ``features`` and ``pooling``."""
        return space.candidate_reads(net, features=self.features, pooling=self.pooling)

    def shift_for(self, net) -> float:
        """``shift``, or where it is None :func:`.space.default_shift` of ``net``."""
        return space.default_shift(net) if self.shift is None else float(self.shift)

    def power_for(self, net) -> float:
        """``power``, or where it is None :func:`.space.default_power` of ``net``."""
        return space.default_power(net) if self.power is None else float(self.power)

    def read_as_candidates(self, net):
        """``net``, set to read the series (:meth:`shift_for`) and their features (:meth:`power_for`)
        as every candidate, and the model kept, will."""
        net.set_shift(self.shift_for(net))
        net.set_power(self.power_for(net))
        return net

    def choose_backbone(self, build, X: np.ndarray) -> tuple[str, object, str]:
        """The first of :data:`.space.BACKBONES` whose pass over every candidate view fits
        :data:`.space.EMBEDDING_SHARE` of the frozen search's budget (:func:`.space.choose_backbone`),
        each timed reading the series as the candidates will (:meth:`read_as_candidates`)."""
        return space.choose_backbone(lambda name: self.read_as_candidates(build(name)), X,
                                     time_budget=self._frozen_budget(len(X)), reads=self.reads)

    def _frozen_budget(self, n_cases: int) -> float | None:
        """The budget of the frozen search: all of it, or without LP-FT's share from ``large_n`` cases."""
        if self.time_budget is None or n_cases < self.large_n:
            return self.time_budget
        return float(self.time_budget) * (1.0 - FINETUNE_SHARE)

    # ------------------------------------------------------------------ fitting
    def fit(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None, groups=None,
            warm_start=False, started=None):
        """Select on ``X``, ``y`` (training data only), then fit the chosen model; see :meth:`Strategy.fit`.

        ``warm_start`` (a later stage of a model given as ``init=``) is refused: the selection
        compares fresh heads on the candidate views, which would throw the earlier stage away.
        ``started`` (a ``time.perf_counter()`` reading; None: now) is when the budget began: the
        estimator passes the start of its own fit, so building the views and the backbone count.

        The history holds the chosen model's own (the head's C, or the fine-tune's epochs) and
        ``"selection"``: ``chosen``, ``cv_score``, ``cv_ci``, ``table`` (every candidate, with
        ``status``: scored, or why skipped), ``reason``, ``frozen_search_seconds``, ``images_embedded``;
        ``folds`` is 1 and ``n_holdout`` the held-out part's size where the chosen model was scored
        on a held-out part (``cv_ci`` is then Wilson's interval, or None for R²).
        """
        self._check()
        if warm_start:
            raise ParameterError("strategy 'auto' starts afresh; to continue from init=, use strategy='linear' "
                                 "(head only) or 'finetune'")
        started = time.perf_counter() if started is None else float(started)
        budget = math.inf if self.time_budget is None else float(self.time_budget)
        seed = int(random_state) if random_state is not None else int(np.random.SeedSequence().entropy % 2**31)
        show = bool(progress) or (progress is None and sys.stderr.isatty())
        say = (lambda text: print(text, file=sys.stderr, flush=True)) if show else (lambda text: None)

        def left() -> float:
            return budget - (time.perf_counter() - started)

        tunes = groups is None and getattr(getattr(net.backbone, "config", None), "trainable", True)
        kept_for_tuning = budget - self._frozen_budget(len(X)) if tunes and budget != math.inf else 0.0

        found = frozen_search(self, net, X, y, task=task, n_outputs=n_outputs, seed=seed, groups=groups,
                              batch_size=batch_size, budget=budget, kept_for_tuning=kept_for_tuning, left=left,
                              show=show, say=say)
        best, reason, rows, table, views = found.best, found.reason, found.rows, found.table, found.views
        embedded, n = views.embedded, len(X)
        searched = time.perf_counter() - started
        every_view = (net.imagers, list(net.view_names))  # before the chosen model keeps its own

        def become(row, head=True):  # net as ``row``'s frozen model (its head fitted on every case)
            net.set_views(*every_view)
            return keep_frozen(net, row["_candidate"], embedded, y, row, task=task, n_outputs=n_outputs,
                               chain=found.chain, config=self.get_config(), head=head)

        start, why = best, None
        if n >= self.large_n and groups is None:
            def plan(row):  # the epochs the fine-tune of ``row``'s model fits in the time left
                become(row, head=False)
                return epochs_that_fit(net, n, finetune=self.finetune, unfreeze=self.unfreeze, batch_size=batch_size,
                                       seconds=left())

            # Every round's rows: the finalists may all read several views, the singles then
            # scored on the subsample only.
            start, why = start_for_lp_ft(best, rows, finetune=self.finetune, plan=plan)
            views.complete(getattr(start["_candidate"], "views", ()))  # its head is fitted on every case
        history = become(start)
        if n >= self.large_n:
            tuned = lp_ft(net, X, y, start, embedded, finetune=self.finetune, unfreeze=self.unfreeze, task=task,
                          n_outputs=n_outputs, seed=seed, batch_size=batch_size, progress=progress, left=left,
                          table=table, groups=groups, baseline=best)
            if why:  # lp_ft appended its row last
                table[-1]["started_from"] = {"candidate": start["candidate"], "why": why}
            if tuned is not None:
                history, reason = tuned
            elif start is not best:
                history = become(best)  # the fine-tune lost: the best frozen model after all
        for row in table:  # what only the search needed: candidates, members, held-out outputs
            for key in [k for k in row if k.startswith("_")]:
                del row[key]
        chosen = history.pop("_chosen", best["candidate"])
        history["selection"] = {
            "chosen": chosen, "cv_score": best["cv_score"], "cv_ci": best["cv_ci"],
            "metric": "accuracy" if task == "classification" else "r2", "folds": len(found.folds), "seed": seed,
            "n_holdout": best.get("n_holdout"),
            "images_per_second": round(found.rate, 2), "time_budget": self.time_budget,
            "seconds": round(time.perf_counter() - started, 2), "frozen_search_seconds": round(searched, 2),
            "images_embedded": views.images, "table": table, "reason": reason,
        }
        say(f"auto chose {chosen}: {reason}")
        return history
