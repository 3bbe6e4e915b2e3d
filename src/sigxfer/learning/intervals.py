"""Prediction intervals for regression: CV+ of a ridge head on the fitted network's embeddings.

After a regressor is fitted, its body is frozen and the training cases are embedded once. K ridge
heads are fitted, each without one fold of the cases (K = n, i.e. the jackknife, up to
:data:`MAX_FOLDS` cases; K = :data:`MAX_FOLDS` above), and every training case keeps its
out-of-fold residual ``R_i = |y_i - mu_{-k(i)}(x_i)|``. The interval for a new case ``x`` is CV+
(Barber, Candès, Ramdas and Tibshirani 2021, "Predictive inference with the jackknife+"):

    low  = the floor(alpha (n + 1))-th smallest of  mu_{-k(i)}(x) - R_i
    high = the ceil((1 - alpha)(n + 1))-th smallest of  mu_{-k(i)}(x) + R_i

It covers the truth with probability at least ``1 - 2 alpha`` for exchangeable data whatever
the distribution (about ``1 - alpha`` in practice). When ``n`` is too small for that rank to exist
(``ceil((1 - alpha)(n + 1)) > n``: fewer than 9 cases at ``alpha = 0.1``, a single case at any
alpha) the bound is infinite: from so few cases no finite interval can be promised, and
saying so is the point.

The guarantee needs the embeddings not to have been trained on the same cases: it holds for the
linear probe and for a body fitted in an earlier stage (``init=`` with ``strategy="linear"``). A
body fine-tuned on the training cases has seen them, so its residuals are optimistic and the
intervals too narrow. Everything here is linear in the embeddings, so the K heads are stored as
weights (``(K, n_outputs, d)``) in the model file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sigxfer.errors import ParameterError

__all__ = ["IntervalHeads", "fit_interval_heads", "head_prior", "MAX_FOLDS"]

#: Folds of CV+; with up to this many training cases every case is its own fold (jackknife+).
MAX_FOLDS = 20
_ALPHAS = np.logspace(-3, 5, 17)
# Towards a prior head, a very large penalty (keep the prior) must be among the choices.
_ALPHAS_TOWARD = np.logspace(-3, 7, 21)
_CHUNK = 256


def head_prior(start, n_outputs: int):
    """``init``'s head as ``(weight, bias)`` arrays, when it predicts ``n_outputs`` targets; else None.

    It was fitted on other data than this fit's cases, so shrinking towards it keeps CV+ honest.
    """
    if start is None or start.net_.head.out_features != n_outputs:
        return None
    return tuple(p.detach().cpu().double().numpy() for p in (start.net_.head.weight, start.net_.head.bias))


@dataclass
class IntervalHeads:
    """The K out-of-fold heads and every training case's residual (standardised target units).

    Attributes
    ----------
    weight : ndarray, shape (K, n_outputs, d)
    bias : ndarray, shape (K, n_outputs)
    residual : ndarray, shape (n, n_outputs)
        ``|y_i - mu_{-k(i)}(x_i)|`` of each training case.
    fold : ndarray of int, shape (n,)
        The fold ``k(i)`` that left case ``i`` out.
    alpha_ridge : float
        The ridge penalty of every head (chosen by leave-one-out on all cases).
    """

    weight: np.ndarray
    bias: np.ndarray
    residual: np.ndarray
    fold: np.ndarray
    alpha_ridge: float

    def tensors(self) -> dict:
        """As float32/int64 arrays named for the model file."""
        return {"interval.weight": self.weight.astype(np.float32), "interval.bias": self.bias.astype(np.float32),
                "interval.residual": self.residual.astype(np.float32), "interval.fold": self.fold.astype(np.int64)}

    @classmethod
    def from_tensors(cls, tensors: dict, alpha_ridge: float) -> IntervalHeads:
        get = lambda key: np.asarray(tensors[key])  # noqa: E731
        return cls(get("interval.weight").astype(np.float64), get("interval.bias").astype(np.float64),
                   get("interval.residual").astype(np.float64), get("interval.fold").astype(np.int64),
                   float(alpha_ridge))

    def bounds(self, embeddings: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """CV+ bounds for embeddings (m, d): two arrays (m, n_outputs), standardised units.

        Examples
        --------
        >>> heads = fit_interval_heads(np.arange(30.0).reshape(-1, 1), np.arange(30.0).reshape(-1, 1))
        >>> low, high = heads.bounds(np.array([[10.0]]), 0.1)
        >>> bool(low[0, 0] <= 10.0 <= high[0, 0])
        True
        """
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
            raise ParameterError(f"alpha={alpha!r} must be a number in (0, 1), e.g. 0.1 for 90% intervals")
        n = len(self.fold)
        lo_rank = math.floor(alpha * (n + 1))  # 1-based ranks; 0 or n + 1 mean no finite bound
        hi_rank = math.ceil((1.0 - alpha) * (n + 1))
        m, n_outputs = len(embeddings), self.weight.shape[1]
        low = np.full((m, n_outputs), -np.inf)
        high = np.full((m, n_outputs), np.inf)
        if n == 0 or self.weight.shape[0] == 0:
            return low, high
        for start in range(0, m, _CHUNK):  # (chunk, n, n_outputs) at a time, whatever m is
            rows = slice(start, start + _CHUNK)
            # mu_{-k}(x) for every fold, then each training case's fold.
            per_fold = np.einsum("md,kod->mko", embeddings[rows], self.weight) + self.bias[None]
            mu = per_fold[:, self.fold, :]
            if lo_rank >= 1:
                low[rows] = np.sort(mu - self.residual[None], axis=1)[:, lo_rank - 1, :]
            if hi_rank <= n:
                high[rows] = np.sort(mu + self.residual[None], axis=1)[:, hi_rank - 1, :]
        return low, high


def fit_interval_heads(embeddings: np.ndarray, y: np.ndarray, *, prior=None,
                       random_state: int | None = 0) -> IntervalHeads:
    """CV+ heads on training embeddings (n, d) and standardised targets (n, n_outputs).

    Embeddings are standardised with their mean and spread over all cases (no labels used), then
    each fold's ridge is folded back into weights on the raw embeddings. ``prior``, a head
    ``(weight (n_outputs, d), bias (n_outputs,))`` fitted on other data (an earlier stage's,
    with ``init=``), makes every ridge shrink towards it instead of towards zero, as the linear
    probe does then: the heads are that prior plus a ridge fit of its residuals, on embeddings
    divided by one common scale rather than each feature's own spread.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> e = rng.normal(size=(40, 3))
    >>> heads = fit_interval_heads(e, e[:, :1] + 0.1 * rng.normal(size=(40, 1)))
    >>> heads.weight.shape, heads.residual.shape
    ((20, 1, 3), (40, 1))
    """
    from sklearn.linear_model import Ridge, RidgeCV

    e = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(len(e), -1)
    n, d = e.shape
    n_outputs = y.shape[1]
    if n < 2:
        # Nothing can be left out: no residual, so no finite interval (bounds() gives +-inf).
        return IntervalHeads(np.zeros((0, n_outputs, d)), np.zeros((0, n_outputs)), np.zeros((n, n_outputs)),
                             np.zeros(n, dtype=np.int64), float("nan"))
    prior_w, prior_b = ((np.zeros((n_outputs, d)), np.zeros(n_outputs)) if prior is None
                        else (np.asarray(prior[0], dtype=np.float64), np.asarray(prior[1], dtype=np.float64)))
    y = y - (e @ prior_w.T + prior_b)  # from here on: what the ridge heads add to the prior
    mu, sigma = e.mean(axis=0), e.std(axis=0)
    sigma[sigma < 1e-8] = 1.0
    if prior is not None:  # as the linear probe towards a prior: one scale for every feature
        sigma = np.full(d, float(np.sqrt(np.mean((e - mu) ** 2))) or 1.0)
    z = (e - mu) / sigma
    alphas = _ALPHAS if prior is None else _ALPHAS_TOWARD
    with np.errstate(divide="ignore", invalid="ignore"):  # leave-one-out of very few cases
        alpha_ridge = float(RidgeCV(alphas=alphas).fit(z, y).alpha_) if n >= 3 else float(alphas[-1])
    k = min(n, MAX_FOLDS)
    fold = np.random.default_rng(random_state).permutation(np.arange(n) % k)
    weight, bias = np.zeros((k, n_outputs, d)), np.zeros((k, n_outputs))
    residual = np.zeros((n, n_outputs))
    for f in range(k):
        out = fold == f
        ridge = Ridge(alpha=alpha_ridge).fit(z[~out], y[~out])
        coef = np.atleast_2d(ridge.coef_).reshape(n_outputs, d)
        weight[f] = coef / sigma
        bias[f] = np.atleast_1d(ridge.intercept_) - coef @ (mu / sigma)
        residual[out] = np.abs(y[out] - (e[out] @ weight[f].T + bias[f]))
        weight[f] += prior_w
        bias[f] += prior_b
    return IntervalHeads(weight, bias, residual, fold.astype(np.int64), alpha_ridge)
