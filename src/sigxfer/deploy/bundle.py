"""One model file: safetensors weights with the JSON config in its metadata, written atomically.

Loading never executes code from the file: safetensors holds only tensors and a string map, and the
estimator is rebuilt from the config by sigxfer's own classes.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from sigxfer._atomic import atomic_write
from sigxfer._json import to_jsonable as _jsonable
from sigxfer.errors import ModelFileError, NotFittedError, OutputExistsError, ParameterError, SigxferError

FORMAT = "sigxfer-model"
FORMAT_VERSION = 1
_META_KEY = "sigxfer"


def _estimator_config(model) -> dict:
    from sigxfer._version import __version__

    if not hasattr(model, "net_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted; fit it before saving")
    net = model.net_
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sigxfer_version": __version__,
        "torch_version": torch.__version__,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "estimator": type(model).__name__,
        "params": _jsonable(model.get_params(deep=False)),
        "imager": net.imager.get_config(),
        "backbone": {"name": model.backbone,
                     # What the weights started from: scratch ignores pretrained=True.
                     "pretrained": bool(model.pretrained) and model.strategy_.uses_pretrained_weights,
                     "embedding_dim": int(net.backbone.embedding_dim),
                     "n_outputs": int(net.head.out_features)},
        "strategy": _jsonable(model.strategy_),
        "history": _jsonable(model.history_),
        "metrics": _jsonable(getattr(model, "metrics_", None)),
        "sr": model.sr_,
        "n_channels": model.n_channels_,
        "n_timepoints": model.n_timepoints_,
    }
    from sigxfer.backbones.external import file_backbone_spec

    spec = file_backbone_spec(net.backbone)
    if spec is not None:
        # A backbone from the user's file: record which file (and its sha256) so load can find it
        # and refuse a changed one; TorchScript/ONNX bodies are not copied into this file.
        config["backbone"]["file"] = spec.to_record()
    if hasattr(model, "classes_"):
        config["classes"] = _jsonable(model.classes_)
    if hasattr(model, "y_mean_"):
        config.update(y_mean=_jsonable(model.y_mean_), y_scale=_jsonable(model.y_scale_), y_ndim=model.y_ndim_)
    return config


def save(model, path, *, overwrite: bool = False) -> Path:
    """Write a fitted estimator to one file.

    Parameters
    ----------
    model : TransferClassifier or TransferRegressor
        Fitted estimator.
    path : str or Path
        Destination, conventionally ``*.sigx``. Written to a temporary file in the same folder and
        renamed into place, so an interrupted save never leaves a half-written model.
    overwrite : bool
        Replace an existing file (refused by default).

    Returns
    -------
    Path
    """
    path = Path(path)
    if path.is_dir():
        raise ParameterError(f"{path} is a folder; give a file name such as {path / 'model.sigx'}")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass overwrite=True (--overwrite) or choose another name")
    config = _estimator_config(model)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.net_.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={_META_KEY: json.dumps(config)}),
                 overwrite=overwrite)
    return path


def read_config(path) -> dict:
    """The JSON config of a model file, without building the model."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file; give the path that `sigxfer train -o` wrote")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(
            f"{path}: not a sigxfer model file (not readable as safetensors: {err}); "
            "pass a file written by sigxfer.save or `sigxfer train`"
        ) from None
    if _META_KEY not in meta:
        raise ModelFileError(
            f"{path}: a safetensors file without sigxfer's config, written by another tool; "
            "pass a file written by sigxfer.save or `sigxfer train`"
        )
    try:
        config = json.loads(meta[_META_KEY])
    except json.JSONDecodeError:
        raise ModelFileError(f"{path}: its sigxfer config is not valid JSON; the file is damaged, re-train or restore it") from None
    if config.get("format") != FORMAT:
        raise ModelFileError(f"{path}: unknown format {config.get('format')!r}; pass a sigxfer model file")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by sigxfer {config.get('sigxfer_version')} (format {config['format_version']}); "
            f"this sigxfer reads format {FORMAT_VERSION}: upgrade sigxfer"
        )
    return config


def load(path):
    """Read a model file written by :func:`save` and return the fitted estimator.

    Raises
    ------
    ModelFileError
        The file is missing, damaged, from another tool or from a newer sigxfer.
    """
    from sigxfer.backbones import create_backbone
    from sigxfer.estimators import TransferClassifier, TransferRegressor
    from sigxfer.imaging import Imager
    from sigxfer.learning.network import SignalNet
    from sigxfer.learning.strategies import resolve_strategy

    path = Path(path)
    config = read_config(path)
    classes = {"TransferClassifier": TransferClassifier, "TransferRegressor": TransferRegressor}
    if config.get("estimator") not in classes:
        raise ModelFileError(f"{path}: unknown estimator {config.get('estimator')!r}; upgrade sigxfer")
    if isinstance(config.get("backbone"), dict) and "file" in config["backbone"]:
        from sigxfer.backbones.external import restore_file_backbone

        restore_file_backbone(config["backbone"]["file"], model_path=path)
    try:
        model = classes[config["estimator"]](**config["params"])
        imager = Imager.from_config(config["imager"])
        backbone = create_backbone(config["backbone"]["name"], pretrained=False)
        backbone.reset_classifier(config["backbone"]["n_outputs"])
        net = SignalNet(imager, backbone)
        with safe_open(str(path), framework="pt") as f:
            state = {k: f.get_tensor(k) for k in f.keys()}
        net.load_state_dict(state, strict=True)
    except SigxferError as err:
        raise ModelFileError(f"{path}: cannot rebuild the model ({err})") from None
    except (RuntimeError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ModelFileError(f"{path}: weights do not match the config ({first}); the file is damaged or edited") from None
    net.eval()
    model.net_ = net.to(model.device)
    model.strategy_ = resolve_strategy(config["strategy"])
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
    return model
