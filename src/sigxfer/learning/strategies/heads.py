"""Linear heads on frozen embeddings: block-wise standardisation, one fit, and cross-validated grids.

An embedding may be made of blocks of very different widths (the pooled maps of several depths,
several views). Each feature is standardised, then each block is scaled so that every block
carries the same total variance as the widest one: an L2-penalised head then sees no block as more
important merely because it has more features. A single block, or blocks of equal width, are left
at unit variance, which is the plain standardise-then-fit probe.

With more features than cases, heads are fitted in the span of the training cases
(:func:`row_space`): for an L2 penalty on the weights the optimum lies there, so the fit is the
same and costs the number of cases instead of the number of features.

Logistic heads are fitted with BLAS on one thread. Their products have as many columns as
classes, too thin for a second thread to pay for waking it: on the shipped audio clips (500
cases, 2,024 features, 10 classes) a head's 5-fold CV took 33 s on two threads and 3.6 s on one,
on 3,000 cases one fold 21 s against 8 s (BENCHMARKS.md).

The linear probe (:mod:`.linear`) and auto's selection (:mod:`.auto`) both fit through here, so
the head a selection scored is the head the final model gets.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression, Ridge
from threadpoolctl import ThreadpoolController

#: Regularisation grids: logistic ``C`` (inverse strength) and ridge ``alpha``.
C_RANGE = (1e-4, 1e2)
#: Grid values past the best whose held-out loss rose in a row before a logistic path stops.
PATIENCE = 2
ALPHA_RANGE = (1e-3, 1e5)

_threads: ThreadpoolController | None = None


def one_blas_thread():
    """A context in which BLAS runs on one thread (restored on exit); see the module's notes."""
    global _threads
    if _threads is None:
        _threads = ThreadpoolController()
    return _threads.limit(limits=1, user_api="blas")


