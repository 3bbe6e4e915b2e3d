"""Estimators with scikit-learn's interface: ``TransferClassifier`` and ``TransferRegressor``."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import check_classification_targets

from sigxfer._checks import as_signals
from sigxfer._lineage import resolve_init
from sigxfer._transfer import MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, _TransferBase  # noqa: F401  (re-exported)
from sigxfer.errors import DataError, NotFittedError
from sigxfer.learning.intervals import fit_interval_heads, head_prior


class TransferClassifier(ClassifierMixin, _TransferBase):
    """Classify signals with an ImageNet-pretrained CNN reading their time–frequency images.

    Parameters
    ----------
    imaging : str, dict, Imager, list of these, or None
        The picture each signal becomes: ``"spectrogram"``, ``"spectrum"``, ``"mel"``,
        ``"scalogram"``, ``"gaf"``, ``"recurrence"``, ``"waveform"`` (see
        :func:`sigxfer.imaging.list_transforms`); with parameters ``{"name": "mel", "n_mels": 64}``
        or ``"mel:n_mels=64"`` (librosa's names). Window lengths the user leaves out follow the
        series length (:func:`sigxfer.imaging.resolve.imaging_defaults`). A list, such as
        ``["gaf", "waveform", "recurrence"]``, makes a multi-view model: each view is embedded by
        the same backbone and one head reads them side by side. None (default): the strategy's
        choice, a spectrogram for fixed strategies and, for ``"auto"``, candidate views it
        selects from by cross-validation.
    backbone : str, optional
        Registered backbone (:func:`sigxfer.backbones.list_backbones`). None (default): the
        strategy's choice, ``"efficientnet_lite0"`` for fixed strategies and, for ``"auto"``, the
        largest EfficientNet-Lite whose pass over the candidate views fits its time budget
        (``backbone_`` and ``history_["backbone"]`` say which and why).
    pretrained : bool
        ImageNet weights (True) or a random initialisation with BatchNorm statistics re-estimated on
        the training images (False): the "without transfer" comparison.
    strategy : str, dict or Strategy
        How the network learns: ``"linear"`` (frozen backbone, logistic-regression head),
        ``"finetune"`` (new head, then the last stages at a lower rate), ``"scratch"`` (the same
        network from random weights), ``"auto"`` (chooses views, feature depth, regularisation
        and, on large data, fine-tuning by cross-validation on the training data within a time
        budget, see :class:`~sigxfer.learning.strategies.Auto`); a dict
        ``{"name": "finetune", "epochs": 5}`` or an object ``FineTune(unfreeze=2)`` sets parameters.
    init : str, Path or fitted estimator, optional
        Start from this model (a model file or a fitted estimator of the same kind) instead of
        ImageNet: its imager with its fitted scale, backbone weights and head (kept when it has
        the outputs needed), then ``strategy`` trains on (see :mod:`sigxfer._lineage`: multi-stage
        transfer, e.g. simulation then a few real cases). ``clone`` unfits an estimator given
        here, so cross-validation needs a path.
    sr : float, optional
        Sample rate in Hz; taken from a :class:`~sigxfer.SignalSet` when X is one.
    image_size : int, optional
        Image side in pixels; the backbone's input size by default.
    channel_mode : str
        How channels become R, G, B (see :class:`~sigxfer.imaging.Imager`), or ``"groups"``:
        signals with more than three channels are read in consecutive groups of three, each
        group a view of its own (its channels as R, G, B) and the head reads them all, instead
        of squeezing every channel into one picture (``"tile"``, the default beyond three).
    batch_size : int, optional
        Signals per forward pass. None (default): frozen passes (linear probe, ``embed``,
        ``auto``'s views, prediction) take the batch size their engine calibration measures
        fastest; training uses 32 on CPU (128 on a GPU).
    engine : {"auto", "torch", "compile", "onnxruntime"}
        What runs the frozen passes. ``"auto"``: the fastest this machine gives whose features
        stay within cosine 0.9999 of fp32 eager, measured on a few real inputs (and kept, see
        :mod:`sigxfer.learning.calibration_cache`); the choice is in ``history_["engine"]``.
    precision : {"auto", "fp32", "bf16"}
        Of the frozen passes; ``"auto"`` tries bf16 only where the CPU or GPU has bf16 units, and
        keeps it only within cosine 0.999 of fp32.
    device : str
        Torch device (``"cpu"``, ``"cuda"``).
    random_state : int, optional
        Seeds cross-validation splits, random initialisation and training.
    progress : bool, optional
        Progress bars (None: only on a terminal).

    Notes
    -----
    A fitted estimator can be pickled (``pickle.dumps``, joblib): that is how scikit-learn's
    ``joblib`` parallelism and ``multiprocessing`` hand estimators between processes, and it is
    only for that. Model files never use pickle: :func:`sigxfer.save` writes safetensors weights
    and a JSON config, and :func:`sigxfer.load` rebuilds the model without running code from the
    file. Unpickle only what your own process wrote.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(8, 1, 256)).astype("float32")
    >>> model = TransferClassifier(backbone="tinynet", image_size=32).fit(X, [0, 1] * 4)
    >>> model.predict(X).shape
    (8,)

    Attributes
    ----------
    classes_ : ndarray
        Class labels, sorted.
    imager_, imagers_ : Imager, list of Imager
        The fitted imager of the first view (``net_.imager``), and of every view.
    net_ : SignalNet
        The fitted imager, backbone and head as one torch module.
    imaging_ : list of ImagingSpec
        The views the model reads.
    backbone_ : str
        The backbone the model reads them with (``backbone``, or the strategy's choice).
    strategy_, history_, sr_, n_channels_, n_timepoints_
        The strategy used, its training history (auto's selection table under
        ``history_["selection"]``), and the input layout the model expects.
    lineage_ : list of dict
        The training stages, oldest first: what each started from, its data and strategy.
    """

    _task = "classification"

    def fit(self, X, y=None, *, groups=None):
        """Fit on signals X (array (n, c, t) or (n, t), or a SignalSet with labels) and labels y.

        ``groups`` (one label per case, e.g. the recording session or subject) keeps the cases of
        a group on one side of every cross-validation split the strategy makes (``linear``'s
        choice of C, ``auto``'s selection).

        Returns
        -------
        self
        """
        self._check_params()
        start, start_record = resolve_init(self)
        if y is None:
            y = getattr(X, "y", None)
        if y is None:
            raise DataError(
                f"{type(self).__name__} requires y to be passed, but the target y is None; pass labels, "
                "or a SignalSet loaded from a folder of class folders"
            )
        arr, names, sr = as_signals(X, sr=self.sr)
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected; flattened to (n_cases,)",
                          DataConversionWarning, stacklevel=2)
            y = y.ravel()
        if y.ndim != 1 or len(y) != len(arr):
            raise DataError(f"y has shape {y.shape} but X holds {len(arr)} cases; pass one label per case")
        try:
            check_classification_targets(y)
        except ValueError as err:
            raise DataError(f"{err}; a classifier needs class labels (use TransferRegressor for numbers)") from None
        classes, y_index = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(
                f"only one class ({classes[0]!r}) in the training labels; a classifier needs at least two"
            )
        self.classes_ = classes
        self._fit_net(arr, y_index, sr, len(classes), groups, start=start, start_record=start_record,
                      image_shape=getattr(X, "image_shape", None))
        return self

    def _same_outputs(self, start) -> bool:
        return len(start.classes_) == len(self.classes_) and bool(np.all(start.classes_ == self.classes_))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_cases, n_classes), columns in the order of ``classes_``."""
        logits = torch.as_tensor(self._outputs(X))
        return torch.softmax(logits.double(), dim=1).numpy()

    def decision_function(self, X) -> np.ndarray:
        """Logits, shape (n_cases, n_classes); for two classes, as scikit-learn, shape (n_cases,)
        with positive values favouring ``classes_[1]``."""
        logits = self._outputs(X)
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict(self, X) -> np.ndarray:
        """Most probable class of each case."""
        outputs = self._outputs(X)
        return self.classes_[np.argmax(outputs, axis=1)]


class TransferRegressor(RegressorMixin, _TransferBase):
    """Predict a number (or several) from a signal's image; same parameters as TransferClassifier.

    Targets are standardised for training and restored on prediction; ``score`` is R².

    Attributes
    ----------
    y_mean_, y_scale_ : ndarray
        Standardisation of the targets, learned on the training data (with ``init``, init's).
    interval_ : IntervalHeads
        What :meth:`predict_interval` needs (:mod:`sigxfer.learning.intervals`).
    """

    _task = "regression"

    def fit(self, X, y=None, *, groups=None):
        """Fit on signals X and targets y, shape (n_cases,) or (n_cases, n_targets); ``groups`` as
        for :meth:`TransferClassifier.fit`.

        With ``init``, the targets are standardised by ``init``'s mean and scale (its head
        predicts in those units, and a single case has no spread of its own).
        """
        self._check_params()
        start, start_record = resolve_init(self)
        if y is None:
            y = getattr(X, "y", None)
        if y is None:
            raise DataError(
                f"{type(self).__name__} requires y to be passed, but the target y is None; pass one number per case"
            )
        arr, names, sr = as_signals(X, sr=self.sr)
        try:
            y = np.asarray(y, dtype=np.float64)
        except ValueError:
            raise DataError("targets must be numbers; for labels use TransferClassifier") from None
        if len(y) != len(arr) or y.ndim not in (1, 2):
            raise DataError(f"y has shape {y.shape} but X holds {len(arr)} cases; pass one target per case")
        if not np.isfinite(y).all():
            raise DataError("targets hold NaN or infinite values; drop those cases")
        y2 = y.reshape(len(y), -1)
        self.y_ndim_ = y.ndim
        if start is not None and np.shape(start.y_mean_) == (y2.shape[1],):
            self.y_mean_, self.y_scale_ = np.array(start.y_mean_, dtype=np.float64), np.array(start.y_scale_, dtype=np.float64)
        else:
            self.y_mean_ = y2.mean(axis=0)
            self.y_scale_ = y2.std(axis=0)
            self.y_scale_[self.y_scale_ == 0] = 1.0
        y_std = (y2 - self.y_mean_) / self.y_scale_
        self._fit_net(arr, y_std, sr, y2.shape[1], groups, start=start, start_record=start_record,
                      image_shape=getattr(X, "image_shape", None))
        self.interval_ = fit_interval_heads(self._embed_checked(arr), y_std, prior=head_prior(start, y2.shape[1]),
                                            random_state=self.random_state)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n_cases, n_targets) is supported
        return tags

    def predict(self, X) -> np.ndarray:
        """Predicted targets, shape (n_cases,) or (n_cases, n_targets) as ``y`` was in ``fit``."""
        out = self._outputs(X).astype(np.float64) * self.y_scale_ + self.y_mean_
        return out[:, 0] if self.y_ndim_ == 1 else out

    def predict_interval(self, X, *, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """Intervals holding the truth with probability about ``1 - alpha`` (at least ``1 - 2 alpha``).

        CV+ of ridge heads on the network's embeddings of the training cases (see
        :mod:`sigxfer.learning.intervals`); need not be centred on :meth:`predict`. A bound is
        infinite when the cases are too few to promise one (fewer than 9 at ``alpha=0.1``).
        Valid for the linear probe and for a body from an earlier stage (``init=`` with
        ``strategy="linear"``); too narrow after fine-tuning on the same cases.

        Returns
        -------
        low, high : ndarray
            Shape (n_cases,) or (n_cases, n_targets), as :meth:`predict`.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(40, 1, 64)).astype("float32")
        >>> model = TransferRegressor(backbone="tinynet", image_size=32, imaging="waveform").fit(X, X.std(axis=(1, 2)))
        >>> low, high = model.predict_interval(X[:3])
        >>> bool((low <= high).all())
        True
        """
        self._check_fitted()
        if getattr(self, "interval_", None) is None:
            raise NotFittedError("this model holds no interval heads (saved before intervals existed); re-fit it")
        low, high = self.interval_.bounds(self._embed_checked(self._check_input(X)).astype(np.float64), alpha)
        low, high = low * self.y_scale_ + self.y_mean_, high * self.y_scale_ + self.y_mean_
        return (low[:, 0], high[:, 0]) if self.y_ndim_ == 1 else (low, high)

