"""Registering a backbone from a user's own file: TorchScript, ONNX, or a ``state_dict``.

``register_file_backbone(name, path, kind=...)`` checks the file once (reads it, runs a dummy
batch, measures the embedding length) and registers a :class:`~sigxfer.backbones.BackboneConfig`
under ``name``, so ``TransferClassifier(backbone=name)`` works like a built-in backbone. The
config's ``origin`` is the :class:`~sigxfer.backbones.filespec.FileBackboneSpec` (file, sha256,
kind); the bodies themselves are in :mod:`sigxfer.backbones.files`.

- ``state_dict``: tensors for a registered ``architecture`` (safetensors, or ``.pt``/``.pth`` read
  weights-only). Every strategy applies; a model file keeps every weight, so the original file is
  recorded for provenance only and never read again.
- ``torchscript``: a ``torch.jit.save`` module mapping images to ``(N, d)``, or to ``(N, C, h, w)``
  that is averaged over ``h, w``. Linear probe only; a model file records its path and sha256.
- ``onnx``: the same mapping as an ONNX graph, run by onnxruntime. Linear probe only; a model file
  records its path and sha256. (An ONNX file with external data files is hashed without them.)

The model file names the file and its sha256, and :func:`sigxfer.load` refuses, naming the file,
when it is missing or its bytes have changed (:func:`restore_file_backbone`).

``backbone="file:PATH"`` is the same without a registration call, for ``.onnx`` and TorchScript
files: ImageNet mean and std (torchvision's), and the input size the ONNX graph fixes, else 224.
This module adds the ``file`` scheme to the registry's factory when it is imported. The string is
the estimator's parameter, so a cloned or saved estimator names its file.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np
import torch

from sigxfer.backbones.files import OnnxBackbone, StateDictBackbone, TorchScriptBackbone, build_file_backbone
from sigxfer.backbones.files import one_line, onnx_session, sniff_kind
from sigxfer.backbones.filespec import KINDS, FileBackboneSpec, sha256_of, verify_file
from sigxfer.backbones.registry import (
    BackboneConfig,
    _load_weights,
    get_backbone_config,
    list_backbones,
    register_backbone,
    register_scheme,
)
from sigxfer.errors import DataError, ModelFileError, ParameterError

#: torchvision's ImageNet normalisation, the convention of most exported networks.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Input side of a ``file:`` backbone whose graph does not fix one.
DEFAULT_INPUT_SIZE = 224
_PROBE_BATCH = 2


# ---------------------------------------------------------------------------------------- public
def register_file_backbone(name: str, path, *, kind: str = "torchscript", architecture: str | None = None,
                           input_size: int | None = None, mean=None, std=None,
                           embedding_dim: int | None = None, overwrite: bool = False) -> BackboneConfig:
    """Register a backbone read from a local file under ``name``.

    Parameters
    ----------
    name : str
        Registry name, then ``TransferClassifier(backbone=name)``.
    path : str or Path
        The file. Its sha256 is recorded; a file that changes afterwards is refused.
    kind : {"torchscript", "state_dict", "onnx"}
        ``torchscript``: a ``torch.jit.save`` module mapping normalised images ``(N, 3, H, W)`` to
        ``(N, d)`` embeddings, or to feature maps ``(N, C, h, w)`` that are averaged to ``(N, C)``.
        ``onnx``: the same mapping as an ONNX graph with one input (run by onnxruntime).
        ``state_dict``: weights for the registered ``architecture`` (``.safetensors`` preferred;
        ``.pt``/``.pth`` are read with ``weights_only=True``). Its classifier weights, if any, are
        ignored (sigxfer puts its own head on), and the keys of a sigxfer model file
        (``backbone.*``) are accepted, so a body fine-tuned in one model can start the next.
    architecture : str, optional
        Registered backbone whose network the ``state_dict`` fits (``kind="state_dict"`` only).
    input_size : int, optional
        Image side in pixels the network expects. Default: the architecture's (``state_dict``),
        the side the ONNX graph fixes (``onnx``); required for ``torchscript``.
    mean, std : 3 floats, optional
        Per-channel normalisation of [0, 1] images. Default: the architecture's (``state_dict``),
        else ImageNet's (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225).
    embedding_dim : int, optional
        Length of the embedding; measured by a forward pass of a dummy batch when None, and
        checked against that pass when given.
    overwrite : bool
        Replace a different backbone registered under ``name``. Registering the same file with the
        same settings again is always allowed.

    Returns
    -------
    BackboneConfig
        The registered config; ``trainable`` is False for ``torchscript`` and ``onnx``.

    Raises
    ------
    ModelFileError
        The file is missing, unreadable, not of ``kind``, or its weights do not fit ``architecture``.
    ParameterError
        Bad arguments, the network rejects ``input_size`` images, its output is not ``(N, d)`` or
        ``(N, C, h, w)``, or ``embedding_dim`` disagrees with it.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "pool.pt"
    >>> torch.jit.script(torch.nn.AdaptiveAvgPool2d(1)).save(str(file))
    >>> config = register_file_backbone("avgpool", file, kind="torchscript", input_size=32)
    >>> config.embedding_dim, config.trainable
    (3, False)
    """
    return _register_file(name, path, kind=kind, architecture=architecture, input_size=input_size, mean=mean,
                          std=std, embedding_dim=embedding_dim, overwrite=overwrite)


def _register_file(name, path, *, kind, architecture=None, input_size=None, mean=None, std=None,
                   embedding_dim=None, overwrite=False, fallback_size=None) -> BackboneConfig:
    """:func:`register_file_backbone`, with ``fallback_size`` for a TorchScript/ONNX input size left open."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ParameterError(f"backbone name {name!r} must be a non-empty string without surrounding spaces")
    if kind not in KINDS:
        raise ParameterError(f"kind={kind!r} is not known; use one of {', '.join(KINDS)}")
    if architecture is not None and kind != "state_dict":
        raise ParameterError(f"architecture= only applies to kind='state_dict', not kind={kind!r}; drop it")
    file = _existing_file(path, kind)
    _check_sniffed_kind(file, kind)
    sha = sha256_of(file)
    if kind == "state_dict":
        spec = _probe_state_dict(name, file, sha, architecture, input_size, mean, std, embedding_dim)
    else:
        spec = _probe_frozen(name, file, sha, kind, input_size, mean, std, embedding_dim, fallback_size)
    return _register(spec, overwrite=overwrite)


