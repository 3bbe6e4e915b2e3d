"""The fitted state of an estimator as JSON config + tensors, and back: the one round trip.

``TransferClassifier._fitted_state`` / ``_from_fitted_state`` call these; the model file only moves
the bytes (:mod:`sigxfer.deploy.bundle`) and the report reads the same config. A new fitted
attribute is one edit here, in both directions.
"""

from __future__ import annotations

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
        "backbone": {"name": model.backbone,
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


def _is(value, kinds) -> bool:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool):  # True is an int to Python, not to this schema
        return bool in kinds
    return isinstance(value, kinds) and not (isinstance(value, int) and value < 0)


def check_state_config(config, where) -> None:
    """Refuse a config that does not have the shape :func:`fitted_state` writes.

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
    def need(mapping, schema, prefix=""):
        for key, kinds in schema.items():
            if key not in mapping:
                raise ModelFileError(f"{where}: the file is damaged: its config has no '{prefix}{key}'; "
                                     "re-train or restore it")
            if not _is(mapping[key], kinds):
                raise ModelFileError(f"{where}: the file is damaged: '{prefix}{key}' holds {mapping[key]!r:.60}; "
                                     "re-train or restore it")

    if not isinstance(config, dict):
        raise ModelFileError(f"{where}: the file is damaged: its config is not a JSON object; re-train or restore it")
    need(config, _SCHEMA)
    need(config["imager"], _IMAGER_SCHEMA, "imager.")
    need(config["backbone"], _BACKBONE_SCHEMA, "backbone.")
    if config["estimator"] == "TransferClassifier" and not isinstance(config.get("classes"), list):
        raise ModelFileError(f"{where}: the file is damaged: a classifier without its 'classes'; re-train or restore it")
    if config["estimator"] == "TransferRegressor" and not all(k in config for k in ("y_mean", "y_scale", "y_ndim")):
        raise ModelFileError(f"{where}: the file is damaged: a regressor without its target scaling; re-train or restore it")


def restore_fitted_state(cls, config: dict, tensors: dict, *, source=None):
    """A fitted ``cls`` from :func:`fitted_state`'s output; ``source`` names the file in messages."""
    from sigxfer.backbones import create_backbone
    from sigxfer.imaging import Imager
    from sigxfer.learning.network import SignalNet
    from sigxfer.learning.strategies import resolve_strategy

    where = source if source is not None else "fitted state"
    check_state_config(config, where)
    tensors = dict(tensors)
    interval_tensors = {k: tensors.pop(k) for k in list(tensors) if k.startswith(_INTERVAL_PREFIX)}
    if not all(torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point()):
        raise ModelFileError(f"{where}: the weights hold NaN or infinite values; the file is damaged, "
                             "re-train or restore it")
    if isinstance(config.get("backbone"), dict) and "file" in config["backbone"]:
        from sigxfer.backbones.external import restore_file_backbone

        restore_file_backbone(config["backbone"]["file"], model_path=source)
    try:
        model = cls(**config["params"])
        imagers = [Imager.from_config(c) for c in config.get("imagers") or [config["imager"]]]
        backbone = create_backbone(config["backbone"]["name"], pretrained=False)
        network = config.get("network") or {}
        net = SignalNet(imagers, backbone, taps=network.get("taps"), pooling=network.get("pooling", "mean"),
                        view_names=network.get("view_names"))
        net.reset_head(config["backbone"]["n_outputs"])
        net.load_state_dict(tensors, strict=True)
        model.strategy_ = resolve_strategy(config["strategy"])
        from sigxfer.imaging.resolve import resolve_imaging

        imaging = config.get("imaging") or model.imaging
        model.imaging_ = resolve_imaging(imaging, multi_view=True) if imaging is not None else []
    except SigxferError as err:
        raise ModelFileError(f"{where}: cannot rebuild the model ({err})") from None
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelFileError(
            f"{where}: weights do not match the config ({first}); the file is damaged or edited"
        ) from None
    net.eval()
    model.net_ = net.to(model.device)
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
