"""Backbone bodies read from files: TorchScript, ONNX (run by onnxruntime) and ``state_dict``.

Each body is a :class:`~sigxfer.backbones.base.Backbone` built from a
:class:`~sigxfer.backbones.filespec.FileBackboneSpec`:

- ``state_dict``: a registered architecture with the file's tensors (:class:`StateDictBackbone`);
  it trains like any backbone.
- ``torchscript``: a ``torch.jit.save`` module (:class:`TorchScriptBackbone`), frozen.
- ``onnx``: an ONNX graph run by onnxruntime on CPU (:class:`OnnxBackbone`), frozen.

Frozen bodies map images to ``(N, d)`` embeddings, or to ``(N, C, h, w)`` feature maps that are
averaged over ``h, w``; their code is not sigxfer's, so they are neither trained nor copied into
a model file. Reading a TorchScript file runs no arbitrary Python (it is a zip of TorchScript code
and tensors, not a pickle).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sigxfer.backbones.filespec import FileBackboneSpec, verify_file
from sigxfer.backbones.base import Backbone
from sigxfer.backbones.registry import get_backbone_config
from sigxfer.errors import DataError, ModelFileError, ParameterError


def sniff_kind(path) -> str | None:
    """Guess a file's kind from its bytes: ``"torchscript"``, ``"state_dict"``, ``"onnx"`` or None.

    A zip with ``code/`` inside is TorchScript, one with only ``data.pkl`` a ``torch.save``
    state_dict; a safetensors header is a state_dict; an ``.onnx`` suffix is trusted, protobuf
    having no magic number.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "net.pt"
    >>> torch.jit.script(torch.nn.Linear(2, 2)).save(str(file))
    >>> sniff_kind(file)
    'torchscript'
    """
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
        return "onnx"
    return None


def build_file_backbone(spec: FileBackboneSpec) -> Backbone:
    """The body ``spec`` describes, with ``file_spec`` set: what a file backbone's builder returns.

    A ``state_dict`` body is its architecture with a fresh initialisation (the registry loads the
    file's weights); TorchScript and ONNX bodies read their file, checked against its sha256.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from sigxfer.backbones.filespec import sha256_of
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "pool.pt"
    >>> torch.jit.script(torch.nn.AdaptiveAvgPool2d(1)).save(str(file))
    >>> spec = FileBackboneSpec("pool", str(file), "torchscript", sha256_of(file), 32, (0.5,) * 3, (0.5,) * 3, 3)
    >>> build_file_backbone(spec).forward_features(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 3])
    """
    if spec.kind == "state_dict":
        module = StateDictBackbone(spec.architecture)
    else:
        module = (OnnxBackbone if spec.kind == "onnx" else TorchScriptBackbone)(spec)
    module.file_spec = spec
    return module


class StateDictBackbone(Backbone):
    """A registered architecture whose weights come from a user's ``state_dict`` file.

    The architecture's own classifier is replaced by this module's (``nn.Identity`` inside the
    body), so a file saved with any number of classes, or none, fits.

    Parameters
    ----------
    architecture : str
        Registered backbone name.

    Examples
    --------
    >>> import torch
    >>> body = StateDictBackbone("tinynet")
    >>> body.forward_features(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 16])
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
        """The architecture's stages, input first."""
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
        """Refused: a frozen file has no stages to unfreeze."""
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

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from sigxfer.backbones.filespec import sha256_of
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "pool.pt"
    >>> torch.jit.script(torch.nn.AdaptiveAvgPool2d(1)).save(str(file))
    >>> spec = FileBackboneSpec("pool", str(file), "torchscript", sha256_of(file), 32, (0.5,) * 3, (0.5,) * 3, 3)
    >>> list(TorchScriptBackbone(spec).state_dict())
    ['classifier.weight', 'classifier.bias']
    """

    kind = "torchscript"

    def __init__(self, spec: FileBackboneSpec) -> None:
        super().__init__(spec)
        self.body = load_torchscript(verify_file(spec))
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
        """Set the head's mode; the body stays in eval mode, whatever ``mode`` says."""
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
    """A frozen ONNX body run by onnxruntime on CPU; inputs and outputs cross as numpy arrays.

    A graph exported with a fixed batch size is run that many images at a time, the last chunk
    padded with blank images.

    Examples
    --------
    >>> body = OnnxBackbone(spec)  # doctest: +SKIP
    >>> body.forward_features(torch.zeros(4, 3, 224, 224)).shape  # doctest: +SKIP
    torch.Size([4, 1280])
    """

    kind = "onnx"

    def __init__(self, spec: FileBackboneSpec) -> None:
        super().__init__(spec)
        verify_file(spec)
        self._open()

    def _open(self) -> None:
        self._session = onnx_session(Path(self.file_spec.path))
        node = self._session.get_inputs()[0]
        self._input_name = node.name
        self._input_dtype = np.float16 if "float16" in node.type else np.float32
        batch = node.shape[0] if node.shape else None
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
                f"({one_line(err)}); check input_size"
            ) from None

    def __getstate__(self):
        # An onnxruntime session cannot be copied or pickled; it is re-opened from the file.
        state = self.__dict__.copy()
        state.pop("_session", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._open()


def load_torchscript(file: Path) -> torch.jit.ScriptModule:
    """Read a ``torch.jit.save`` file onto the CPU.

    Raises
    ------
    ModelFileError
        The file is not TorchScript.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "net.pt"
    >>> torch.jit.script(torch.nn.Linear(2, 2)).save(str(file))
    >>> load_torchscript(file)(torch.zeros(1, 2)).shape
    torch.Size([1, 2])
    """
    try:
        return torch.jit.load(str(file), map_location="cpu")
    except Exception as err:  # torch raises RuntimeError, ValueError, ... for foreign files
        raise ModelFileError(
            f"{file}: not a TorchScript file ({one_line(err)}); save it with torch.jit.save, or pass "
            "kind='onnx' / kind='state_dict' for other files"
        ) from None


def onnx_session(file: Path):
    """An onnxruntime CPU session on ``file``, with as many threads as torch uses.

    Raises
    ------
    ParameterError
        onnxruntime is not installed.
    ModelFileError
        The file is not a readable ONNX model.

    Examples
    --------
    >>> session = onnx_session(Path("body.onnx"))  # doctest: +SKIP
    >>> [node.shape for node in session.get_inputs()]  # doctest: +SKIP
    [['n', 3, 224, 224]]
    """
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
            f"{file}: not a readable ONNX model ({one_line(err)}); export it with torch.onnx.export, or "
            "pass kind='torchscript' / kind='state_dict' for other files"
        ) from None


def one_line(err: BaseException) -> str:
    """An exception's message on one line of at most 200 characters, for quoting in ours.

    Examples
    --------
    >>> one_line(ValueError("bad\\n   input"))
    'bad input'
    """
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 200 else text[:197] + "..."