def _register_file_scheme(spec: str) -> BackboneConfig:
    """Register ``"file:PATH"`` (an ``.onnx`` or TorchScript file) under that very string.

    Used by :func:`~sigxfer.backbones.get_backbone_config`; see the module docstring for defaults.
    """
    path = Path(spec[len("file:"):]).expanduser()
    if not str(path):
        raise ParameterError(f"backbone {spec!r} names no file; write file:/path/to/model.onnx")
    sniffed = sniff_kind(path) if path.is_file() else None
    if sniffed is None:
        sniffed = "onnx" if path.suffix.lower() == ".onnx" else "torchscript"
    if sniffed == "state_dict":
        raise ParameterError(
            f"{path} holds a state_dict, which needs its architecture: call "
            f"register_file_backbone(name, {str(path)!r}, kind='state_dict', architecture=...) and use that name"
        )
    return _register_file(spec, path, kind=sniffed, fallback_size=DEFAULT_INPUT_SIZE)


def file_backbone_spec(backbone) -> FileBackboneSpec | None:
    """The spec a built backbone module (or a registered name) was read from; None for other backbones.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> file_backbone_spec("tinynet") is None
    True
    >>> spec = file_backbone_spec(create_backbone("file:/models/body.onnx"))  # doctest: +SKIP
    >>> spec.kind, len(spec.sha256)  # doctest: +SKIP
    ('onnx', 64)
    """
    if isinstance(backbone, str):
        if backbone not in list_backbones():  # a name not registered yet is no file backbone
            return None
        origin = get_backbone_config(backbone).origin
        return origin if isinstance(origin, FileBackboneSpec) else None
    return getattr(backbone, "file_spec", None)


