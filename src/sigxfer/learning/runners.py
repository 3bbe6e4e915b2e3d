"""What runs a batch: the :class:`Engine` interface and the PyTorch engines (eager or compiled).

Engines are chosen by :func:`sigxfer.learning.engines.choose_engine`; the onnxruntime one is in
:mod:`sigxfer.learning.onnx_engine`. An engine's ``run`` maps one batch of inputs (signals
through a SignalNet, or images through a bare backbone) to float32 features on CPU; ``embed``
runs a whole input through :func:`~sigxfer.learning.batches.iter_batches`, whose producer
thread images the next batch while the backbone reads the current one.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

from sigxfer.errors import ParameterError
from sigxfer.learning.batches import iter_batches

#: Batch of an engine when none is given or calibrated.
DEFAULT_BATCH_SIZE = 16


@dataclasses.dataclass(frozen=True)
class EngineSpec:
    """What an engine is: kind, precision, memory format, batch size, threads and streams.

    ``streams`` (onnxruntime only) splits each batch into that many parts run at once, each on
    ``threads // streams`` threads: on a few cores, small convolutions scale better across
    concurrent runs than across the threads of one.
    """

    engine: str = "torch"
    precision: str = "fp32"
    memory_format: str | None = "channels_last"  # torch kinds only; None for onnxruntime
    batch_size: int = DEFAULT_BATCH_SIZE
    threads: int | None = None  # None: torch.get_num_threads()
    streams: int = 1

    def label(self) -> str:
        parts = [self.engine, self.precision] + ([self.memory_format] if self.memory_format else [])
        return "/".join(parts) + (f" x{self.streams} streams" if self.streams > 1 else "")


def split_model(model: nn.Module) -> tuple[nn.Module | None, nn.Module]:
    """``(pre, body)``: a SignalNet's imager and backbone, or ``(None, backbone)`` for a bare backbone.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> split_model(create_backbone("tinynet"))[0] is None
    True
    """
    if hasattr(model, "imager") and hasattr(model, "backbone"):
        if getattr(model, "plain", True):
            return model.imager, model.backbone
        return _ViewImages(model), _ViewFeatures(model)  # several views or depths: the net's own path
    if hasattr(model, "forward_features"):
        return None, model
    raise ParameterError(f"{type(model).__name__} has neither an imager+backbone nor forward_features")


class _ViewImages(nn.Module):
    """A multi-view (or multi-depth) SignalNet's imaging stage: signals -> its views' images."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.images(x)

    def get_config(self) -> dict:
        return {"views": [imager.get_config() for imager in self.net.imagers], "network": self.net.get_config()}


