"""The machinery the two estimators share: construction, the network's build and training, checks
of prediction input, the fitted-state round trip. The public classes are in :mod:`sigxfer.estimators`.
"""

from __future__ import annotations

import inspect
import os
import time

import numpy as np
import torch
from sklearn.base import BaseEstimator

from sigxfer._allocator import give_back
from sigxfer._checks import Interval, Options, as_signals, check_params
from sigxfer.backbones import create_backbone, get_backbone_config, reestimate_batchnorm
from sigxfer.errors import DataError, NotFittedError, ParameterError
from sigxfer._fitted_state import fitted_state, restore_fitted_state
from sigxfer._lineage import lineage_of, stage_record, start_network
from sigxfer.imaging.imager import CHANNEL_MODES
from sigxfer.data.images import match_image_shape
from sigxfer.imaging.picture import imaging_for_pictures, picture_shape
from sigxfer.imaging.resolve import GROUPS, build_imager, imaging_label, resolve_imaging, view_label
from sigxfer.learning.batches import iter_batches
from sigxfer.learning.augment import Augmenter
from sigxfer.learning.engines import ENGINES, PRECISIONS
from sigxfer.learning.memory import check_batch_memory
from sigxfer.learning.network import SignalNet
from sigxfer.learning.strategies import resolve_strategy

#: Image sides accepted: below 8 pixels a CNN has nothing to read; above 4096 one image alone
#: needs gigabytes of activations.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 8, 4096