def restore_file_backbone(record: Mapping, *, model_path) -> FileBackboneSpec:
    """Register the file backbone a model file was trained with, or check the one registered.

    Called by :func:`sigxfer.load`. ``state_dict`` backbones need only their architecture (the
    model file holds every weight); TorchScript and ONNX backbones need their file, unchanged.

    Raises
    ------
    ModelFileError
        The record is damaged, the file is missing or changed, or ``name`` is registered in this
        session as a different backbone.

    Examples
    --------
    >>> from sigxfer.deploy import read_config
    >>> record = read_config("model.sigx")["backbone"]["file"]  # doctest: +SKIP
    >>> restore_file_backbone(record, model_path="model.sigx").kind  # doctest: +SKIP
    'onnx'
    """
    try:
        spec = FileBackboneSpec.from_record(record)
        if spec.kind not in KINDS:
            raise ValueError(f"unknown kind {spec.kind!r}")
    except (TypeError, ValueError) as err:
        raise ModelFileError(f"{model_path}: its file-backbone record is damaged ({err}); re-train or restore it") from None
    current = file_backbone_spec(spec.name)
    if current is not None:
        same_body = current.kind == spec.kind and (
            current.architecture == spec.architecture if spec.kind == "state_dict" else current.sha256 == spec.sha256)
        if not same_body:
            raise ModelFileError(
                f"{model_path} was trained with backbone {spec.name!r} = {spec.kind} {spec.path} "
                f"(sha256 {spec.sha256[:12]}), but this session registered {spec.name!r} as {current.kind} "
                f"{current.path} (sha256 {current.sha256[:12]}); register that name again with the original file"
            )
        return current
    if spec.name in list_backbones():
        raise ModelFileError(
            f"{model_path} was trained with the file backbone {spec.name!r} ({spec.path}), but that name is "
            "registered in this session as another backbone; load the model in a fresh session"
        )
    if spec.kind != "state_dict":
        file = Path(spec.path)
        if not file.is_file():
            raise ModelFileError(
                f"{model_path} needs its {spec.kind} backbone file {file}, which is missing; put it back "
                f"(sha256 {spec.sha256[:12]}...) or re-train"
            )
        found = sha256_of(file)
        if found != spec.sha256:
            raise ModelFileError(
                f"{model_path} was trained with {file} (sha256 {spec.sha256[:12]}...), but that file has "
                f"changed (sha256 now {found[:12]}...); restore the original file or re-train"
            )
    else:
        try:
            get_backbone_config(spec.architecture)
        except ParameterError as err:
            raise ModelFileError(
                f"{model_path}: its backbone {spec.name!r} is built on architecture {spec.architecture!r}, "
                f"which is not registered ({err})"
            ) from None
    _register(spec, overwrite=False)
    return spec


# ----------------------------------------------------------------------------------------- helpers
def _existing_file(path, kind: str) -> Path:
    if path is None or str(path) == "":
        raise ParameterError(f"give the path of the {kind} backbone file")
    file = Path(path).expanduser()
    if not file.exists():
        raise ModelFileError(f"{file}: no such {kind} backbone file; check the path")
    if not file.is_file():
        raise ModelFileError(f"{file} is a folder; give the {kind} backbone file itself")
    return file.resolve()


def _check_sniffed_kind(file: Path, kind: str) -> None:
    sniffed = sniff_kind(file)
    if sniffed is not None and sniffed != kind:
        what = {"state_dict": "a state_dict", "torchscript": "a TorchScript module", "onnx": "an ONNX model"}
        hint = "kind='state_dict' with architecture=" if sniffed == "state_dict" else f"kind={sniffed!r}"
        raise ModelFileError(f"{file}: holds {what[sniffed]}, not kind={kind!r}; register it with {hint}")