def block_scaling(emb: np.ndarray, block_dims) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature centre and scale: ``z = (emb - mu) / scale`` is standardised block-wise.

    Parameters
    ----------
    emb : ndarray, shape (n_cases, sum(block_dims))
    block_dims : sequence of int
        Widths of the blocks, in the order of the columns.

    Returns
    -------
    mu, scale : ndarray, shape (sum(block_dims),)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> emb = rng.normal(size=(50, 5))
    >>> mu, scale = block_scaling(emb, [4, 1])
    >>> z = (emb - mu) / scale
    >>> round(float(z[:, :4].var(axis=0).sum()), 3), round(float(z[:, 4].var()), 3)
    (4.0, 4.0)
    """
    block_dims = [int(d) for d in block_dims]
    if sum(block_dims) != emb.shape[1]:
        raise ValueError(f"blocks {block_dims} do not add up to {emb.shape[1]} columns")
    mu = emb.mean(axis=0)
    sigma = emb.std(axis=0)
    sigma[sigma < 1e-8] = 1.0  # dead features: leave them at zero instead of dividing by 0
    widest = max(block_dims)
    weight = np.concatenate([np.full(d, np.sqrt(d / widest)) for d in block_dims])
    return mu, sigma * weight


def grid(task: str, n: int) -> np.ndarray:
    """``n`` log-spaced regularisation values: C for classification, alpha for regression, weakest last
    for C (so warm starts go from the simplest model up)."""
    lo, hi = C_RANGE if task == "classification" else ALPHA_RANGE
    return np.logspace(np.log10(lo), np.log10(hi), n)


def fit_linear(z: np.ndarray, y: np.ndarray, *, task: str, value: float, n_outputs: int,
               max_iter: int = 3000, model=None):
    """Fit one head on standardised features; returns ``(coef (n_outputs, d), intercept (n_outputs,), model)``.

    ``value`` is C (classification, logistic regression) or alpha (regression, ridge). Passing the
    previous ``model`` warm-starts a logistic fit, which makes a path over C cheap.
    """
    if task == "classification":
        if model is None:
            model = LogisticRegression(C=value, max_iter=max_iter, warm_start=True)
        model.set_params(C=value)
        with warnings.catch_warnings(), one_blas_thread():
            warnings.simplefilter("ignore")  # lbfgs convergence chatter on tiny folds
            model.fit(z, y)
        coef, intercept = model.coef_, model.intercept_
        if coef.shape[0] == 1 and n_outputs == 2:
            # Binary logistic regression has one logit; softmax([0, z]) equals sigmoid(z).
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        return coef, intercept, model
    model = Ridge(alpha=value).fit(z, y)
    return np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_), model


def row_space(z: np.ndarray) -> np.ndarray | None:
    """Orthonormal rows spanning the cases of ``z`` (n, d), shape (r, d), when d > n; else None.

    An L2-penalised linear model (logistic or ridge, intercept unpenalised) has its optimal weights
    in this span, so fitting on ``z @ basis.T`` and mapping back with ``coef @ basis`` is exact.

    Examples
    --------
    >>> z = np.random.default_rng(0).normal(size=(5, 40))
    >>> basis = row_space(z)
    >>> basis.shape, bool(np.allclose(z @ basis.T @ basis, z))
    ((5, 40), True)
    """
    n, d = z.shape
    if d <= n:
        return None
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    keep = s > s[0] * 1e-10 if len(s) and s[0] > 0 else np.zeros(len(s), dtype=bool)
    return vt[keep] if keep.any() else vt[:1]


def fit_head(emb: np.ndarray, y: np.ndarray, *, block_dims, task: str, value: float, n_outputs: int,
             max_iter: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, bias)`` of a head on raw embeddings: block scaling, one fit, folded back.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> emb, y = rng.normal(size=(20, 30)), np.arange(20) % 2
    >>> weight, bias = fit_head(emb, y, block_dims=[30], task="classification", value=1.0, n_outputs=2)
    >>> weight.shape, bias.shape
    ((2, 30), (2,))
    """
    mu, scale = block_scaling(emb, block_dims)
    z = (emb - mu) / scale
    basis = row_space(z)
    coef, intercept, _ = fit_linear(z if basis is None else z @ basis.T, y, task=task, value=value,
                                    n_outputs=n_outputs, max_iter=max_iter)
    return fold_into_head(coef if basis is None else coef @ basis, intercept, mu, scale)


def fold_into_head(coef: np.ndarray, intercept: np.ndarray, mu: np.ndarray, scale: np.ndarray):
    """Weights on raw embeddings from weights on ``z = (e - mu) / scale``:
    ``w.(e - mu)/s + b = (w/s).e + b - w.(mu/s)``."""
    return coef / scale, intercept - coef @ (mu / scale)


def _outputs(coef, intercept, z):
    return z @ coef.T + intercept


def _log_loss(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-case cross-entropy of softmax(logits)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y]


def holdout_score(outputs: np.ndarray, target: np.ndarray, task: str) -> float:
    """Accuracy of logits (classification) or mean R² of outputs (regression) on held-out cases.

    Examples
    --------
    >>> holdout_score(np.array([[0.0, 1.0], [2.0, 0.0]]), np.array([1, 1]), "classification")
    0.5
    """
    if task == "classification":
        return float(np.mean(outputs.argmax(axis=1) == target))
    target = target.reshape(len(target), -1)
    sse = ((outputs - target) ** 2).sum(axis=0)
    sst = np.maximum(((target - target.mean(axis=0)) ** 2).sum(axis=0), 1e-12)
    return float(np.mean(1 - sse / sst))


