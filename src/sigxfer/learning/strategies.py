"""Training strategies: how much of the network learns, and how.

A strategy is a small object holding its own parameters (``LinearProbe(C=0.1)``); estimators take
one, or its name, as ``strategy=``. ``fit`` trains the head (and possibly more) of a
:class:`~sigxfer.learning.network.SignalNet` in place and returns a history dict that travels in the
model file.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import os
import time
import warnings
from typing import ClassVar

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, RidgeCV
from sklearn.model_selection import StratifiedKFold

from sigxfer.errors import OutputExistsError, ParameterError
from sigxfer.learning.augment import Augmenter
from sigxfer.learning.cache import cached_embeddings, resolve_cache_dir, tensor_digest
from sigxfer.learning.callbacks import CheckpointWriter, EarlyStopping, ProgressBar, TensorBoardLogger
from sigxfer.learning.checkpoint import load_checkpoint, read_checkpoint_meta
from sigxfer.learning.domain import DOMAIN_THRESHOLD, domain_distance
from sigxfer.learning.embeddings import extract_embeddings
from sigxfer.learning.loop import LOSSES, Phase, class_weights, train, validation_split
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
    #: Whether the estimator should build the backbone with its pretrained weights (when its
    #: ``pretrained=True``); False for training from a random initialisation.
    uses_pretrained_weights: ClassVar[bool] = True

    def get_config(self) -> dict:
        """Name and parameters as plain JSON values (fields marked ``metadata={"config": False}`` left out)."""
        params = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)
                  if f.metadata.get("config", True)}
        return {"name": self.name, **params}

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
        Number of values of C tried, log-spaced over 1e-4 .. 1e4.
    cv : int
        Folds of the cross-validation (reduced to the smallest class count when that is fewer).
    max_iter : int
        Iterations of the lbfgs solver.
    cache_dir : str, optional
        Folder of an on-disk embedding cache (:mod:`sigxfer.learning.cache`): the same signals,
        imager and backbone weights are embedded once, and re-fitting with another head, C or
        fold reads them back. ``None`` uses ``$SIGXFER_CACHE_DIR`` when set, else no cache.
    """

    name: ClassVar[str] = "linear"
    C: float | None = None
    Cs: int = 17
    cv: int = 5
    max_iter: int = 3000
    cache_dir: str | None = None

    def __post_init__(self):
        if self.cache_dir is not None:
            self.cache_dir = os.fspath(self.cache_dir)  # a Path would not survive the JSON model file

    def fit(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None):
        cache_dir = resolve_cache_dir(self.cache_dir)
        if cache_dir is None:
            emb, cache = extract_embeddings(net, X, batch_size=batch_size, progress=progress), "off"
        else:
            emb, hit = cached_embeddings(net, X, cache_dir=cache_dir, batch_size=batch_size, progress=progress)
            cache = "hit" if hit else "miss"
        emb = emb.astype(np.float64)
        mu = emb.mean(axis=0)
        sigma = emb.std(axis=0)
        sigma[sigma < 1e-8] = 1.0  # dead features: leave them at zero instead of dividing by 0
        z = (emb - mu) / sigma
        history: dict = {"strategy": self.get_config(), "n_train": int(len(X)), "embedding_cache": cache}
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
            Cs = np.logspace(-4, 4, self.Cs)
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


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@register_strategy
@dataclasses.dataclass
class FineTune(Strategy):
    """Fine-tune the pretrained network: the new head first, then the last stages too (fastai's recipe).

    Phase "head" trains a freshly initialised head for ``head_epochs`` with the whole body frozen.
    Phase "body" then unfreezes the last ``unfreeze`` stages of ``backbone.stages()`` (or all of
    them) and trains them with the head for ``epochs``, the body at the lower rate
    ``lr * body_lr_factor``. Each phase uses AdamW with a linear warm-up then a cosine decay.
    Frozen stages keep their weights and their BatchNorm statistics (eval mode). A validation
    split, stratified, is taken from the training data only; the weights with the lowest
    validation loss are restored at the end, and a phase stops after ``patience`` epochs without
    improvement.

    Parameters
    ----------
    unfreeze : "all" or int
        Stages trained in phase "body": all of them, or the last ``k``.
    epochs : int
        Epochs of phase "body" (0 trains the head only).
    head_epochs : int
        Epochs of phase "head" (0 skips it).
    lr : float
        Peak learning rate of the head; the body gets ``lr * body_lr_factor``.
    body_lr_factor : float
        Discriminative rate of the unfrozen body, relative to ``lr``.
    weight_decay : float
        AdamW's decoupled weight decay, on weights only (not biases or normalisation scales).
    warmup_epochs : int
        Linear warm-up at the start of each phase (at most half of it).
    patience : int, optional
        Epochs without a lower validation loss before a phase stops; None never stops early.
    val_size : float
        Fraction of the training cases held out for validation (0: none; the last weights are kept).
    augment : dict, optional
        Training augmentation, e.g. ``{"time_shift": 0.1, "gain_db": 6, "snr_db": 20,
        "time_mask": 0.1, "freq_mask": 0.1}`` (see :class:`~sigxfer.learning.augment.Augmenter`).
    class_weight : None, "balanced" or list of float
        Per-class loss weights; "balanced" weighs classes by ``n / (n_classes * count)``.
    mixup : float
        Beta parameter of mixup (0.2-0.4 usual); 0 turns it off.
    loss : str, optional
        ``"cross_entropy"`` for classification; ``"mse"`` (default) or ``"huber"`` for regression.
    checkpoint_dir : str, optional
        Save a checkpoint (safetensors + JSON, :mod:`~sigxfer.learning.checkpoint`) after every
        epoch. A folder that already holds one is refused unless ``resume=True``.
    resume : bool
        Continue the run checkpointed in ``checkpoint_dir`` (same data and settings) from its
        last epoch; start afresh if the folder holds none.
    tensorboard_dir : str, optional
        Write TensorBoard logs there (needs the ``tensorboard`` package).
    callbacks : list
        Extra :class:`~sigxfer.learning.callbacks.Callback` objects (not saved in the model file).
    """

    name: ClassVar[str] = "finetune"
    frozen: ClassVar[bool] = False
    unfreeze: str | int = "all"
    epochs: int = 10
    head_epochs: int = 2
    lr: float = 1e-3
    body_lr_factor: float = 0.1
    weight_decay: float = 0.01
    warmup_epochs: int = 1
    patience: int | None = 3
    val_size: float = 0.2
    augment: dict | None = None
    class_weight: str | list | None = None
    mixup: float = 0.0
    loss: str | None = None
    checkpoint_dir: str | None = None
    resume: bool = False
    tensorboard_dir: str | None = None
    callbacks: list = dataclasses.field(default_factory=list, repr=False, compare=False,
                                        metadata={"config": False})

    def __post_init__(self):
        self._check()

    def _check(self) -> None:
        if not (self.unfreeze == "all" or (_is_int(self.unfreeze) and self.unfreeze >= 1)):
            raise ParameterError(f"unfreeze={self.unfreeze!r} must be 'all' or a positive number of stages")
        for key in ("epochs", "head_epochs", "warmup_epochs"):
            value = getattr(self, key)
            if not _is_int(value) or value < 0:
                raise ParameterError(f"{key}={value!r} must be a non-negative integer")
        if self.epochs + self.head_epochs < 1:
            raise ParameterError("epochs and head_epochs are both 0: nothing would train; set epochs >= 1")
        for key in ("lr", "body_lr_factor"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
                raise ParameterError(f"{key}={value!r} must be a positive number")
        if not isinstance(self.weight_decay, (int, float)) or not 0 <= self.weight_decay < np.inf:
            raise ParameterError(f"weight_decay={self.weight_decay!r} must be a number >= 0")
        if self.patience is not None and (not _is_int(self.patience) or self.patience < 1):
            raise ParameterError(f"patience={self.patience!r} must be a positive integer, or None to never stop early")
        if not isinstance(self.val_size, (int, float)) or not 0 <= self.val_size < 1:
            raise ParameterError(f"val_size={self.val_size!r} must be a fraction in [0, 1), e.g. 0.2")
        Augmenter.from_config(self.augment)
        if not (self.class_weight in (None, "balanced") or isinstance(self.class_weight, (list, tuple))):
            raise ParameterError(
                f"class_weight={self.class_weight!r} must be None, 'balanced' or a list, one weight per class"
            )
        if not isinstance(self.mixup, (int, float)) or not 0 <= self.mixup < np.inf:
            raise ParameterError(f"mixup={self.mixup!r} must be >= 0 (0 turns mixup off)")
        if self.loss is not None and self.loss not in {name for names in LOSSES.values() for name in names}:
            raise ParameterError(f"loss={self.loss!r} is not known; use 'cross_entropy', 'mse' or 'huber'")
        for key in ("checkpoint_dir", "tensorboard_dir"):
            if getattr(self, key) is not None:
                setattr(self, key, os.fspath(getattr(self, key)))  # a Path would not survive the model file
        if self.resume and self.checkpoint_dir is None:
            raise ParameterError("resume=True needs checkpoint_dir, the folder of the run to continue")

    # ------------------------------------------------------------------ recipe
    def phases(self, net: SignalNet) -> tuple[list[Phase], int]:
        """The head and body phases for ``net``, and how many stages the body phase trains."""
        backbone = net.backbone
        stages = list(backbone.stages())
        head = [backbone.classifier]
        if isinstance(getattr(backbone, "dropout", None), torch.nn.Module):
            head.append(backbone.dropout)  # no weights, but it must be in training mode
        if self.unfreeze == "all":
            body, n_unfrozen = [backbone], len(stages)
        else:
            if self.unfreeze > len(stages):
                raise ParameterError(
                    f"unfreeze={self.unfreeze} but backbone {getattr(backbone.config, 'name', '?')!r} has "
                    f"{len(stages)} stages; use at most {len(stages)}, or 'all'"
                )
            body, n_unfrozen = stages[-self.unfreeze:], int(self.unfreeze)
        phases = []
        if self.head_epochs:
            phases.append(Phase("head", self.head_epochs, [(head, self.lr)], self.warmup_epochs))
        if self.epochs:
            phases.append(Phase("body", self.epochs, [(head, self.lr), (body, self.lr * self.body_lr_factor)],
                                self.warmup_epochs))
        return phases, n_unfrozen

    def _run_config(self) -> dict:
        """Settings that change the result (what a checkpoint must agree with)."""
        config = self.get_config()
        for key in ("checkpoint_dir", "resume", "tensorboard_dir"):
            config.pop(key, None)
        return config

    def _fingerprint(self, net, X, y, *, task, seed, batch_size) -> str:
        h = hashlib.sha256()
        h.update(json.dumps({"config": self._run_config(), "task": task, "seed": int(seed),
                             "batch_size": int(batch_size), "shape": list(X.shape),
                             "weights": tensor_digest(net.state_dict())}, sort_keys=True, default=str).encode())
        h.update(np.ascontiguousarray(X).tobytes())
        h.update(np.ascontiguousarray(y).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ fitting
    def fit(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None):
        self._check()
        started = time.perf_counter()
        meta = read_checkpoint_meta(self.checkpoint_dir) if self.checkpoint_dir else None
        if meta is not None and not self.resume:
            raise OutputExistsError(
                f"{self.checkpoint_dir} holds a checkpoint of an earlier run; pass resume=True to continue "
                "it, or choose an empty checkpoint_dir"
            )
        if random_state is not None:
            seed = int(random_state)
        elif meta is not None:
            seed = int(meta["seed"])  # a resumed run draws what the interrupted one drew
        else:
            seed = int(np.random.SeedSequence().entropy % 2**31)
        loss = self.loss or ("cross_entropy" if task == "classification" else "mse")
        if loss not in LOSSES[task]:
            raise ParameterError(f"loss={loss!r} does not fit {task}; use one of {LOSSES[task]}")
        metric = "accuracy" if task == "classification" else "r2"
        logger = TensorBoardLogger(self.tensorboard_dir, metric=metric) if self.tensorboard_dir else None
        train_idx, val_idx, note = validation_split(y, self.val_size, task=task, seed=seed)
        weights = None
        if task == "classification":
            weights = class_weights(y[train_idx], n_outputs, self.class_weight)
        torch.manual_seed(seed)
        net.backbone.reset_classifier(n_outputs)
        phases, n_unfrozen = self.phases(net)
        callbacks = [ProgressBar(progress, metric="acc" if task == "classification" else "r2",
                                 total_epochs=sum(p.epochs for p in phases))]
        if len(val_idx) and self.patience is not None:
            callbacks.append(EarlyStopping(self.patience))
        state, resumed_from = None, None
        if self.checkpoint_dir:
            fingerprint = self._fingerprint(net, X, y, task=task, seed=seed, batch_size=batch_size)
            if meta is not None:
                state = load_checkpoint(self.checkpoint_dir, net, fingerprint=fingerprint)
                resumed_from = state.epoch
            callbacks.append(CheckpointWriter(self.checkpoint_dir, fingerprint=fingerprint, seed=seed))
        if logger is not None:
            callbacks.append(logger)
        state = train(net, X[train_idx], y[train_idx], phases=phases, task=task,
                      X_val=X[val_idx] if len(val_idx) else None, y_val=y[val_idx] if len(val_idx) else None,
                      batch_size=batch_size, weight_decay=self.weight_decay, loss=loss, weights=weights,
                      augmenter=Augmenter.from_config(self.augment), mixup=float(self.mixup), seed=seed,
                      callbacks=[*callbacks, *self.callbacks], state=state)
        history = {
            "strategy": self.get_config(), "n_train": int(len(X)), "n_val": int(len(val_idx)), "seed": seed,
            "loss": loss, "val_metric_name": metric, "monitor": "val_loss",
            "n_stages": len(list(net.backbone.stages())), "unfrozen_stages": n_unfrozen,
            "epochs": state.history, "best_epoch": state.best_epoch, "stopped_early": bool(state.stopped_phases),
            "phases": [{"phase": p.name, "planned_epochs": p.epochs,
                        "epochs_run": sum(r["phase"] == p.name for r in state.history),
                        "stopped_early": p.name in state.stopped_phases} for p in phases],
            "train_seconds": round(time.perf_counter() - started, 2),
        }
        if weights is not None:
            history["class_weights"] = [float(w) for w in weights]
        if note:
            history["note"] = note
        if resumed_from is not None:
            history["resumed_from_epoch"] = resumed_from
        return history


@register_strategy
@dataclasses.dataclass
class Scratch(FineTune):
    """Train the whole network from a random initialisation: the "no transfer" baseline of seed 002.

    The same network, loop and options as :class:`FineTune`, with every stage trained at ``lr``
    from the first epoch. The estimator builds the backbone without its pretrained weights for
    this strategy (:attr:`Strategy.uses_pretrained_weights` is False); BatchNorm statistics are
    learned in training. Defaults differ from FineTune's: more epochs, no head phase, equal rates.
    """

    name: ClassVar[str] = "scratch"
    uses_pretrained_weights: ClassVar[bool] = False
    unfreeze: str | int = "all"
    epochs: int = 30
    head_epochs: int = 0
    lr: float = 1e-3
    body_lr_factor: float = 1.0
    warmup_epochs: int = 2
    patience: int | None = 5

    def _check(self) -> None:
        if self.unfreeze != "all":
            raise ParameterError(f"strategy 'scratch' trains every stage; unfreeze={self.unfreeze!r} must be 'all'")
        super()._check()


#: Training-set sizes of :class:`Auto`'s rule: below SMALL_N nothing but a head is fitted, from
#: LARGE_N on a far domain gets the whole network fine-tuned.
SMALL_N = 100
LARGE_N = 1000


@register_strategy
@dataclasses.dataclass
class Auto(FineTune):
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

    The other parameters are :class:`FineTune`'s and apply when fine-tuning is chosen. The choice
    and its reason go to ``history["auto"]``. The distance compares with pretrained statistics:
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
    """

    name: ClassVar[str] = "auto"
    unfreeze: int | None = None
    small_n: int = SMALL_N
    large_n: int = LARGE_N
    distance_threshold: float = DOMAIN_THRESHOLD
    n_images: int = 32

    def _check(self) -> None:
        if self.unfreeze is not None and not (_is_int(self.unfreeze) and self.unfreeze >= 1):
            raise ParameterError(
                f"strategy 'auto': unfreeze={self.unfreeze!r} must be None or a positive number of stages"
            )
        if not (_is_int(self.small_n) and _is_int(self.large_n) and 0 <= self.small_n <= self.large_n):
            raise ParameterError(
                f"small_n={self.small_n!r} and large_n={self.large_n!r} must be integers, 0 <= small_n <= large_n"
            )
        if not _is_int(self.n_images) or self.n_images < 1:
            raise ParameterError(f"n_images={self.n_images!r} must be a positive integer")
        unfreeze, self.unfreeze = self.unfreeze, "all"  # FineTune's checks for everything else
        try:
            super()._check()
        finally:
            self.unfreeze = unfreeze

    def choose(self, n_train: int, distance: float, n_stages: int) -> dict:
        """The rule: ``{"chosen": "linear" | "finetune-partial" | "finetune-all", "unfreeze": ..., "reason": ...}``."""
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
        """Domain distance of a seeded sample of ``n_images`` training signals, as images."""
        rng = np.random.default_rng(random_state)
        pick = np.sort(rng.choice(len(X), size=min(len(X), self.n_images), replace=False))
        device = next(net.parameters()).device
        net.eval()
        batches = (net.imager(torch.as_tensor(X[pick[i:i + batch_size]], device=device))
                   for i in range(0, len(pick), batch_size))
        return domain_distance(net.backbone, batches)

    def fit(self, net, X, y, *, task, n_outputs, random_state=None, batch_size=32, progress=None):
        self._check()
        n_stages = len(list(net.backbone.stages()))
        distance = self.measure_distance(net, X, random_state=random_state, batch_size=batch_size)
        decision = self.choose(len(X), distance, n_stages)
        if decision["chosen"] == "linear":
            strategy = LinearProbe()
        else:
            params = {f.name: getattr(self, f.name) for f in dataclasses.fields(FineTune)}
            strategy = FineTune(**{**params, "unfreeze": decision["unfreeze"]})
        history = strategy.fit(net, X, y, task=task, n_outputs=n_outputs, random_state=random_state,
                               batch_size=batch_size, progress=progress)
        history["auto"] = {**decision, "n_train": int(len(X)),
                           "domain_distance": float(distance) if np.isfinite(distance) else None,
                           "distance_threshold": self.distance_threshold, "strategy": strategy.get_config()}
        return history
