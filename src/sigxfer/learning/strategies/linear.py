"""The linear probe: a frozen backbone and a regularised linear model on its embeddings."""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

from sigxfer._checks import Interval, Options
from sigxfer.learning.cache import cached_embeddings, resolve_cache_dir
from sigxfer.learning.embeddings import extract_embeddings
from sigxfer.learning.network import MAX_SHIFT, MIN_POWER, POOLINGS, SignalNet
from sigxfer.learning.strategies.base import Strategy, register_strategy, set_linear_head
from sigxfer.learning.strategies.heads import block_scaling, fold_into_head, row_space

#: What the head of a linear probe reads: the last layer, or pooled maps of several depths.
FEATURES = ("last", "multi")


def set_net_features(net: SignalNet, features: str, pooling: str = "mean") -> None:
    """Point ``net``'s embedding at the last layer (``"last"``) or at several depths (``"multi"``).

    ``"multi"`` taps :meth:`~sigxfer.backbones.base.Backbone.feature_taps`: the end of each
    of the last six widths of the network, each map pooled (``pooling``) and standardised as its
    own block by the head.

    Examples
    --------
    >>> set_net_features(net, "multi")  # doctest: +SKIP
    >>> net.block_dims  # doctest: +SKIP
    [40, 80, 112, 192, 320, 1280]
    """
    net.set_features(net.backbone.feature_taps() if features == "multi" else None, pooling)


