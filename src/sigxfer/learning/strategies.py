"""Training strategies: how much of the network learns, and how.

A strategy is a small object holding its own parameters (``LinearProbe(C=0.1)``); estimators take
one, or its name, as ``strategy=``. ``fit`` trains the head (and possibly more) of a
:class:`~sigxfer.learning.network.SignalNet` in place and returns a history dict that travels in the
model file.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import ClassVar

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
from sklearn.model_selection import StratifiedKFold

from sigxfer.errors import ParameterError
from sigxfer.learning.embeddings import extract_embeddings
from sigxfer.learning.network import SignalNet

_STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(cls):
    """Class decorator adding a strategy under ``cls.name``."""
    _STRATEGIES[cls.name] = cls
    return cls


def list_strategies() -> list[str]:
    return sorted(_STRATEGIES)


def resolve_strategy(strategy) -> Strategy:
    """A strategy object from a name, a config dict (``{"name": ..., **params}``) or an object."""
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
    """Base class. Subclasses are dataclasses whose fields are their parameters."""

    name: ClassVar[str] = ""
    #: Whether the backbone stays frozen (then embeddings can be computed once and cached).
    frozen: ClassVar[bool] = True

    def get_config(self) -> dict:
        """Name and parameters as plain JSON values."""
        return {"name": self.name, **dataclasses.asdict(self)}

    def fit(self, net: SignalNet, X: np.ndarray, y: np.ndarray, *, task: str, n_outputs: int,
            random_state: int | None = None, batch_size: int = 32, progress: bool | None = None) -> dict:
        """Train ``net`` in place on signals ``X`` and targets ``y``; return the history.

        ``y`` holds class indices (``task="classification"``) or standardised targets of shape
        (n_cases, n_outputs) (``task="regression"``).
        """
        raise NotImplementedError


def set_linear_head(net: SignalNet, weight: np.ndarray, bias: np.ndarray) -> None:
    """Replace the backbone's classifier by a linear layer with the given weights."""
    net.backbone.reset_classifier(weight.shape[0])
    with torch.no_grad():
        net.backbone.classifier.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        net.backbone.classifier.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))


@register_strategy
@dataclasses.dataclass
class LinearProbe(Strategy):
    """Frozen backbone; a regularised linear model on its embeddings (the "linear probe").

    Embeddings are standardised, then a logistic regression (classification) or ridge regression
    (regression) is fitted. With ``C=None`` the regularisation is chosen by stratified
    cross-validation on the training data only (log-loss for classification). Scaling and model are
    folded into one ``nn.Linear`` head, so prediction runs the same torch graph as every strategy.

    Parameters
    ----------
    C : float, optional
        Inverse regularisation strength of the logistic regression; chosen by CV when None.
    Cs : int
        Number of values of C tried, log-spaced over 1e-4 .. 1e2.
    cv : int
        Folds of the cross-validation (reduced to the smallest class count when that is fewer).
    max_iter : int
        Iterations of the lbfgs solver.
    """

    name: ClassVar[str] = "linear"
    C: float | None = None
    Cs: int = 13
    cv: int = 5
    max_iter: int = 3000

    def fit(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None):
        emb = extract_embeddings(net, X, batch_size=batch_size, progress=progress).astype(np.float64)
        mu = emb.mean(axis=0)
        sigma = emb.std(axis=0)
        sigma[sigma < 1e-8] = 1.0  # dead features: leave them at zero instead of dividing by 0
        z = (emb - mu) / sigma
        history: dict = {"strategy": self.get_config(), "n_train": int(len(X))}
        if task == "classification":
            coef, intercept = self._fit_logistic(z, y, n_outputs, random_state, history)
        else:
            ridge = RidgeCV(alphas=np.logspace(-5, 5, 21)).fit(z, y)
            coef = np.atleast_2d(ridge.coef_)
            intercept = np.atleast_1d(ridge.intercept_)
            history.update(alpha=float(ridge.alpha_), train_r2=float(ridge.score(z, y)))
        # Fold the standardisation into the layer: w.(e - mu)/sigma + b = (w/sigma).e + b - w.(mu/sigma)
        weight = coef / sigma
        bias = intercept - coef @ (mu / sigma)
        set_linear_head(net, weight, bias)
        return history

    def _fit_logistic(self, z, y, n_outputs, random_state, history):
        counts = np.bincount(y, minlength=n_outputs)
        folds = min(self.cv, int(counts.min()))
        if self.C is None and folds >= 2:
            Cs = np.logspace(-4, 2, self.Cs)
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
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