class _ViewFeatures(nn.Module):
    """Its reading stage: the views' images -> the embedding the head reads (``net.features``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.body = net.backbone
        self.features = net.features
        self.embedding_dim = net.embedding_dim
        self.config = getattr(net.backbone, "config", None)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)

    def state_dict(self, *args, **kwargs):
        return self.body.state_dict(*args, **kwargs)  # the weights the features depend on, keyed as the body's


class Features(nn.Module):
    """``forward = body.forward_features(pre(x))``, a module whose forward is the feature map.

    torch.compile and the ONNX exporter both work on ``forward``, not on ``forward_features``.
    """

    def __init__(self, pre: nn.Module | None, body: nn.Module):
        super().__init__()
        self.pre, self.body = pre, body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body.forward_features(x if self.pre is None else self.pre(x))


def device_of(module: nn.Module) -> torch.device:
    """Device of ``module``'s first parameter (or buffer); CPU for a module with neither."""
    tensor = next(iter(module.parameters()), None)
    if tensor is None:
        tensor = next(iter(module.buffers()), None)
    return torch.device("cpu") if tensor is None else tensor.device


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``threads`` intra-op threads (None: as they are), then restore the count."""
    before = torch.get_num_threads()
    if threads is not None and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


class Engine:
    """Base class: ``run`` one batch; ``embed`` / ``iter_embed`` a whole input."""

    spec: EngineSpec
    record: dict
    device = torch.device("cpu")
    dim = 0  # feature length

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Features ``(k, d)`` float32 on CPU of one batch of inputs ``(k, ...)``."""
        raise NotImplementedError

    def _batches(self, X, **kwargs) -> Iterator[tuple[object, torch.Tensor]]:
        return iter_batches(X, self.spec.batch_size, device=self.device, **kwargs)

    def iter_embed(self, X, *, start: int = 0, progress: bool | None = None, desc: str | None = None,
                   total: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
        """``(where, features)`` per batch of ``X`` (array or chunk iterable), from case ``start`` on."""
        with torch_threads(self.spec.threads):
            for where, batch in self._batches(X, start=start, progress=progress, desc=desc, total=total):
                yield where, self.run(batch).numpy()

    def embed(self, X, *, out: np.ndarray | None = None, start: int = 0, progress: bool | None = None,
              desc: str | None = None, total: int | None = None,
              on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Features of every case of ``X``, shape (n_cases, d), float32.

        With ``out`` (an array or memmap of the full shape) rows are written there from ``start``
        on, and ``on_batch(stop)`` is called after each batch with the number of rows now done.

        Examples
        --------
        >>> from sigxfer.backbones import create_backbone
        >>> engine = TorchEngine(create_backbone("tinynet"), EngineSpec(batch_size=4))
        >>> engine.embed(np.zeros((5, 3, 32, 32), dtype=np.float32)).shape
        (5, 16)
        """
        parts = []
        for where, feats in self.iter_embed(X, start=start, progress=progress, desc=desc, total=total):
            if out is not None:
                out[where] = feats
            else:
                parts.append(feats)
            if on_batch is not None:
                on_batch(where.stop)
        if out is not None:
            return out
        return np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)


class TorchEngine(Engine):
    """Eager (or compiled) PyTorch; the imager runs in the prefetch thread, the backbone here."""

    def __init__(self, model: nn.Module, spec: EngineSpec):
        self.spec, self.record = spec, {}
        self.pre, self.body = split_model(model)
        self.device = device_of(self.body)
        self.dim = int(getattr(self.body, "embedding_dim", 0))
        self.forward = self.body.forward_features
        self._autocast = None
        if spec.precision == "bf16":
            self._autocast = torch.bfloat16
        if spec.engine == "compile":
            # Static shapes (the last batch is padded in run): a dynamic graph would recompile.
            self.forward = torch.compile(Features(None, self.body).eval(), dynamic=False)

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.pre is None else self.pre(x)

    def _batches(self, X, **kwargs):
        return iter_batches(X, self.spec.batch_size, device=self.device, transform=self._images,
                            memory_format=self.spec.memory_format, **kwargs)

    @torch.no_grad()
    def _body(self, images: torch.Tensor) -> torch.Tensor:
        n = len(images)
        if self.spec.engine == "compile" and n < self.spec.batch_size:
            pad = images[:1].expand(self.spec.batch_size - n, *images.shape[1:])
            images = torch.cat([images, pad]).contiguous(memory_format=self._format())
        with torch.autocast(self.device.type, dtype=self._autocast, enabled=self._autocast is not None):
            out = self.forward(images)
        return out[:n].float().cpu()

    def _format(self):
        return torch.channels_last if self.spec.memory_format == "channels_last" else torch.contiguous_format

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        images = self._images(x.to(self.device))
        if images.ndim == 4:
            images = images.contiguous(memory_format=self._format())
        return self._body(images)

    def iter_embed(self, X, *, start=0, progress=None, desc=None, total=None):
        with torch_threads(self.spec.threads):
            for where, images in self._batches(X, start=start, progress=progress, desc=desc, total=total):
                yield where, self._body(images).numpy()
