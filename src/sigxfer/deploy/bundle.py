"""One model file: safetensors weights with the JSON config in its metadata, written atomically.

Loading never executes code from the file: safetensors holds only tensors and a string map, and the
estimator is rebuilt from the config by sigxfer's own classes.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from sigxfer._atomic import atomic_write, check_output
from sigxfer._fitted_state import check_state_config
from sigxfer._version import __version__
from sigxfer.errors import ModelFileError, NotFittedError, ParameterError

FORMAT = "sigxfer-model"
#: 2: the estimators name the picture ``imaging`` (format 1: ``transform`` + ``transform_params``).
FORMAT_VERSION = 2
_META_KEY = "sigxfer"


def _migrate(config: dict) -> dict:
    """Bring a config written by an earlier format up to this one (format 1 named the imaging
    ``transform`` + ``transform_params``)."""
    if config.get("format_version", 1) < 2 and isinstance(config.get("params"), dict):
        params = dict(config["params"])
        name = params.pop("transform", "spectrogram")
        extra = params.pop("transform_params", None) or {}
        params["imaging"] = {"name": name, **extra} if extra else name
        config = {**config, "params": params, "format_version": FORMAT_VERSION}
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
    check_output(path, overwrite=overwrite)
    if not hasattr(model, "_fitted_state"):
        raise ParameterError(f"{type(model).__name__} is not a sigxfer estimator; save a TransferClassifier or TransferRegressor")
    if not hasattr(model, "net_"):
        raise NotFittedError(f"this {type(model).__name__} is not fitted; fit it before saving")
    state, tensors = model._fitted_state()
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, "sigxfer_version": __version__,
              "torch_version": torch.__version__,
              "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), **state}
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
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(f"{path}: unknown format {found!r}; pass a sigxfer model file")
    version = config.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{path}: the file is damaged: its format version is {version!r}; re-train or restore it")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by sigxfer {config.get('sigxfer_version')} (format {config['format_version']}); "
            f"this sigxfer reads format {FORMAT_VERSION}: upgrade sigxfer"
        )
    config = _migrate(config)
    check_state_config(config, path)
    return config


def load(path):
    """Read a model file written by :func:`save` and return the fitted estimator.

    Raises
    ------
    ModelFileError
        The file is missing, damaged, from another tool or from a newer sigxfer.
    """
    from sigxfer.estimators import TransferClassifier, TransferRegressor

    path = Path(path)
    config = read_config(path)
    classes = {"TransferClassifier": TransferClassifier, "TransferRegressor": TransferRegressor}
    if config.get("estimator") not in classes:
        raise ModelFileError(f"{path}: unknown estimator {config.get('estimator')!r}; pass a model file "
                             "written by sigxfer.save or `sigxfer train`")
    try:
        with safe_open(str(path), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(f"{path}: the weights cannot be read ({err}); the file is damaged, re-train or restore it") from None
    return classes[config["estimator"]]._from_fitted_state(config, tensors, source=path)
