"""One model file: safetensors weights with the JSON config in its metadata, written atomically.

Loading never executes code from the file: safetensors holds only tensors and a string map, and the
estimator is rebuilt from the config by sigxfer's own classes. The file also carries a SHA-256 of
the config and every tensor, so a flipped bit anywhere is refused as damage instead of giving other
predictions (files written before the digest have none and are only checked for sense; a file
with any other metadata entry is refused, so damage to the digest's own name cannot switch the
check off); tensors are compared with what the config describes before any is read.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
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
#: Metadata key of the digest. Files written before it existed have none and are read unchecked.
_DIGEST_KEY = "sigxfer_sha256"
#: Messages show at most this much of a value read from a damaged file.
_SHOW = 60


def digest(config_text: str, tensors: dict) -> str:
    """SHA-256 over the config text and each tensor (name, dtype, shape, bytes), in name order.

    Examples
    --------
    >>> len(digest("{}", {"w": torch.zeros(2)}))
    64
    """
    h = hashlib.sha256(config_text.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(b"\0" + json.dumps([name, str(t.dtype), list(t.shape)]).encode("utf-8") + b"\0")
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


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
    text = json.dumps(config)
    meta = {_META_KEY: text, _DIGEST_KEY: digest(text, tensors)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta), overwrite=overwrite)
    return path


def _metadata(path: Path) -> dict:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file; give the path that `sigxfer train -o` wrote")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ModelFileError(
            f"{path}: not a sigxfer model file (not readable as safetensors: {_first_line(err)}); "
            "pass a file written by sigxfer.save or `sigxfer train`"
        ) from None
    if _META_KEY not in meta:
        raise ModelFileError(
            f"{path}: a safetensors file without sigxfer's config, written by another tool; "
            "pass a file written by sigxfer.save or `sigxfer train`"
        )
    unknown = sorted(set(meta) - {_META_KEY, _DIGEST_KEY})
    if unknown:
        # sigxfer writes these two keys only: a third one is most likely the digest's own name
        # damaged, and reading on without the digest would accept any other damage too.
        raise ModelFileError(f"{path}: the file is damaged: its metadata holds an unknown entry "
                             f"{unknown[0]!r:.{_SHOW}}; re-train or restore it")
    return meta


def _parse(path: Path, text: str) -> dict:
    try:
        config = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ModelFileError(f"{path}: its sigxfer config is not valid JSON; the file is damaged, re-train or restore it") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ModelFileError(f"{path}: unknown format {found!r:.{_SHOW}}; pass a sigxfer model file")
    version = config.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(f"{path}: the file is damaged: its format version is {version!r:.{_SHOW}}; re-train or restore it")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: written by sigxfer {config.get('sigxfer_version')!s:.{_SHOW}} (format {version}); "
            f"this sigxfer reads format {FORMAT_VERSION}: upgrade sigxfer"
        )
    config = _migrate(config)
    check_state_config(config, path)
    return config


def read_config(path) -> dict:
    """The JSON config of a model file, without building the model or reading its weights.

    Raises
    ------
    ModelFileError
        The file is missing, not a sigxfer model file, from a newer sigxfer, or its config is
        damaged (the weights' digest is only checked by :func:`load`).

    Examples
    --------
    >>> read_config("model.sigx")["classes"]  # doctest: +SKIP
    ['high', 'low']
    """
    path = Path(path)
    return _parse(path, _metadata(path)[_META_KEY])


def _first_line(err) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _tensor_reader(path: Path, meta: dict):
    """``read(expected)`` for :func:`~sigxfer._fitted_state.restore_fitted_state`: the file's tensors,
    once their names, shapes and dtypes match ``expected`` and (when the file has one) the digest holds."""

    def damaged(what):
        return ModelFileError(f"{path}: {what}; the file is damaged, re-train or restore it")

    def read(expected: dict) -> dict:
        try:
            with safe_open(str(path), framework="pt") as f:
                names = set(f.keys())
                if names != set(expected):
                    odd = sorted(names ^ set(expected))[0]
                    side = "holds an unexpected" if odd in names else "lacks the"
                    raise damaged(f"its weights do not match the config (it {side} tensor {odd!r:.{_SHOW}})")
                for name in sorted(names):  # from the header alone: nothing is read yet
                    piece = f.get_slice(name)
                    if expected[name] is None:  # a tensor whose shape follows the data (interval heads)
                        if math.prod(piece.get_shape()) > _MAX_FREE_ELEMENTS:
                            raise damaged(f"tensor {name!r} claims {piece.get_shape()} values, more than a model holds")
                        continue
                    shape, dtype = expected[name]
                    if tuple(piece.get_shape()) != shape or piece.get_dtype() != _SAFETENSORS_DTYPES.get(dtype):
                        raise damaged(f"its weights do not match the config (tensor {name!r} is "
                                      f"{piece.get_dtype()} {piece.get_shape()}, the config needs "
                                      f"{_SAFETENSORS_DTYPES.get(dtype, dtype)} {list(shape)})")
                tensors = {k: f.get_tensor(k) for k in sorted(names)}
        except ModelFileError:
            raise
        except (SafetensorError, OSError, ValueError, RuntimeError) as err:
            raise damaged(f"the weights cannot be read ({_first_line(err)})") from None
        if _DIGEST_KEY in meta and meta[_DIGEST_KEY] != digest(meta[_META_KEY], tensors):
            raise damaged("its checksum does not match its contents (changed after it was saved)")
        return tensors

    return read


#: Most values a tensor of data-dependent shape (the interval heads) may claim: 64 M, 256 MB.
_MAX_FREE_ELEMENTS = 64 * 2**20
#: torch dtype -> the name a safetensors header gives it.
_SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
                       torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
                       torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def load(path, *, device: str | None = None):
    """Read a model file written by :func:`save` and return the fitted estimator.

    Parameters
    ----------
    path : str or Path
        A ``.sigx`` file.
    device : str, optional
        Torch device to put the model on (``"cpu"``, ``"cuda"``); the one it was trained with by
        default. Give ``"cpu"`` for a model trained on a GPU when this machine has none.

    Raises
    ------
    ModelFileError
        The file is missing, damaged (any changed byte, when it carries a digest), from another
        tool or from a newer sigxfer.

    Examples
    --------
    >>> model = sigxfer.load("model.sigx", device="cpu")  # doctest: +SKIP
    """
    from sigxfer.estimators import TransferClassifier, TransferRegressor

    path = Path(path)
    meta = _metadata(path)
    config = _parse(path, meta[_META_KEY])
    classes = {"TransferClassifier": TransferClassifier, "TransferRegressor": TransferRegressor}
    if config.get("estimator") not in classes:
        raise ModelFileError(f"{path}: unknown estimator {config.get('estimator')!r:.{_SHOW}}; pass a model file "
                             "written by sigxfer.save or `sigxfer train`")
    if device is not None:
        if not isinstance(device, str):
            raise ParameterError(f"device={device!r} must be a torch device name such as 'cpu' or 'cuda'")
        config = {**config, "params": {**config["params"], "device": device}}
    return classes[config["estimator"]]._from_fitted_state(config, _tensor_reader(path, meta), source=path)
