"""The classic alternatives a transfer model is compared against.

Each is a small scikit-learn estimator on signals shaped (n_cases, n_channels, n_timepoints), so the
comparison runs every contender through the same ``fit(X, y)`` / ``predict`` calls on the same splits:

- :class:`PixelNaiveBayes` / :class:`PixelRidge`: the picture's raw pixels, no network at all;
- :class:`EmbeddingForest`: a random forest on frozen embeddings of the pretrained CNN (features
  fixed, a classic learner on top);
- :class:`MiniRocket`: aeon's MiniRocket, a strong time-series classifier that needs no images.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from sigxfer._checks import as_signals
from sigxfer.errors import NotFittedError, ParameterError


def _as_array(X) -> np.ndarray:
    return as_signals(X).X


def _fit_imagers(X, *, imaging, sr, size, channel_mode, batch_size, backbone=None) -> list:
    """Fitted imagers: one, or with ``channel_mode="groups"`` one per group of three channels."""
    from sigxfer.imaging.resolve import build_imager, channel_groups, resolve_imaging

    stats = {}
    if backbone is not None:
        from sigxfer.backbones import get_backbone_config

        config = get_backbone_config(backbone)
        stats = {"mean": config.mean, "std": config.std}
        size = size or config.input_size
    spec = resolve_imaging(imaging)[0]
    return [build_imager(spec, sr=sr, n_timepoints=X.shape[-1], size=size, channel_mode=channel_mode, channels=group,
                         **stats)._fit(torch.from_numpy(X), batch_size=batch_size)
            for group in channel_groups(X.shape[1], channel_mode)]


class _PixelBase(BaseEstimator):
    def __init__(self, *, imaging="spectrogram", sr: float | None = None, image_size: int = 64, channel_mode: str = "auto",
                 batch_size: int = 64):
        self.imaging = imaging
        self.sr = sr
        self.image_size = image_size
        self.channel_mode = channel_mode
        self.batch_size = batch_size

    @torch.no_grad()
    def _pixels(self, X) -> np.ndarray:
        arr = _as_array(X)
        batches = (torch.as_tensor(arr[i:i + self.batch_size]) for i in range(0, len(arr), self.batch_size))
        out = [torch.cat([imager.pictures(x).flatten(1) for imager in self.imagers_], dim=1).numpy() for x in batches]
        return np.concatenate(out).astype(np.float64)

    def fit(self, X, y):
        arr = _as_array(X)
        self.imagers_ = _fit_imagers(arr, imaging=self.imaging,
                                     sr=getattr(X, "sr", None) or self.sr, size=self.image_size,
                                     channel_mode=self.channel_mode, batch_size=self.batch_size)
        self.imager_ = self.imagers_[0]
        self.model_ = self._make_model().fit(self._pixels(arr), np.asarray(y))
        return self

    def _check(self):
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def predict(self, X):
        self._check()
        return self.model_.predict(self._pixels(X))


class PixelNaiveBayes(ClassifierMixin, _PixelBase):
    """Gaussian naive Bayes on the raw pixels of each signal's picture (seed 002's "raw pixels").

    Parameters
    ----------
    imaging, sr, channel_mode
        As for :class:`~sigxfer.TransferClassifier`; the scale is fitted on the training signals.
    image_size : int
        Picture side in pixels; 64 keeps 3 x 64 x 64 = 12,288 features (a 224-pixel picture would
        give 150,528 nearly redundant ones, with the same verdict at 12 times the memory).
    batch_size : int
        Signals imaged at a time.

    Examples
    --------
    >>> from sigxfer import make_devices
    >>> signals = make_devices(6, seed=0)
    >>> PixelNaiveBayes(imaging="spectrum", image_size=16).fit(signals, signals.y).predict(signals[:2]).shape
    (2,)
    """

    def _make_model(self):
        from sklearn.naive_bayes import GaussianNB

        return GaussianNB()

    @property
    def classes_(self):
        self._check()
        return self.model_.classes_

    def predict_proba(self, X):
        self._check()
        return self.model_.predict_proba(self._pixels(X))


class PixelRidge(RegressorMixin, _PixelBase):
    """Ridge regression (alpha by efficient leave-one-out) on the raw pixels of each picture.

    Parameters as for :class:`PixelNaiveBayes`.

    Examples
    --------
    >>> from sigxfer import make_devices
    >>> signals = make_devices(6, seed=0)
    >>> targets = np.linspace(0.0, 1.0, len(signals))
    >>> PixelRidge(imaging="spectrum", image_size=16).fit(signals, targets).predict(signals[:3]).shape
    (3,)
    """

    def _make_model(self):
        from sklearn.linear_model import RidgeCV

        return RidgeCV(alphas=np.logspace(-3, 5, 17))


class EmbeddingForest(BaseEstimator):
    """A random forest on frozen embeddings of a pretrained CNN (seed 002's "image features").

    Parameters
    ----------
    imaging, sr, backbone, pretrained, image_size, channel_mode, batch_size, device
        As for :class:`~sigxfer.TransferClassifier`.
    n_estimators : int
        Trees in the forest.
    task : {"classification", "regression"}
    random_state : int, optional
    progress : bool, optional

    Examples
    --------
    >>> from sigxfer import make_devices
    >>> signals = make_devices(6, seed=0)
    >>> forest = EmbeddingForest(imaging="spectrum", backbone="tinynet", image_size=32, n_estimators=10,
    ...                          progress=False).fit(signals, signals.y)
    >>> forest.predict_proba(signals[:2]).shape
    (2, 2)
    """

    def __init__(self, *, imaging="spectrogram", sr: float | None = None, backbone: str = "efficientnet_lite0", pretrained: bool = True,
                 image_size: int | None = None, channel_mode: str = "auto", batch_size: int = 32,
                 device: str = "cpu", n_estimators: int = 500, task: str = "classification",
                 random_state: int | None = None, progress: bool | None = None):
        self.imaging = imaging
        self.sr = sr
        self.backbone = backbone
        self.pretrained = pretrained
        self.image_size = image_size
        self.channel_mode = channel_mode
        self.batch_size = batch_size
        self.device = device
        self.n_estimators = n_estimators
        self.task = task
        self.random_state = random_state
        self.progress = progress

    def _embed(self, arr) -> np.ndarray:
        from sigxfer.learning.embeddings import extract_embeddings

        return extract_embeddings(self.net_, arr, batch_size=self.batch_size, progress=self.progress)

    def fit(self, X, y):
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        from sigxfer.backbones import create_backbone
        from sigxfer.learning.network import SignalNet

        if self.task not in ("classification", "regression"):
            raise ParameterError(f"task={self.task!r} must be 'classification' or 'regression'")
        arr = _as_array(X)
        imagers = _fit_imagers(arr, imaging=self.imaging,
                               sr=getattr(X, "sr", None) or self.sr, size=self.image_size,
                               channel_mode=self.channel_mode, batch_size=self.batch_size, backbone=self.backbone)
        self.net_ = SignalNet(imagers, create_backbone(self.backbone, pretrained=self.pretrained)).to(self.device)
        forest = RandomForestClassifier if self.task == "classification" else RandomForestRegressor
        self.model_ = forest(n_estimators=self.n_estimators, random_state=self.random_state, n_jobs=-1)
        self.model_.fit(self._embed(arr), np.asarray(y))
        if self.task == "classification":
            self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        if not hasattr(self, "model_"):
            raise NotFittedError("this EmbeddingForest is not fitted yet; call fit(X, y) first")
        return self.model_.predict(self._embed(_as_array(X)))

    def predict_proba(self, X):
        if not hasattr(self, "classes_"):
            raise NotFittedError("this EmbeddingForest is not a fitted classifier; call fit(X, y) first")
        return self.model_.predict_proba(self._embed(_as_array(X)))


def minirocket_available() -> bool:
    """Whether aeon (and so MiniRocket) is installed.

    Examples
    --------
    >>> minirocket_available() in (True, False)
    True
    """
    try:
        import aeon  # noqa: F401
    except ImportError:
        return False
    return True


class MiniRocket(BaseEstimator):
    """aeon's MiniRocket classifier or regressor, on the raw signals (no images).

    Parameters
    ----------
    task : {"classification", "regression"}
    n_kernels : int
        Convolution kernels (aeon's default 10,000).
    n_jobs : int
    random_state : int, optional

    Examples
    --------
    >>> from sigxfer import make_devices
    >>> signals = make_devices(6, seed=0)
    >>> MiniRocket(n_kernels=84, random_state=0).fit(signals, signals.y).predict(signals[:2]).shape  # doctest: +SKIP
    (2,)
    """

    def __init__(self, *, task: str = "classification", n_kernels: int = 10_000, n_jobs: int = 1,
                 random_state: int | None = None):
        self.task = task
        self.n_kernels = n_kernels
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X, y):
        if not minirocket_available():
            raise ParameterError("MiniRocket needs the optional aeon package; pip install 'sigxfer[aeon]'")
        if self.task == "classification":
            from aeon.classification.convolution_based import MiniRocketClassifier as Model
        else:
            from aeon.regression.convolution_based import MiniRocketRegressor as Model
        arr = _as_array(X).astype(np.float64)
        if arr.shape[2] < 9:
            raise ParameterError(f"MiniRocket needs signals of at least 9 samples, got {arr.shape[2]}")
        self.model_ = Model(n_kernels=self.n_kernels, n_jobs=self.n_jobs, random_state=self.random_state)
        self.model_.fit(arr, np.asarray(y))
        if self.task == "classification":
            self.classes_ = np.asarray(self.model_.classes_)
        return self

    def predict(self, X):
        if not hasattr(self, "model_"):
            raise NotFittedError("this MiniRocket is not fitted yet; call fit(X, y) first")
        return np.asarray(self.model_.predict(_as_array(X).astype(np.float64)))

    def predict_proba(self, X):
        if not hasattr(self, "classes_"):
            raise NotFittedError("this MiniRocket is not a fitted classifier; call fit(X, y) first")
        return np.asarray(self.model_.predict_proba(_as_array(X).astype(np.float64)))