def cv_grid(emb: np.ndarray, y: np.ndarray, folds, *, block_dims, task: str, values: np.ndarray,
            n_outputs: int, max_iter: int = 3000) -> dict:
    """Cross-validated scores of a head for every regularisation value; the best value's summary.

    Scaling is fitted on each fold's training part only. Classification: the value with the
    lowest mean log-loss is chosen (steadier than accuracy on small folds) and its fold
    accuracies are reported; regression: the value with the highest mean R². Values go from the
    strongest penalty to the weakest, each fold warm-starting from the previous value's fit; a
    logistic path stops once the mean held-out loss has risen :data:`PATIENCE` times in a row past
    its best (the weakest penalties are the slowest fits and, past that point, the worst).

    Parameters
    ----------
    emb : ndarray, shape (n_cases, d)
        Embeddings of the training cases (never test data).
    y : ndarray
        Class indices (n_cases,) or standardised targets (n_cases, n_outputs).
    folds : list of (train_idx, test_idx)
        Index arrays into ``emb``.
    values : ndarray
        The grid (:func:`grid`).

    Returns
    -------
    dict
        ``value`` (chosen C or alpha), ``scores`` (per fold), ``mean``, ``std``, ``ci`` (95 %
        t-interval of the fold mean), ``log_loss`` (classification), ``by_value`` (mean score
        per grid value, None where the path stopped before it), ``n_fitted`` and ``oof`` (the
        chosen value's held-out outputs, logits or standardised targets, one row per case:
        :func:`out_of_fold`).
    """
    n_values = len(values)
    scores = np.zeros((len(folds), n_values))
    losses = np.full((len(folds), n_values), np.inf)
    outputs: list[list] = [[None] * len(folds) for _ in range(n_values)]  # held-out outputs per value and fold
    parts = []
    for train, test in folds:
        mu, scale = block_scaling(emb[train], block_dims)
        z_train, z_test = (emb[train] - mu) / scale, (emb[test] - mu) / scale
        basis = row_space(z_train)
        if basis is not None:
            z_train, z_test = z_train @ basis.T, z_test @ basis.T
        parts.append([z_train, z_test, None])
    best_loss, worse = np.inf, 0
    for v, value in enumerate(values):
        for f, (train, test) in enumerate(folds):
            z_train, z_test, model = parts[f]
            coef, intercept, model = fit_linear(z_train, y[train], task=task, value=float(value),
                                                n_outputs=n_outputs, max_iter=max_iter,
                                                model=model if task == "classification" else None)
            parts[f][2] = model
            out = _outputs(coef, intercept, z_test)
            outputs[v][f] = out
            scores[f, v] = holdout_score(out, y[test], task)
            if task == "classification":
                losses[f, v] = float(_log_loss(out, y[test]).mean())
        if task == "classification":
            # The weakest penalties cost the most iterations: once the mean held-out loss has
            # risen for PATIENCE values in a row past its best, the rest of the path is not fitted.
            mean_loss = float(losses[:, v].mean())
            best_loss, worse = (mean_loss, 0) if mean_loss < best_loss else (best_loss, worse + 1)
            if worse >= PATIENCE:
                scores[:, v + 1:] = np.nan
                break
    best = int(np.argmin(losses.mean(axis=0))) if task == "classification" else int(np.argmax(scores.mean(axis=0)))
    chosen = scores[:, best]
    result = {"value": float(values[best]), "scores": [float(s) for s in chosen],
              "mean": float(chosen.mean()), "std": float(chosen.std()),
              "ci": t_interval(chosen, bounded=task == "classification"),
              "by_value": [None if np.isnan(s) else float(s) for s in scores.mean(axis=0)],
              "n_fitted": int(np.isfinite(losses[0]).sum()) if task == "classification" else n_values}
    if task == "classification":
        result["log_loss"] = float(losses[:, best].mean())
    result["oof"] = out_of_fold(outputs[best], folds, len(emb))
    return result


def out_of_fold(outputs, folds, n_cases: int) -> np.ndarray:
    """One row of outputs per case from each fold's held-out outputs; NaN for a case no fold held out.

    Examples
    --------
    >>> out_of_fold([np.array([[1.0]]), np.array([[2.0]])], [([1], [0]), ([0], [2])], 3).ravel().tolist()
    [1.0, nan, 2.0]
    """
    oof = np.full((n_cases, outputs[0].shape[1]), np.nan)
    for (_, test), out in zip(folds, outputs):
        oof[test] = out
    return oof


