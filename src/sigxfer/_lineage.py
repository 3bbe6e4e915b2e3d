"""Multi-stage transfer: a fit that starts from another fitted model (``init=``), and the record of it.

``TransferRegressor(init="sim.sigx")`` (or ``init=fitted_model``) starts from that model's imager,
backbone weights and head instead of ImageNet's; the strategy then trains as usual. Each fitted
model carries ``lineage_``: a list of stages, oldest first, each ``{"from": ..., "backbone": ...,
"data": {...}, "n_cases": ..., "strategy": ...}`` where ``from`` is ``"imagenet"``, ``"random"``
or the starting model (``{"name": file name or None, "sha256": ...}``), so a model file says what
it was trained on and from what, however many stages back.

What ``init`` passes on, and why
--------------------------------
- **The imager with its fitted scale.** Stage 2 typically has a handful of real cases (one to
  ten): percentiles of so few are noise, and the weights learned in stage 1 read pictures at
  stage 1's scale; a new scale would move every pixel the body was tuned to. The price: real
  data outside stage 1's range clip, so stage 1 should see the range (e.g. through
  ``augment={"spectral": ...}``, whose scale is fitted on distorted draws too).
- **Backbone weights and head.** Fine-tuning continues from stage 1's head when it has the
  outputs the new task needs (same classes; same number of targets), else gets a fresh one.
- **Target scaling** (regression): stage 1's mean and scale, since stage 1's head predicts in
  those units and one real case has no spread to standardise by.
"""

from __future__ import annotations

import copy
import hashlib
import os
from pathlib import Path

import numpy as np

from sigxfer.errors import DataError, NotFittedError, ParameterError

__all__ = ["resolve_init", "start_network", "stage_record", "lineage_of", "register_model_reader"]

#: ``read(path) -> fitted estimator`` for ``init="model.sigx"``; :mod:`sigxfer.deploy`, which
#: owns the model file, registers :func:`sigxfer.deploy.load` here when imported (so this layer,
#: below deploy, never imports it).
_MODEL_READER = None


def register_model_reader(read) -> None:
    """Set how a model file path given as ``init=`` is read (done by :mod:`sigxfer.deploy`).

    Examples
    --------
    >>> from sigxfer.deploy import load
    >>> register_model_reader(load)
    """
    global _MODEL_READER
    _MODEL_READER = read