class _TransferBase(BaseEstimator):
    """Shared constructor, fitting and prediction machinery; see the subclasses' docstrings."""

    _task: str = ""
    #: Checked once at the start of ``fit``, so every message reads the same (see sigxfer._checks).
    _parameter_constraints = {
        "backbone": [None, str],
        "pretrained": bool,
        "sr": [None, Interval(float, 0, None, closed="neither")],
        "image_size": [None, Interval(int, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE)],
        "channel_mode": Options(*CHANNEL_MODES, GROUPS),
        "batch_size": [None, Interval(int, 1, None)],
        "engine": Options("auto", *ENGINES),
        "precision": Options("auto", *PRECISIONS),
        "device": str,
        "random_state": [None, Interval(int, 0, 2**32 - 1)],
        "progress": [None, bool],
        "init": [None, str, os.PathLike, BaseEstimator],
    }

    def __init__(self, *, imaging=None, backbone: str | None = None, pretrained: bool = True,
                 strategy="linear", init=None, sr: float | None = None, image_size: int | None = None,
                 channel_mode: str = "auto", batch_size: int | None = None, engine: str = "auto",
                 precision: str = "auto", device: str = "cpu", random_state: int | None = None,
                 progress: bool | None = None):
        self.imaging = imaging
        self.backbone = backbone
        self.pretrained = pretrained
        self.strategy = strategy
        self.init = init
        self.sr = sr
        self.image_size = image_size
        self.channel_mode = channel_mode
        self.batch_size = batch_size
        self.engine = engine
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------------ building
    def _build_net(self, X: np.ndarray, sr: float | None, backbone_name: str) -> SignalNet:
        config = get_backbone_config(backbone_name)
        size = self.image_size or config.input_size
        # channel_mode="groups": each group of up to three channels is a view of its own (auto
        # may offer groups beside the one picture of all channels: the strategy says).
        groups = self.strategy_.channel_groups(X.shape[1], self.channel_mode)
        imagers = [build_imager(spec, sr=sr, n_timepoints=X.shape[2], size=size, channel_mode=self.channel_mode,
                                channels=group, mean=config.mean, std=config.std)
                   for spec in self.imaging_ for group in groups]
        view_names = [view_label(spec.label, group) for spec in self.imaging_ for group in groups]
        if self.random_state is not None:
            torch.manual_seed(self.random_state)  # random init and training draw from here
        # A strategy that trains from random weights (scratch) gets them whatever `pretrained` says.
        from_weights = self.strategy_.uses_pretrained_weights
        backbone = create_backbone(backbone_name, pretrained=self.pretrained and from_weights)
        # Before the first image is made: a size that cannot fit fails in words, not by the OOM killer.
        # auto embeds every candidate view frozen and fine-tunes only what it keeps (its LP-FT checks
        # its own batch), so only strategies that train from the start are checked for training.
        trains = not self.strategy_.frozen and self.strategy_.name != "auto"
        check_batch_memory(backbone, size, min(self._train_batch_size, len(X)), training=trains,
                           n_views=self.strategy_.views_in_one_pass(len(imagers)))
        # Spectral randomisation reaches far beyond the clean values: the scale must cover it.
        augmenter = Augmenter.from_config(getattr(self.strategy_, "augment", None))
        scale_sample = torch.from_numpy(augmenter.scale_sample(X, seed=self.random_state or 0))
        for imager in imagers:
            imager._fit(scale_sample, batch_size=self._train_batch_size)
        net = SignalNet(imagers, backbone, view_names=view_names).to(self.device)
        if not self.pretrained and from_weights:  # scratch trains its BatchNorm statistics itself
            # A random net's BatchNorm holds 0/1 statistics and gives near-constant features; a
            # fair "no transfer" baseline re-estimates them on the training images (of every view).
            batches = (images for imager in net.imagers
                       for _, images in iter_batches(X, self._train_batch_size, device=self.device, transform=imager))
            reestimate_batchnorm(backbone, batches)
        return net

    def _check_params(self) -> None:
        """The constraints table, then the imaging and strategy: before any signal is touched."""
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_constraints)

    def _fit_net(self, X, y_train, sr, n_outputs, groups=None, *, start=None, start_record=None,
                 image_shape=None) -> None:
        """Build (or, with ``start``, copy from ``init``) the network, train it, record the stage."""
        started = time.perf_counter()  # a strategy with a time budget counts from here (auto)
        self.strategy_ = resolve_strategy(self.strategy)
        if image_shape is not None:  # pictures: the default means "picture"; signal imagings are refused
            self.imaging_ = resolve_imaging(imaging_for_pictures(self.imaging or "spectrogram", image_shape),
                                            multi_view=True)
        elif self.imaging is None:  # the strategy's views: a spectrogram, or auto's candidates
            self.imaging_ = self.strategy_.candidate_imagings(n_channels=X.shape[1], n_timepoints=X.shape[2], sr=sr)
        else:
            self.imaging_ = resolve_imaging(self.imaging, multi_view=True)
        if self.backbone is not None and not get_backbone_config(self.backbone).trainable:
            # ONNX/TorchScript file bodies: checked before any signal is turned into an image.
            if not self.strategy_.frozen:
                raise ParameterError(
                    f"backbone {self.backbone!r} is a frozen file and cannot learn; strategy "
                    f"{self.strategy_.name!r} can train it: use strategy='linear'"
                )
            if not self.pretrained:
                raise ParameterError(
                    f"backbone {self.backbone!r} is a frozen file with no random initialisation; "
                    "pretrained=False does not apply to it: use pretrained=True"
                )
        extra = {}
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(X),):
                raise DataError(f"groups has shape {groups.shape} but X holds {len(X)} cases; pass one group per case")
            if "groups" not in inspect.signature(self.strategy_.fit).parameters:
                raise ParameterError(
                    f"strategy {self.strategy_.name!r} does not split by group; groups= applies to the "
                    "cross-validation of strategy='linear' and strategy='auto'"
                )
            extra["groups"] = groups
        if "started" in inspect.signature(self.strategy_.fit).parameters:
            extra["started"] = started  # the views' scale, the backbone's choice: inside the budget
        backbone_note = None
        if start is not None:
            self.net_ = start_network(self, start, X, sr)
            self.backbone_ = start.backbone_
            specs = [{"name": c["transform"], **c["params"]} for c in (i.get_config() for i in self.net_.imagers)]
            # Views that read groups of channels share their imaging: each imaging once.
            self.imaging_ = resolve_imaging(list({repr(sorted(s.items())): s for s in specs}.values()),
                                            multi_view=True)
            extra["warm_start"] = self._same_outputs(start)
        elif self.backbone is None:  # the strategy's choice (auto weighs backbones against its budget)
            self.backbone_, self.net_, backbone_note = self.strategy_.choose_backbone(
                lambda name: self._build_net(X, sr, name), X)
        else:
            self.backbone_ = self.backbone
            self.net_ = self._build_net(X, sr, self.backbone)
        with self._engine_options():
            self.history_ = self.strategy_.fit(
                self.net_, X, y_train, task=self._task, n_outputs=n_outputs,
                random_state=self.random_state,
                # Frozen passes let the engine calibration choose when the user set no batch size.
                batch_size=self.batch_size if self.strategy_.frozen else self._train_batch_size,
                progress=self.progress, **extra)
        give_back()  # the fit's temporaries: kept for speed while it ran (sigxfer._allocator)
        if backbone_note is not None:
            self.history_["backbone"] = {"chosen": self.backbone_, "reason": backbone_note}
        # A strategy may keep some of the views (auto chooses): imaging_ says which the model reads.
        by_label = {spec.label: spec for spec in self.imaging_}
        kept = dict.fromkeys(imaging_label(name) for name in self.net_.view_names)  # a group's imaging
        self.imaging_ = [by_label[label] for label in kept if label in by_label] or self.imaging_
        self.net_.eval()
        self.sr_ = sr
        self.n_channels_ = int(X.shape[1])
        self.n_timepoints_ = int(X.shape[2])
        earlier = lineage_of(start) if start is not None else []
        self.lineage_ = [*earlier, stage_record(self, start_record, X, y_train, sr)]

    def _same_outputs(self, start) -> bool:
        """Whether ``init``'s head predicts what this fit needs (then fine-tuning continues from it)."""
        return True

    # ------------------------------------------------------------------ predicting
    @property
    def imager_(self):
        """The fitted :class:`~sigxfer.imaging.Imager` (of the first view, for a multi-view model)."""
        return self.net_.imager

    @property
    def _train_batch_size(self) -> int:
        """Signals per pass where a fixed number is needed (training, imaging, prediction)."""
        from sigxfer.learning.loop import default_batch_size

        return self.batch_size or default_batch_size(self.device)

    @property
    def imagers_(self) -> list:
        """The fitted imagers of every view, in the order the head reads them."""
        return self.net_.imagers

    def _check_fitted(self):
        if not hasattr(self, "net_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def _check_input(self, X) -> np.ndarray:
        """The one check of prediction input: layout, channels, length and sample rate."""
        self._check_fitted()
        arr, _, sr = as_signals(match_image_shape(X, picture_shape(self.net_.imager)))
        if arr.shape[1] != self.n_channels_:
            raise DataError(
                f"X holds signals of {arr.shape[1]} channel(s) but the model was fitted on {self.n_channels_}; "
                f"pass the same channels in the same order as in training"
            )
        if arr.shape[2] != self.n_timepoints_:
            raise DataError(
                f"X holds signals of {arr.shape[2]} samples but the model was fitted on {self.n_timepoints_}; "
                f"load files with length={self.n_timepoints_} (sigxfer.load_files pads or crops by the "
                "training rule) or cut long recordings into windows (sigxfer predict --window)"
            )
        if sr is not None and self.sr_ is not None and not np.isclose(float(sr), float(self.sr_)):
            raise DataError(
                f"X was recorded at {float(sr):g} Hz but the model was fitted at {float(self.sr_):g} Hz; "
                f"resample it to {float(self.sr_):g} Hz (e.g. scipy.signal.resample_poly) or train on {float(sr):g} Hz data"
            )
        return arr

    @torch.no_grad()
    def _outputs(self, X) -> np.ndarray:
        """Head outputs, through the frozen engine (calibrated on long inputs) then the head.

        In eval mode the net's forward is exactly ``head(embed(x))``, so the engine's speed
        (onnxruntime, channels_last, concurrent streams) serves prediction as it does the probe.
        """
        arr = self._check_input(X)
        emb = self._embed_checked(arr, desc="predicting")
        head = self.net_.head
        return head(torch.as_tensor(emb, device=self.net_.device)).float().cpu().numpy()

    @torch.no_grad()
    def to_images(self, X, *, view: int | str | None = None) -> np.ndarray:
        """The pictures the network sees, in [0, 1], shape (n_cases, 3, H, W).

        ``view`` picks the view of a multi-view model, by index or name (``"gaf"``); the first by default.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(8, 1, 64)).astype("float32")
        >>> model = TransferClassifier(backbone="tinynet", image_size=32).fit(X, [0, 1] * 4)
        >>> model.to_images(X[:2]).shape
        (2, 3, 32, 32)
        """
        arr = self._check_input(X)
        imager = self.net_.imagers[self.net_.view_index(view)]
        return imager.pictures(torch.as_tensor(arr, device=self.device)).cpu().numpy()

    @torch.no_grad()
    def embed(self, X) -> np.ndarray:
        """What the head reads, shape (n_cases, net_.embedding_dim): every view's (pooled) features."""
        return self._embed_checked(self._check_input(X))

    def _embed_checked(self, arr: np.ndarray, desc: str = "embedding") -> np.ndarray:
        from sigxfer.learning.embeddings import extract_embeddings

        self.net_.eval()
        with self._engine_options():
            return extract_embeddings(self.net_, arr, batch_size=self.batch_size, progress=self.progress, desc=desc)

    def _engine_options(self):
        """The estimator's ``engine`` and ``precision`` for every frozen pass made inside the block."""
        from sigxfer.learning.engines import engine_options

        # Models saved before these parameters existed have neither: "auto".
        return engine_options(engine=getattr(self, "engine", "auto"), precision=getattr(self, "precision", "auto"))

    # ------------------------------------------------------------------ fitted state
    def _fitted_state(self) -> tuple[dict, dict]:
        """Everything fitting learned: a JSON-able config and the network's tensors.

        The model file (:mod:`sigxfer.deploy.bundle`) and the report store exactly this; a new
        fitted attribute is added here and in :meth:`_from_fitted_state`, nowhere else.
        """
        self._check_fitted()
        return fitted_state(self)

    @classmethod
    def _from_fitted_state(cls, config: dict, tensors: dict, *, source=None):
        """Rebuild a fitted estimator from :meth:`_fitted_state`'s output (``source``: the file it
        came from, for messages and for finding an external backbone file next to it)."""
        return restore_fitted_state(cls, config, tensors, source=source)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
