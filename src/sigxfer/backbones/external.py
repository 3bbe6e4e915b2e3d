"""Backbones from a user's own file: TorchScript, a ``state_dict`` for a registered architecture, or ONNX.

``register_file_backbone(name, path, kind=...)`` checks the file once (reads it, runs a dummy
batch, measures the embedding length) and registers a :class:`~sigxfer.backbones.BackboneConfig`
under ``name``, so ``TransferClassifier(backbone=name)`` works like a built-in backbone.

- ``state_dict``: tensors for a registered ``architecture`` (safetensors, or ``.pt``/``.pth`` read
  weights-only). Every strategy applies; a model file keeps every weight, so the original file is
  recorded for provenance only and never read again.
- ``torchscript``: a ``torch.jit.save`` module mapping images to ``(N, d)``, or to ``(N, C, h, w)``
  that is averaged over ``h, w``. Linear probe only; a model file records its path and sha256.
- ``onnx``: the same mapping as an ONNX graph, run by onnxruntime. Linear probe only; a model file
  records its path and sha256. (An ONNX file with external data files is hashed without them.)

TorchScript and ONNX bodies are frozen: their code is not sigxfer's, so sigxfer neither trains them
nor copies them into its model file. The model file names the file and its sha256, and
:func:`sigxfer.load` refuses, naming the file, when it is missing or its bytes have changed.
Reading a TorchScript file runs no arbitrary Python (it is a zip of TorchScript code and tensors,
not a pickle); ``.pt`` state_dicts are read with ``weights_only=True``.

``backbone="file:PATH"`` is the same without a registration call, for ``.onnx`` and TorchScript
files: ImageNet mean and std (torchvision's), and the input size the ONNX graph fixes, else 224.
The string is the estimator's parameter, so a cloned or saved estimator names its file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import zipfile
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sigxfer.backbones.registry import (
    Backbone,
    BackboneConfig,
    get_backbone_config,
    list_backbones,
    register_backbone,
)
from sigxfer.errors import DataError, ModelFileError, ParameterError

KINDS = ("torchscript", "state_dict", "onnx")
#: torchvision's ImageNet normalisation, the convention of most exported networks.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Input side of a ``file:`` backbone whose graph does not fix one.
DEFAULT_INPUT_SIZE = 224
_TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".jit", ".torchscript", ".zip")
_PROBE_BATCH = 2


@dataclasses.dataclass(frozen=True)
class FileBackboneSpec:
    """What was registered: the file, its sha256 and how to read it. JSON-able via :meth:`to_record`."""

    name: str
    path: str
    kind: str
    sha256: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    embedding_dim: int
    architecture: str | None = None

    def to_record(self) -> dict:
        """Plain JSON values, as a model file stores them."""
        return {**dataclasses.asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_record(cls, record: Mapping) -> FileBackboneSpec:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: record[k] for k in fields if k in record}
        values["mean"] = tuple(values.get("mean", ()))
        values["std"] = tuple(values.get("std", ()))
        return cls(**values)


# Specs by name, with the config registered for them (a later register_backbone under the same
# name replaces the config, and the spec then no longer describes the registry's entry).
_SPECS: dict[str, tuple[FileBackboneSpec, BackboneConfig]] = {}


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


def register_file_spec(spec: str) -> BackboneConfig:
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
    """The spec a built backbone module (or a registered name) was read from; None for other backbones."""
    if isinstance(backbone, str):
        entry = _SPECS.get(backbone)
        if entry is None or entry[1] is not _registered_config(backbone):
            return None
        return entry[0]
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


def sha256_of(path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(partial(handle.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sniff_kind(path) -> str | None:
    """Guess a file's kind from its bytes: ``torchscript``, ``state_dict``, ``onnx`` or None."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        # torch.jit.save writes code/ next to the tensors; torch.save writes only data.pkl.
        if any("/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("data.pkl") for n in names):
            return "state_dict"
        return None
    if len(head) >= 9:
        header_len = int.from_bytes(head[:8], "little")
        if 0 < header_len < 100_000_000 and head[8:9] == b"{":
            return "state_dict"  # safetensors: 8-byte header length, then a JSON header
    if path.suffix.lower() == ".onnx":
        return "onnx"  # protobuf has no magic number; trust the suffix
    return None


# --------------------------------------------------------------------------------------- modules
class StateDictBackbone(Backbone):
    """A registered architecture whose weights come from a user's ``state_dict`` file.

    The architecture's own classifier is replaced by this module's (``nn.Identity`` inside the
    body), so a file saved with any number of classes, or none, fits.

    Parameters
    ----------
    architecture : str
        Registered backbone name.
    """

    def __init__(self, architecture: str) -> None:
        arch = get_backbone_config(architecture)
        body = arch.builder()
        super().__init__(arch.embedding_dim, n_classes=1)
        self.classifier_name = arch.classifier
        setattr(body, arch.classifier, nn.Identity())
        self.body = body
        # The architecture's dropout before its classifier keeps acting before ours.
        if isinstance(getattr(body, "dropout", None), nn.Dropout):
            self.dropout = body.dropout
        self.file_spec: FileBackboneSpec | None = None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` -> ``(N, embedding_dim)`` through the architecture's body."""
        return self.body.forward_features(x)

    def stages(self) -> list[nn.Module]:
        return self.body.stages()

    def translate_state_dict(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The file's keys in this module's names: unwrapped, translated by the architecture, classifier dropped."""
        state = dict(state)
        if any(k.startswith("imager.") for k in state):  # a sigxfer model file: keep its backbone
            state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        own = set(self.body.state_dict())
        if not own & set(state) and any(k.startswith("body.") for k in state):  # saved from this wrapper
            state = {k[len("body."):]: v for k, v in state.items() if k.startswith("body.")}
        translate = getattr(self.body, "translate_state_dict", None)
        if translate is not None:
            state = translate(state)
        prefix = self.classifier_name + "."
        out = {"body." + k: v for k, v in state.items() if not k.startswith(prefix)}
        # The head is replaced after building anyway; keep the fresh one so strict loading passes.
        out.update({"classifier." + k: v for k, v in self.classifier.state_dict().items()})
        return out


class _FrozenFileBackbone(Backbone):
    """Common part of TorchScript and ONNX bodies: no gradient, no stages, pooled outputs."""

    kind = ""

    def __init__(self, spec: FileBackboneSpec) -> None:
        super().__init__(spec.embedding_dim, n_classes=1)
        self.file_spec = spec

    def stages(self) -> list[nn.Module]:
        raise ParameterError(
            f"backbone {self.file_spec.name!r} is a frozen {self.kind} file ({self.file_spec.path}) with no "
            "trainable stages; use strategy='linear'"
        )

    def _pooled(self, out, batch: int) -> torch.Tensor:
        out = torch.as_tensor(out)
        if out.dim() == 4:
            out = out.mean(dim=(2, 3))
        if out.dim() != 2 or out.shape[0] != batch:
            raise DataError(
                f"{self.file_spec.path}: returned shape {tuple(out.shape)} for {batch} images; a backbone "
                "file must return embeddings (N, d) or feature maps (N, C, h, w)"
            )
        return out.float()


class TorchScriptBackbone(_FrozenFileBackbone):
    """A frozen TorchScript body read from ``spec.path`` (checked against ``spec.sha256``).

    The body's tensors stay out of this module's ``state_dict``: the file holds them, and a model
    file records the file instead of copying it.
    """

    kind = "torchscript"

    def __init__(self, spec: FileBackboneSpec) -> None:
        super().__init__(spec)
        _verify(spec)
        self.body = _load_torchscript(Path(spec.path))
        self.body.eval()
        self.register_state_dict_post_hook(_drop_body_keys)
        self.register_load_state_dict_pre_hook(_keep_body_keys)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` -> ``(N, embedding_dim)``; feature maps are averaged over h, w."""
        self._check_images(x)
        with torch.no_grad():
            out = self.body(x)
        return self._pooled(out, x.shape[0])

    def train(self, mode: bool = True):
        # Frozen means frozen: the body's BatchNorm statistics must not move when the head trains.
        super().train(mode)
        self.body.eval()
        return self


def _drop_body_keys(module, state_dict, prefix, local_metadata) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "body.")]:
        del state_dict[key]


def _keep_body_keys(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                    error_msgs) -> None:
    # A model file has no body tensors (they are in the backbone file): keep the ones read from it.
    for key, value in module.body.state_dict().items():
        state_dict.setdefault(prefix + "body." + key, value)


class OnnxBackbone(_FrozenFileBackbone):
    """A frozen ONNX body run by onnxruntime on CPU; inputs and outputs cross as numpy arrays."""

    kind = "onnx"

    def __init__(self, spec: FileBackboneSpec) -> None:
        super().__init__(spec)
        _verify(spec)
        self._open()

    def _open(self) -> None:
        self._session = _onnx_session(Path(self.file_spec.path))
        node = self._session.get_inputs()[0]
        self._input_name = node.name
        self._input_dtype = np.float16 if "float16" in node.type else np.float32
        batch = node.shape[0] if node.shape else None
        # A graph exported with a fixed batch size runs that many images at a time.
        self._chunk = batch if isinstance(batch, int) and batch > 0 else None

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` -> ``(N, embedding_dim)``; no gradient flows through ONNX."""
        self._check_images(x)
        images = x.detach().cpu().numpy().astype(self._input_dtype, copy=False)
        if len(images) == 0:
            return torch.zeros(0, self.embedding_dim, device=x.device)
        outs = []
        for start in range(0, len(images), self._chunk or max(len(images), 1)):
            part = images[start:start + (self._chunk or len(images))]
            pad = (self._chunk or len(part)) - len(part)
            if pad:
                part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), dtype=part.dtype)])
            out = self._run(part)
            outs.append(out[:len(out) - pad] if pad else out)
        out = self._pooled(np.concatenate(outs), len(images))
        return out.to(x.device)

    def _run(self, images: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(self._session.run(None, {self._input_name: images})[0])
        except Exception as err:  # onnxruntime raises its own exception types
            raise DataError(
                f"{self.file_spec.path}: onnxruntime failed on images of shape {images.shape} "
                f"({_one_line(err)}); check input_size"
            ) from None

    def __getstate__(self):
        # An onnxruntime session cannot be copied or pickled; it is re-opened from the file.
        state = self.__dict__.copy()
        state.pop("_session", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._open()


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


def _verify(spec: FileBackboneSpec) -> None:
    file = Path(spec.path)
    if not file.is_file():
        raise ModelFileError(f"{file}: backbone {spec.name!r} reads this {spec.kind} file, which is missing; put it back")
    if sha256_of(file) != spec.sha256:
        raise ModelFileError(
            f"{file} changed since backbone {spec.name!r} was registered (sha256 differs); "
            "register it again to use the new file"
        )


def _load_torchscript(file: Path) -> torch.jit.ScriptModule:
    try:
        return torch.jit.load(str(file), map_location="cpu")
    except Exception as err:  # torch raises RuntimeError, ValueError, ... for foreign files
        raise ModelFileError(
            f"{file}: not a TorchScript file ({_one_line(err)}); save it with torch.jit.save, or pass "
            "kind='onnx' / kind='state_dict' for other files"
        ) from None


def _onnx_session(file: Path):
    try:
        import onnxruntime
    except ImportError:
        raise ParameterError("ONNX backbones need onnxruntime; pip install onnxruntime") from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3  # errors only: onnxruntime's warnings are not the user's business
    try:
        return onnxruntime.InferenceSession(str(file), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ModelFileError(
            f"{file}: not a readable ONNX model ({_one_line(err)}); export it with torch.onnx.export, or "
            "pass kind='torchscript' / kind='state_dict' for other files"
        ) from None


def _probe_frozen(name, file, sha, kind, input_size, mean, std, embedding_dim, fallback_size) -> FileBackboneSpec:
    """Read a TorchScript/ONNX file, settle input_size, and measure the embedding with a dummy batch."""
    mean = _triple("mean", IMAGENET_MEAN if mean is None else mean, name)
    std = _triple("std", IMAGENET_STD if std is None else std, name)
    if kind == "onnx":
        session = _onnx_session(file)
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
            f"{file}: running it on a {tuple(probe.shape)} batch failed ({_one_line(err)}); check input_size"
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
    from sigxfer.backbones.registry import _load_weights

    _load_weights(StateDictBackbone(architecture), str(file), name)
    return spec


def _register(spec: FileBackboneSpec, *, overwrite: bool) -> BackboneConfig:
    existing = _SPECS.get(spec.name)
    if existing is not None and existing[0] == spec and existing[1] is _registered_config(spec.name):
        return existing[1]  # the same file with the same settings: registering again is harmless
    frozen = spec.kind != "state_dict"
    config = BackboneConfig(
        name=spec.name, input_size=spec.input_size, mean=spec.mean, std=spec.std,
        embedding_dim=spec.embedding_dim,
        weights=f"{spec.kind} file {spec.path} (sha256 {spec.sha256[:12]})"
        + (f" for architecture {spec.architecture}" if spec.architecture else ""),
        licence="the file owner's (a user-supplied file)",
        classifier="classifier",
        builder=partial(_build, spec),
        weights_path=None if frozen else partial(_verified_path, spec),
        trainable=not frozen,
    )
    register_backbone(config, overwrite=overwrite)
    _SPECS[spec.name] = (spec, config)
    return config


def _build(spec: FileBackboneSpec) -> nn.Module:
    if spec.kind == "state_dict":
        module = StateDictBackbone(spec.architecture)
    else:
        module = (OnnxBackbone if spec.kind == "onnx" else TorchScriptBackbone)(spec)
    module.file_spec = spec
    return module


def _verified_path(spec: FileBackboneSpec) -> str:
    _verify(spec)
    return spec.path


def _registered_config(name: str) -> BackboneConfig | None:
    try:
        return get_backbone_config(name) if name in list_backbones() else None
    except ParameterError:
        return None


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


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."