@register_strategy
@dataclasses.dataclass
class LinearProbe(Strategy):
    """Frozen backbone; a regularised linear model on its embeddings (the "linear probe").

    Embeddings are standardised (block by block when they hold several depths or views, see
    :mod:`~sigxfer.learning.strategies.heads`), then a logistic regression (classification) or
    ridge regression (regression) is fitted. With ``C=None`` the regularisation is chosen by stratified
    cross-validation on the training data only (log-loss for classification). Scaling and model are
    folded into one ``nn.Linear`` head, so prediction runs the same torch graph as every strategy.

    Parameters
    ----------
    features : {"last", "multi"}
        What the head reads: the backbone's last layer, or the globally pooled maps of several
        depths side by side (:func:`set_net_features`; for backbones that expose their stages).
    pooling : {"mean", "bands", "max"}
        How each map is pooled: its mean, the means of 3 bands along the image width (time
        for most imagings), keeping coarse position, or its maximum, keeping a local pattern at
        full strength (:func:`~sigxfer.learning.network.pool_map`).
    C : float, optional
        Inverse regularisation strength of the logistic regression; chosen by CV when None.
    Cs : int
        Number of values of C tried, log-spaced over 1e-4 .. 1e4.
    cv : int
        Folds of the cross-validation (reduced to the smallest class count when that is fewer).
    max_iter : int
        Iterations of the lbfgs solver.
    shift : float
        0: each series is read as it is; above 0 (e.g. 0.05), each view's features are the mean
        over the series and its copies moved that fraction of its length later and earlier
        (:attr:`~sigxfer.learning.network.SignalNet.shift`): steadier under small misalignments,
        three backbone passes per series at fit and at prediction.
    power : float
        1: the head reads the pooled features as they are; below 1 (down to 0.1), through a
        signed power (:func:`~sigxfer.learning.network.power_map`; 0.5, the square root, tames
        the few channels that fire strongly), at fit and at prediction.
    cache_dir : str, optional
        Folder of an on-disk embedding cache (:mod:`sigxfer.learning.cache`): the same signals,
        imager and backbone weights are embedded once, and re-fitting with another head, C or
        fold reads them back. ``None`` uses ``$SIGXFER_CACHE_DIR`` when set, else no cache.

    Examples
    --------
    >>> from sigxfer import TransferClassifier
    >>> model = TransferClassifier(strategy=LinearProbe(C=0.1))
    >>> LinearProbe(cv=1)
    Traceback (most recent call last):
    ...
    sigxfer.errors.ParameterError: strategy 'linear': cv=1 must be an integer >= 2
    """

    name: ClassVar[str] = "linear"
    features: str = "last"
    pooling: str = "mean"
    C: float | None = None
    Cs: int = 17
    cv: int = 5
    max_iter: int = 3000
    shift: float = 0.0
    power: float = 1.0
    cache_dir: str | None = None

    _parameter_constraints = {
        "features": Options(*FEATURES),
        "pooling": Options(*POOLINGS),
        "C": [None, Interval(float, 0, None, closed="neither")],
        "Cs": Interval(int, 1, None),
        "cv": Interval(int, 2, None),
        "max_iter": Interval(int, 1, None),
        "shift": Interval(float, 0, MAX_SHIFT, closed="left"),
        "power": Interval(float, MIN_POWER, 1, closed="both"),
        "cache_dir": [None, str, os.PathLike],
    }

    def _check_together(self) -> None:
        if self.cache_dir is not None:
            self.cache_dir = os.fspath(self.cache_dir)  # a Path would not survive the JSON model file

    def fit(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None, groups=None,
            warm_start=False):
        """Fit the head on the frozen embeddings of ``X``; see :meth:`Strategy.fit`.

        ``groups`` (one per case) keeps each group within one fold of the cross-validation of C.

        With ``warm_start`` (regression, a head of ``n_outputs`` outputs from an earlier stage) the
        ridge shrinks towards that head instead of towards zero: it fits the head's residuals on
        the embeddings centred and divided by one common scale (not per feature), the penalty
        chosen by leave-one-out among values up to 1e7 (which keeps the head as it was).
        Below three cases nothing can be chosen: the head only moves by the mean residual (one
        real case calibrates the earlier stage's offset). Classification refits the head afresh.
        """
        self._check()
        set_net_features(net, self.features, self.pooling)
        net.set_shift(self.shift)
        net.set_power(self.power)
        return self.fit_head(net, X, y, task=task, n_outputs=n_outputs, random_state=random_state,
                             batch_size=batch_size, progress=progress, groups=groups, warm_start=warm_start)

    def fit_head(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None,
                 groups=None, warm_start=False) -> dict:
        """:meth:`fit` on the features ``net`` reads now (its views, depths and pooling left as they are).

        For recipes that start from a probe, such as ``FineTune(head="probe")``.
        """
        cache_dir = resolve_cache_dir(self.cache_dir)
        record: dict = {}  # the extraction engine chosen by calibration, and its measured speed
        if cache_dir is None:
            emb = extract_embeddings(net, X, batch_size=batch_size, progress=progress, record=record)
            cache = "off"
        else:
            emb, hit = cached_embeddings(net, X, cache_dir=cache_dir, batch_size=batch_size, progress=progress,
                                         record=record)
            cache = "hit" if hit else "miss"
        emb = emb.astype(np.float64)
        mu, scale = block_scaling(emb, net.block_dims * net.n_views)
        z = (emb - mu) / scale
        basis = row_space(z)  # more features than cases: the same fit in the cases' span, far cheaper
        if basis is not None:
            z = z @ basis.T
        history: dict = {"strategy": self.get_config(), "n_train": int(len(X)), "embedding_cache": cache,
                         "views": list(net.view_names), "embedding_dim": int(net.embedding_dim)}
        if record:
            history["engine"] = record
        if task == "classification":
            coef, intercept = self._fit_logistic(z, y, n_outputs, random_state, history, groups)
        elif warm_start and (net.head.out_features, net.head.in_features) == (n_outputs, net.embedding_dim):
            prior_w = net.head.weight.detach().cpu().double().numpy()
            prior_b = net.head.bias.detach().cpu().double().numpy()
            centre = emb.mean(axis=0)
            # One scale for every feature: each feature's own spread over a handful of cases would
            # magnify the features that happen to barely vary among them (and blow up on new cases).
            common = float(np.sqrt(np.mean((emb - centre) ** 2))) or 1.0
            coef, intercept = self._fit_toward((emb - centre) / common, y - (emb @ prior_w.T + prior_b), history)
            set_linear_head(net, coef / common + prior_w, intercept - coef @ (centre / common) + prior_b)
            return history
        else:
            # Without groups, efficient leave-one-out; with them, folds that keep each group together.
            folds = None if groups is None else list(GroupKFold(n_splits=min(self.cv, len(np.unique(groups))))
                                                     .split(z, y, groups))
            with np.errstate(divide="ignore", invalid="ignore"):  # leave-one-out of one or two cases
                ridge = RidgeCV(alphas=np.logspace(-5, 5, 21), cv=folds).fit(z, y)
            coef = np.atleast_2d(ridge.coef_)
            intercept = np.atleast_1d(ridge.intercept_)
            history.update(alpha=float(ridge.alpha_), train_r2=float(ridge.score(z, y)) if len(z) > 1 else None)
        if basis is not None:
            coef = coef @ basis
        set_linear_head(net, *fold_into_head(coef, intercept, mu, scale))
        return history

    @staticmethod
    def _fit_toward(z, residual, history):
        """Ridge on an earlier head's residuals: (coef, intercept) of the correction, in z units."""
        residual = residual.reshape(len(z), -1)
        history["warm_start"] = True
        if len(z) < 3:
            history.update(alpha=None, note="fewer than 3 cases: the earlier head moved by the mean residual only")
            return np.zeros((residual.shape[1], z.shape[1])), residual.mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):  # leave-one-out of very few cases
            ridge = RidgeCV(alphas=np.logspace(-5, 7, 25)).fit(z, residual)
        history.update(alpha=float(ridge.alpha_))
        return np.atleast_2d(ridge.coef_), np.atleast_1d(ridge.intercept_)

    def _fit_logistic(self, z, y, n_outputs, random_state, history, groups=None):
        counts = np.bincount(y, minlength=n_outputs)
        folds = min(self.cv, int(counts.min()), len(np.unique(groups)) if groups is not None else self.cv)
        if self.C is None and folds >= 2:
            Cs = np.logspace(-4, 4, self.Cs)
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
            if groups is not None:
                splitter = list(StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=random_state)
                                .split(z, y, groups))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # lbfgs convergence chatter on tiny folds
                model = LogisticRegressionCV(Cs=Cs, cv=splitter, scoring="neg_log_loss",
                                             max_iter=self.max_iter).fit(z, y)
            C = float(np.atleast_1d(model.C_)[0])
            history.update(C=C, cv_folds=folds, cv_log_loss=float(-np.max(model.scores_[
                next(iter(model.scores_))].mean(axis=0))))
        else:
            C = 1.0 if self.C is None else float(self.C)
            if self.C is None:
                history["note"] = "too few cases per class for cross-validation; used C=1.0"
            model = LogisticRegression(C=C, max_iter=self.max_iter).fit(z, y)
            history.update(C=C)
        history["train_accuracy"] = float((model.predict(z) == y).mean())
        coef, intercept = model.coef_, model.intercept_
        if coef.shape[0] == 1 and n_outputs == 2:
            # Binary logistic regression has one logit; softmax([0, z]) equals sigmoid(z).
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        return coef, intercept