def resolve_init(estimator):
    """The fitted model ``estimator.init`` names, and its record for the lineage; (None, None) without one.

    Raises
    ------
    ParameterError
        ``init`` is neither a fitted sigxfer estimator of the same kind nor a model file path.
    NotFittedError
        ``init`` is an estimator that is not fitted (scikit-learn's ``clone`` unfits estimator
        parameters: pass a model file path to ``cross_validate`` and the like).
    """
    init = estimator.init
    if init is None:
        return None, None
    if isinstance(init, (str, os.PathLike)):
        if _MODEL_READER is None:
            raise ParameterError("init= names a model file but no model reader is registered; import sigxfer first")
        path = Path(init)
        model = _MODEL_READER(path)
        record = {"name": path.name, "sha256": _file_sha256(path)}
    else:
        model = init
        if not hasattr(model, "_fitted_state"):
            raise ParameterError(f"init={type(init).__name__} must be a fitted sigxfer estimator or a model file path")
        if not hasattr(model, "net_"):
            raise NotFittedError(
                f"init= holds an unfitted {type(model).__name__}; fit it first, or pass its model file path "
                "(scikit-learn's clone() unfits estimator parameters, so cross-validation needs the path)"
            )
        from sigxfer.learning.cache import tensor_digest

        record = {"name": None, "sha256": tensor_digest(model.net_.state_dict())}
    if type(model).__name__ != type(estimator).__name__:
        raise ParameterError(
            f"init= is a {type(model).__name__} and this is a {type(estimator).__name__}; start a "
            f"{type(estimator).__name__} from a model of the same kind"
        )
    return model, record


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def start_network(estimator, start, X: np.ndarray, sr):
    """A copy of ``start``'s network (imager with its scale, backbone, head) for ``estimator`` to train.

    Raises
    ------
    ParameterError
        The estimator asks for another backbone, image size or imaging than ``start`` has, or for
        a strategy that trains from random weights.
    DataError
        ``X`` has other channels, length or sample rate than ``start`` was fitted on.
    """
    from sigxfer.imaging import Imager
    from sigxfer.imaging.picture import DEFAULT_IMAGING
    from sigxfer.learning.network import SignalNet

    if estimator.backbone is not None and estimator.backbone != start.backbone_:
        raise ParameterError(
            f"init= was fitted with backbone {start.backbone_!r} but backbone={estimator.backbone!r}; "
            f"leave backbone=None or pass backbone={start.backbone_!r} (the network comes from init)"
        )
    imager_config = start.net_.imager.get_config()
    if estimator.image_size is not None and tuple(imager_config["size"]) != (estimator.image_size,) * 2:
        raise ParameterError(
            f"init= reads {imager_config['size'][0]}x{imager_config['size'][1]} pictures but "
            f"image_size={estimator.image_size}; leave image_size=None (the imager comes from init)"
        )
    chosen = estimator.imaging_[0]
    default = chosen.name == DEFAULT_IMAGING and not chosen.params  # as the command line passes it too
    if not default and chosen.name != imager_config["transform"]:
        raise ParameterError(
            f"init= images with {imager_config['transform']!r} but imaging={chosen.label!r}; leave imaging at "
            "its default (the imager and its fitted scale come from init)"
        )
    if not estimator.strategy_.uses_pretrained_weights:
        raise ParameterError(
            f"strategy {estimator.strategy_.name!r} trains from random weights, which init= replaces; "
            "use 'finetune' or 'linear' to continue from init"
        )
    if (X.shape[1], X.shape[2]) != (start.n_channels_, start.n_timepoints_):
        raise DataError(
            f"X holds {X.shape[1]} channel(s) x {X.shape[2]} samples but init= was fitted on "
            f"{start.n_channels_} x {start.n_timepoints_}; bring the data to the same layout (length=)"
        )
    if sr is not None and start.sr_ is not None and not np.isclose(float(sr), float(start.sr_)):
        raise DataError(f"X is at sr={float(sr):g} but init= was fitted at sr={float(start.sr_):g}; resample it")
    imager = Imager.from_config(imager_config)
    backbone = copy.deepcopy(start.net_.backbone)
    return SignalNet(imager, backbone).to(estimator.device)


def data_record(X: np.ndarray, y, sr) -> dict:
    """What a stage was trained on: shape, sample rate and a fingerprint of signals and targets."""
    h = hashlib.sha256(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(np.asarray(y)).tobytes())
    return {"fingerprint": h.hexdigest()[:16], "shape": [int(v) for v in X.shape],
            "sr": None if sr is None else float(sr)}


def stage_record(estimator, start_record, X, y, sr) -> dict:
    """This fit as one stage of the lineage."""
    if start_record is not None:
        origin = start_record
    else:
        pretrained = bool(estimator.pretrained) and estimator.strategy_.uses_pretrained_weights
        origin = "imagenet" if pretrained else "random"
    return {"from": origin, "backbone": estimator.backbone_, "data": data_record(X, y, sr),
            "n_cases": int(len(X)), "strategy": estimator.strategy_.name}


def lineage_of(model) -> list[dict]:
    """A fitted model's stages; for a model saved before lineages were recorded, its one stage as
    far as the file tells (``data`` unknown).

    Examples
    --------
    >>> class Old:  # what a model file from before lineages gives back
    ...     pretrained, backbone, history_ = True, "tinynet", {"n_train": 8, "strategy": {"name": "linear"}}
    >>> lineage_of(Old())[0]["from"]
    'imagenet'
    """
    stages = getattr(model, "lineage_", None)
    if stages:
        return copy.deepcopy(list(stages))
    history = getattr(model, "history_", None) or {}
    strategy = history.get("strategy") or {}
    name = strategy.get("name") if isinstance(strategy, dict) else None
    return [{"from": "imagenet" if model.pretrained and name != "scratch" else "random",
             "backbone": getattr(model, "backbone_", model.backbone), "data": None, "n_cases": history.get("n_train"),
             "strategy": name}]