def _probe_frozen(name, file, sha, kind, input_size, mean, std, embedding_dim, fallback_size) -> FileBackboneSpec:
    """Read a TorchScript/ONNX file, settle input_size, and measure the embedding with a dummy batch."""
    mean = _triple("mean", IMAGENET_MEAN if mean is None else mean, name)
    std = _triple("std", IMAGENET_STD if std is None else std, name)
    if kind == "onnx":
        session = onnx_session(file)
        inputs = session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [tuple(i.shape) for i in inputs]
            raise ParameterError(f"{file}: an ONNX backbone needs one image input (N, 3, H, W); it has {shapes}")
        _, channels, height, width = inputs[0].shape
        if isinstance(channels, int) and channels != 3:
            raise ParameterError(f"{file}: its input has {channels} channels; sigxfer's images have 3")
        fixed = (height, width) if isinstance(height, int) and isinstance(width, int) else None
        if input_size is None and fixed is not None and height == width:
            input_size = height
        elif input_size is None and fallback_size is not None:
            input_size = fallback_size
        elif input_size is None:
            raise ParameterError(f"{file}: its input size is not fixed as a square; pass input_size=")
        elif fixed is not None and fixed != (input_size, input_size):
            raise ParameterError(
                f"{file}: the graph takes {height}x{width} images, not input_size={input_size}; "
                f"pass input_size={height} or export it with dynamic height and width"
            )
    elif input_size is None:
        if fallback_size is None:
            raise ParameterError(f"{file}: pass input_size=, the image side the TorchScript network expects")
        input_size = fallback_size
    input_size = _positive_int("input_size", input_size, name)
    spec = FileBackboneSpec(name=name, path=str(file), kind=kind, sha256=sha, input_size=input_size,
                            mean=mean, std=std, embedding_dim=1)
    module = (OnnxBackbone if kind == "onnx" else TorchScriptBackbone)(spec)
    probe = torch.zeros(_PROBE_BATCH, 3, input_size, input_size)
    try:
        out = module.forward_features(probe)
    except DataError as err:
        raise ParameterError(str(err)) from None
    except Exception as err:
        raise ParameterError(
            f"{file}: running it on a {tuple(probe.shape)} batch failed ({one_line(err)}); check input_size"
        ) from None
    measured = int(out.shape[1])
    if not torch.isfinite(out).all():
        raise ParameterError(f"{file}: returned NaN or infinite embeddings for a blank image; check the export")
    if embedding_dim is not None and _positive_int("embedding_dim", embedding_dim, name) != measured:
        raise ParameterError(
            f"{file}: returns {measured}-long embeddings, not embedding_dim={embedding_dim}; "
            "pass the right value or leave it out"
        )
    return dataclasses.replace(spec, embedding_dim=measured)


def _probe_state_dict(name, file, sha, architecture, input_size, mean, std, embedding_dim) -> FileBackboneSpec:
    """Check that the file's tensors fit ``architecture`` by loading them once."""
    if architecture is None:
        raise ParameterError(
            f"{file}: kind='state_dict' needs architecture=, the registered network its weights fit "
            f"(one of {', '.join(list_backbones())})"
        )
    arch = get_backbone_config(architecture)
    if not arch.trainable:
        raise ParameterError(f"architecture {architecture!r} is a frozen file backbone; give a trainable architecture")
    if embedding_dim is not None and _positive_int("embedding_dim", embedding_dim, name) != arch.embedding_dim:
        raise ParameterError(
            f"architecture {architecture!r} gives {arch.embedding_dim}-long embeddings, not "
            f"embedding_dim={embedding_dim}; leave it out"
        )
    spec = FileBackboneSpec(
        name=name, path=str(file), kind="state_dict", sha256=sha, architecture=architecture,
        input_size=_positive_int("input_size", arch.input_size if input_size is None else input_size, name),
        mean=_triple("mean", arch.mean if mean is None else mean, name),
        std=_triple("std", arch.std if std is None else std, name),
        embedding_dim=arch.embedding_dim)
    # The registry's loader reads the file (safetensors or weights-only torch.load) and checks fit.
    _load_weights(StateDictBackbone(architecture), str(file), name)
    return spec


def _register(spec: FileBackboneSpec, *, overwrite: bool) -> BackboneConfig:
    if file_backbone_spec(spec.name) == spec:
        return get_backbone_config(spec.name)  # the same file with the same settings: registering again is harmless
    frozen = spec.kind != "state_dict"
    config = BackboneConfig(
        name=spec.name, input_size=spec.input_size, mean=spec.mean, std=spec.std,
        embedding_dim=spec.embedding_dim,
        weights=f"{spec.kind} file {spec.path} (sha256 {spec.sha256[:12]})"
        + (f" for architecture {spec.architecture}" if spec.architecture else ""),
        licence="the file owner's (a user-supplied file)",
        classifier="classifier",
        builder=partial(build_file_backbone, spec),
        weights_path=None if frozen else partial(_verified_path, spec),
        trainable=not frozen,
        origin=spec,
    )
    register_backbone(config, overwrite=overwrite)
    return config


def _verified_path(spec: FileBackboneSpec) -> str:
    return str(verify_file(spec))


def _triple(label: str, values, name: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ParameterError(f"backbone {name!r}: {label}={values!r} must be 3 numbers, one per channel") from None
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ParameterError(f"backbone {name!r}: {label}={values!r} must be 3 finite numbers, one per channel")
    return values


def _positive_int(label: str, value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ParameterError(f"backbone {name!r}: {label}={value!r} must be a positive integer")
    return int(value)


register_scheme("file", _register_file_scheme)
