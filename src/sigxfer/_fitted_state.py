"""The fitted state of an estimator as JSON config + tensors, and back: the one round trip.

``TransferClassifier._fitted_state`` / ``_from_fitted_state`` call these; the model file only moves
the bytes (:mod:`sigxfer.deploy.bundle`) and the report reads the same config. A new fitted
attribute is one edit here, in both directions.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import torch

from sigxfer._json import to_jsonable
from sigxfer.errors import ModelFileError, SigxferError


def fitted_state(model) -> tuple[dict, dict]:
    """``(config, tensors)`` of a fitted estimator: plain JSON values and CPU tensors."""
    from sigxfer._lineage import lineage_of
    from sigxfer.backbones.external import file_backbone_spec

    net = model.net_
    params = model.get_params(deep=False)
    # A model to start from is recorded in the lineage; a path stays a path, an object cannot be JSON.
    init = params.get("init")
    params["init"] = os.fspath(init) if isinstance(init, (str, os.PathLike)) else None
    config = {
        "estimator": type(model).__name__,
        "params": to_jsonable(params),
        # The first view under "imager" as before (readers of one-view files keep working); every
        # view, first included, under "imagers"; what the head reads under "network".
        "imager": net.imager.get_config(),
        "imagers": [imager.get_config() for imager in net.imagers],
        "network": net.get_config(),
        "imaging": [spec.to_config() for spec in getattr(model, "imaging_", [])],
        "backbone": {"name": model.backbone_,
                     # What the weights started from: scratch ignores pretrained=True.
                     "pretrained": bool(model.pretrained) and model.strategy_.uses_pretrained_weights,
                     "embedding_dim": int(net.backbone.embedding_dim),
                     "n_outputs": int(net.head.out_features)},
        "strategy": to_jsonable(model.strategy_),
        "history": to_jsonable(model.history_),
        "metrics": to_jsonable(getattr(model, "metrics_", None)),
        "sr": model.sr_,
        "n_channels": model.n_channels_,
        "n_timepoints": model.n_timepoints_,
        "lineage": to_jsonable(lineage_of(model)),
    }
    spec = file_backbone_spec(net.backbone)
    if spec is not None:
        # A backbone from the user's file: record which file (and its sha256) so loading can find
        # it and refuse a changed one; TorchScript/ONNX bodies are not copied into the model file.
        config["backbone"]["file"] = spec.to_record()
    if hasattr(model, "classes_"):
        config["classes"] = to_jsonable(model.classes_)
    if hasattr(model, "y_mean_"):
        config.update(y_mean=to_jsonable(model.y_mean_), y_scale=to_jsonable(model.y_scale_),
                      y_ndim=model.y_ndim_)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    interval = getattr(model, "interval_", None)
    if interval is not None:
        # The prediction-interval heads (sigxfer.learning.intervals): plain tensors beside the network's.
        config["interval"] = {"method": "cv+", "alpha_ridge": to_jsonable(interval.alpha_ridge)}
        tensors.update({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in interval.tensors().items()})
    return config, tensors


#: The config's shape: key -> accepted JSON types (a tuple: any of them). Checked on every load, so a
#: made-up or edited config is called damaged in one line instead of failing on a missing key.
_SCHEMA = {
    "estimator": str,
    "params": dict,
    "imager": dict,
    "backbone": dict,
    "strategy": (dict, str),
    "n_channels": int,
    "n_timepoints": int,
    "sr": (int, float, type(None)),
}
_IMAGER_SCHEMA = {"transform": str, "params": dict, "size": list, "channel_mode": str, "mean": list,
                  "std": list, "scale_percentiles": list}
_BACKBONE_SCHEMA = {"name": str, "n_outputs": int}
_INTERVAL_PREFIX = "interval."
#: Most views a model file may name (a multi-view model of every imaging several times over).
_MAX_VIEWS = 32
INTERVAL_KEYS = ("interval.weight", "interval.bias", "interval.residual", "interval.fold")
#: Image sides a fitted model can hold (the estimators' own bounds).
_MIN_SIDE, _MAX_SIDE = 8, 4096
#: No integer imaging parameter of a fitted model exceeds its series length or this (the largest
#: picture side): larger ones only come from an edited file, and building them could ask for
#: gigabytes (a 10**9-point window) before anything fails.
_MAX_IMAGING_INT = _MAX_SIDE
#: Pictures lie in [0, 1]: a normalisation beyond these bounds only comes from an edited file, and
#: turns every picture into infinities.
_MAX_NORM = 1e3
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Window lengths are bounded by the series: fitting refuses signals shorter than the window.
_WINDOW_PARAMS = ("n_fft", "win_length")


def _is(value, kinds) -> bool:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool):  # True is an int to Python, not to this schema
        return bool in kinds
    return isinstance(value, kinds) and not (isinstance(value, int) and value < 0)


def _numbers(value, n: int) -> bool:
    """``value`` is a list of ``n`` finite numbers (bools are not numbers here)."""
    return (isinstance(value, list) and len(value) == n
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def _label(value) -> bool:
    return isinstance(value, (str, int, float)) and not (isinstance(value, float) and not math.isfinite(value))


def check_state_config(config, where) -> None:
    """Refuse a config that does not have the shape and bounds :func:`fitted_state` writes.

    Beyond the keys and their types: the picture size, normalisation and fitted scale are finite
    and in range, the imaging's integers fit the series it was fitted on, and the classes (or
    target scaling) match the head's outputs. A config that passes can be rebuilt without asking
    for more memory than the model it describes.

    Raises
    ------
    ModelFileError
        ``"model.sigx: the file is damaged: its config has no 'imager'; re-train or restore it"``.

    Examples
    --------
    >>> check_state_config({"estimator": "TransferClassifier"}, "x.sigx")
    Traceback (most recent call last):
    ...
    sigxfer.errors.ModelFileError: x.sigx: the file is damaged: its config has no 'params'; re-train or restore it
    """
    def damaged(what):
        return ModelFileError(f"{where}: the file is damaged: {what}; re-train or restore it")

    def need(mapping, schema, prefix=""):
        for key, kinds in schema.items():
            if key not in mapping:
                raise damaged(f"its config has no '{prefix}{key}'")
            if not _is(mapping[key], kinds):
                raise damaged(f"'{prefix}{key}' holds {mapping[key]!r:.60}")

    if not isinstance(config, dict):
        raise damaged("its config is not a JSON object")
    need(config, _SCHEMA)
    need(config["imager"], _IMAGER_SCHEMA, "imager.")
    need(config["backbone"], _BACKBONE_SCHEMA, "backbone.")
    n_timepoints, n_channels = config["n_timepoints"], config["n_channels"]
    if n_timepoints < 1 or n_channels < 1:
        raise damaged(f"it expects signals of {n_channels} channel(s) x {n_timepoints} samples")
    _check_imager(config["imager"], n_timepoints, n_channels, damaged)
    views = config.get("imagers")
    if views is not None:  # a multi-view model: every view is checked as the first one is
        if not isinstance(views, list) or not 1 <= len(views) <= _MAX_VIEWS:
            raise damaged(f"'imagers' holds {views!r:.60}")
        for i, view in enumerate(views):
            if not isinstance(view, dict):
                raise damaged(f"'imagers[{i}]' holds {view!r:.60}")
            need(view, _IMAGER_SCHEMA, f"imagers[{i}].")
            _check_imager(view, n_timepoints, n_channels, damaged)
    network = config.get("network")
    if network is not None:
        from sigxfer.learning.network import is_power, is_shift

        taps = network.get("taps") if isinstance(network, dict) else None
        shift = network.get("shift", 0.0) if isinstance(network, dict) else 0.0
        power = network.get("power", 1.0) if isinstance(network, dict) else 1.0
        if not isinstance(network, dict) or (taps is not None and not (
                isinstance(taps, list) and len(taps) <= 64 and all(_is(t, int) and t < 64 for t in taps))) \
                or not is_shift(shift) or not is_power(power):
            raise damaged(f"'network' holds {network!r:.60}")
    n_outputs = config["backbone"]["n_outputs"]
    if n_outputs < 1:
        raise damaged(f"'backbone.n_outputs' holds {n_outputs}")
    if config["estimator"] == "TransferClassifier":
        classes = config.get("classes")
        if not isinstance(classes, list):
            raise damaged("a classifier without its 'classes'")
        if len(classes) < 2 or len(classes) != n_outputs or not all(_label(c) for c in classes) \
                or len({json.dumps(c) for c in classes}) != len(classes):
            raise damaged(f"its {len(classes)} 'classes' do not match the head's {n_outputs} outputs "
                          "(or are not distinct labels)")
    if config["estimator"] == "TransferRegressor":
        if not all(k in config for k in ("y_mean", "y_scale", "y_ndim")):
            raise damaged("a regressor without its target scaling")
        y_scale = config["y_scale"]
        if (not _numbers(config["y_mean"], n_outputs) or not _numbers(y_scale, n_outputs)
                or not all(v > 0 for v in y_scale) or config["y_ndim"] not in (1, 2)
                or isinstance(config["y_ndim"], bool) or (config["y_ndim"] == 1 and n_outputs != 1)):
            raise damaged(f"its target scaling does not match the head's {n_outputs} outputs")


def _check_imager(imager: dict, n_timepoints: int, n_channels: int, damaged) -> None:
    size = imager["size"]
    if not (len(size) == 2 and all(_is(v, int) and _MIN_SIDE <= v <= _MAX_SIDE for v in size)):
        raise damaged(f"'imager.size' holds {size!r:.60} (sides from {_MIN_SIDE} to {_MAX_SIDE} pixels)")
    mean, std = imager["mean"], imager["std"]
    if not (_numbers(mean, 3) and _numbers(std, 3) and all(abs(m) <= _MAX_NORM for m in mean)
            and all(1 / _MAX_NORM <= v <= _MAX_NORM for v in std)):
        raise damaged(f"'imager.mean' and 'imager.std' must hold 3 numbers each, within +-{_MAX_NORM:g} "
                      "(std positive)")
    pct = imager["scale_percentiles"]
    if not _numbers(pct, 2) or not 0 <= pct[0] < pct[1] <= 100:
        raise damaged(f"'imager.scale_percentiles' holds {pct!r:.60}")
    scale = imager.get("scale")
    if not _numbers(scale, 2) or not scale[0] < scale[1] or max(abs(v) for v in scale) > _FLOAT32_MAX:
        raise damaged(f"'imager.scale' holds {scale!r:.60} (the fitted low and high)")
    sr = imager.get("sr")
    if sr is not None and not (_numbers([sr], 1) and sr > 0):
        raise damaged(f"'imager.sr' holds {sr!r:.60}")
    if imager.get("n_channels") not in (None, n_channels):
        raise damaged(f"the imager was fitted on {imager['n_channels']!r:.20} channels, the model on {n_channels}")
    for key, value in imager["params"].items():
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        limit = n_timepoints if key in _WINDOW_PARAMS else max(n_timepoints, _MAX_IMAGING_INT)
        if value > limit:
            raise damaged(f"'imager.params.{key}' holds {value:.3g}, more than a model fitted on "
                          f"{n_timepoints}-sample signals can hold")


def restore_fitted_state(cls, config: dict, tensors, *, source=None):
    """A fitted ``cls`` from :func:`fitted_state`'s output; ``source`` names the file in messages.

    ``tensors`` is the mapping of name -> tensor, or a function ``tensors(expected)`` that gets
    ``{name: (shape, dtype)}`` of the rebuilt network before reading anything, so a file can be
    checked against what the config describes before its weights are read into memory.

    Raises
    ------
    ModelFileError
        The config or the weights do not describe a model this sigxfer can rebuild.
    """
    from sigxfer.backbones import create_backbone
    from sigxfer.imaging import Imager
    from sigxfer.imaging.resolve import resolve_imaging
    from sigxfer.learning.network import SignalNet
    from sigxfer.learning.strategies import resolve_strategy

    where = source if source is not None else "fitted state"
    check_state_config(config, where)
    if isinstance(config.get("backbone"), dict) and "file" in config["backbone"]:
        from sigxfer.backbones.external import restore_file_backbone

        restore_file_backbone(config["backbone"]["file"], model_path=source)
    try:
        model = cls(**config["params"])
        model._check_params()  # the estimator's own table: batch_size, device, ... as a user would
        if model.backbone is not None and model.backbone != config["backbone"]["name"]:
            raise ModelFileError(f"{where}: the file is damaged: its parameters name backbone "
                                 f"{model.backbone!r:.40} but its weights are {config['backbone']['name']!r:.40}; "
                                 "re-train or restore it")
        imagers = [Imager.from_config(c) for c in config.get("imagers") or [config["imager"]]]
        backbone = create_backbone(config["backbone"]["name"], pretrained=False)
        network = config.get("network") or {}
        net = SignalNet(imagers, backbone, taps=network.get("taps"), pooling=network.get("pooling", "mean"),
                        view_names=network.get("view_names"), shift=network.get("shift", 0.0),
                        power=network.get("power", 1.0))
        net.reset_head(config["backbone"]["n_outputs"])
        model.strategy_ = resolve_strategy(_as_trained(config["strategy"]))
        resolve_strategy(model.strategy)  # the parameter as given must be one too (clone, refit)
        imaging = config.get("imaging") or model.imaging
        model.imaging_ = resolve_imaging(imaging, multi_view=True) if imaging is not None else []
    except ModelFileError:
        raise
    except SigxferError as err:
        raise ModelFileError(f"{where}: cannot rebuild the model ({err})") from None
    except Exception as err:  # noqa: BLE001 - whatever an edited config trips over, it is the file's fault
        raise ModelFileError(f"{where}: the file is damaged: its config cannot be rebuilt "
                             f"({type(err).__name__}: {_first_line(err):.100}); re-train or restore it") from None
    if callable(tensors):
        expected = {k: (tuple(v.shape), v.dtype) for k, v in net.state_dict().items()}
        if isinstance(config.get("interval"), dict):  # the interval heads: shapes follow the training data
            expected.update({k: None for k in INTERVAL_KEYS})
        tensors = tensors(expected)
    tensors = dict(tensors)
    interval_tensors = {k: tensors.pop(k) for k in list(tensors) if k.startswith(_INTERVAL_PREFIX)}
    if not all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
        raise ModelFileError(f"{where}: the weights hold NaN or infinite values; the file is damaged, "
                             "re-train or restore it")
    try:
        net.load_state_dict(tensors, strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise ModelFileError(
            f"{where}: weights do not match the config ({_first_line(err)}); the file is damaged or edited"
        ) from None
    net.eval()
    try:
        model.net_ = net.to(model.device)
    except (RuntimeError, AssertionError) as err:  # torch asserts when built without that device
        raise ModelFileError(
            f"{where}: saved for device {model.device!r}, which this machine cannot use ({_first_line(err):.80}); "
            "load it with sigxfer.load(path, device='cpu')"
        ) from None
    model.backbone_ = config["backbone"]["name"]
    model.history_ = config.get("history")
    if config.get("metrics") is not None:
        model.metrics_ = config["metrics"]
    model.sr_ = config.get("sr")
    model.n_channels_ = config["n_channels"]
    model.n_timepoints_ = config["n_timepoints"]
    if "classes" in config:
        model.classes_ = np.asarray(config["classes"])
    if "y_mean" in config:
        model.y_mean_ = np.asarray(config["y_mean"], dtype=np.float64)
        model.y_scale_ = np.asarray(config["y_scale"], dtype=np.float64)
        model.y_ndim_ = config["y_ndim"]
    if isinstance(config.get("lineage"), list):
        model.lineage_ = config["lineage"]
    if interval_tensors:
        from sigxfer.learning.intervals import IntervalHeads

        try:
            alpha = (config.get("interval") or {}).get("alpha_ridge")
            model.interval_ = IntervalHeads.from_tensors(interval_tensors, float("nan") if alpha is None else alpha)
        except KeyError as err:
            raise ModelFileError(f"{where}: the interval tensors are incomplete ({err}); the file is damaged") from None
    return model


def _as_trained(strategy):
    """A saved strategy config as it trained: files written before FineTune had ``batchnorm``
    trained their BatchNorm statistics, and files written before auto had ``power`` read the
    features without one (a refit, e.g. ``evaluate --cv``, then searches as that fit did).

    Examples
    --------
    >>> _as_trained({"name": "finetune", "epochs": 3})["batchnorm"], _as_trained({"name": "linear"})
    ('train', {'name': 'linear'})
    >>> _as_trained({"name": "auto", "batchnorm": "frozen"})["power"]
    1.0
    """
    if isinstance(strategy, dict) and strategy.get("name") in ("finetune", "auto") and "batchnorm" not in strategy:
        strategy = {**strategy, "batchnorm": "train"}
    if isinstance(strategy, dict) and strategy.get("name") == "auto" and "power" not in strategy:
        strategy = {**strategy, "power": 1.0}
    return strategy


def _first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