def cv_average(parts, y: np.ndarray, folds, *, task: str, n_outputs: int, max_iter: int = 3000) -> dict:
    """Cross-validated scores of the average of several heads' outputs, each at its own value.

    ``parts`` holds ``(emb, block_dims, value)`` per head, all rows of the same training cases;
    on each fold every head is fitted (:func:`fit_head`) on the training part and the held-out
    outputs are averaged. The result has :func:`cv_grid`'s keys, ``value`` listing the heads' values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.arange(40) % 2
    >>> emb = rng.normal(size=(40, 8)) + 2 * y[:, None]
    >>> folds = [(np.arange(40)[np.arange(40) % 4 != f], np.arange(40)[np.arange(40) % 4 == f]) for f in range(4)]
    >>> result = cv_average([(emb[:, :4], [4], 1.0), (emb[:, 4:], [4], 0.1)], y, folds, task="classification", n_outputs=2)
    >>> result["value"], result["mean"] > 0.7
    ([1.0, 0.1], True)
    """
    outputs = []
    for train, test in folds:
        out = 0.0
        for emb, dims, value in parts:
            weight, bias = fit_head(emb[train], y[train], block_dims=dims, task=task, value=float(value),
                                    n_outputs=n_outputs, max_iter=max_iter)
            out = out + emb[test] @ weight.T + bias
        outputs.append(out / len(parts))
    return {"value": [float(value) for _, _, value in parts], **fold_summary(outputs, y, folds, task)}


def fold_summary(outputs, y: np.ndarray, folds, task: str) -> dict:
    """``scores`` (per fold), their ``mean``, ``std`` and ``ci``, and the mean fold ``log_loss``
    (classification) of each fold's held-out ``outputs``.

    Examples
    --------
    >>> fold_summary([np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])], np.array([1, 1]), [([1], [0]), ([0], [1])],
    ...              "classification")["scores"]
    [1.0, 0.0]
    """
    chosen = np.asarray([holdout_score(out, y[test], task) for out, (_, test) in zip(outputs, folds)])
    result = {"scores": [float(s) for s in chosen], "mean": float(chosen.mean()), "std": float(chosen.std()),
              "ci": t_interval(chosen, bounded=task == "classification")}
    if task == "classification":
        result["log_loss"] = float(np.mean([_log_loss(out, y[test]).mean() for out, (_, test) in zip(outputs, folds)]))
    return result


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (accuracy) of ``successes`` out of ``n``.

    Preferred to the normal approximation on small test sets: it never leaves [0, 1] and stays
    sensible at 0 and 100% (30/30 correct gives about 0.89–1.0, not 1.0 ± 0).

    Examples
    --------
    >>> low, high = wilson_interval(30, 30)
    >>> round(low, 3), high
    (0.886, 1.0)
    """
    if n == 0:
        return (float("nan"), float("nan"))
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; rounding would leave 0.9999999999999999.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def t_interval(scores, *, confidence: float = 0.95, bounded: bool = True) -> list[float]:
    """Student-t interval of the mean of fold scores (clipped to [0, 1] for accuracies).

    Folds share training cases, so this interval is somewhat narrower than the truth; it says how
    far apart candidates must be before a difference means anything.

    Examples
    --------
    >>> [round(v, 3) for v in t_interval([0.8, 0.9, 0.85, 0.9, 0.8])]
    [0.788, 0.912]
    """
    scores = np.asarray(scores, dtype=np.float64)
    mean = float(scores.mean())
    if len(scores) < 2:
        return [mean, mean]
    half = float(stats.t.ppf(0.5 + confidence / 2, len(scores) - 1) * scores.std(ddof=1) / np.sqrt(len(scores)))
    lo, hi = mean - half, mean + half
    return [max(0.0, lo), min(1.0, hi)] if bounded else [lo, hi]
