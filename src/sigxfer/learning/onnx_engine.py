"""The onnxruntime engine: imager and backbone exported as one ONNX graph, kept in the cache folder.

The graph maps a batch of inputs (signals (n, c, t) for a SignalNet, images for a bare backbone;
the batch axis dynamic, the case shape fixed) to pooled features. It is exported with the
TorchScript-based exporter (``dynamo=False``) from the modules in eval mode, whose modes are put
back afterwards. An exported graph is stored as ``<cache>/engines/<key>.onnx``, written atomically,
where ``key`` is a SHA-256 of everything the graph depends on: the backbone's weights (its
classifier excluded), the imager's configuration with its fitted scale, the case shape and the
library versions. Without a cache folder the graph lives in memory for the run only.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sigxfer._atomic import atomic_write_bytes
from sigxfer.errors import ParameterError
from sigxfer.learning.batches import iter_batches
from sigxfer.learning.digests import resolve_cache_dir, tensor_digest
from sigxfer.learning.runners import Engine, EngineSpec, Features, split_model

OPSET = 17
INPUT, OUTPUT = "inputs", "features"
# Graphs exported in this process, by key: calibration opens one graph at several batch sizes.
_RECENT: dict[str, bytes] = {}
_RECENT_MAX = 2


def graph_key(pre: nn.Module | None, body: nn.Module, case_shape: tuple[int, ...]) -> str:
    """Cache key of the feature graph of ``pre`` + ``body`` for cases of ``case_shape``.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> len(graph_key(None, create_backbone("tinynet"), (3, 32, 32)))
    64
    """
    import onnxruntime

    from sigxfer._version import __version__

    config = getattr(body, "config", None)
    h = hashlib.sha256(json.dumps({
        "sigxfer": __version__, "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
        "opset": OPSET, "case_shape": list(case_shape),
        "imager": None if pre is None else pre.get_config(),
        "backbone": getattr(config, "name", type(body).__name__),
        "weights": tensor_digest(body.state_dict(), skip_prefix="classifier."),
    }, sort_keys=True, default=str).encode())
    return h.hexdigest()


def export_graph(pre: nn.Module | None, body: nn.Module, example: torch.Tensor) -> bytes:
    """The ONNX bytes of ``body.forward_features(pre(x))``, batch axis dynamic.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> export_graph(None, create_backbone("tinynet"), torch.zeros(2, 3, 32, 32))[:2] != b""
    True
    """
    modules = [m for part in (pre, body) if part is not None for m in part.modules()]
    modes = [m.training for m in modules]
    wrapper = Features(pre, body).eval()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about sizes taken as constants
            torch.onnx.export(wrapper, (example.cpu(),), buffer, dynamo=False, opset_version=OPSET,
                              input_names=[INPUT], output_names=[OUTPUT],
                              dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    finally:
        for module, mode in zip(modules, modes):
            module.training = mode  # the exporter leaves every module in the wrapper's mode
    return buffer.getvalue()


def _session(source, threads: int):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return onnxruntime.InferenceSession(source if isinstance(source, bytes) else str(source),
                                        sess_options=options, providers=["CPUExecutionProvider"])


def open_graph(pre, body, example: torch.Tensor, *, threads: int, cache_dir=None):
    """An InferenceSession of the feature graph, from the cache when there; ``(session, where)``.

    ``where`` is ``"cache"``, ``"exported"`` (and stored) or ``"memory"`` (no cache folder).

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> session, where = open_graph(None, create_backbone("tinynet"), torch.zeros(2, 3, 32, 32), threads=1)
    >>> where, session.get_inputs()[0].name
    ('memory', 'inputs')
    """
    folder = resolve_cache_dir(cache_dir)
    key = graph_key(pre, body, tuple(example.shape[1:]))
    if folder is None:
        if key not in _RECENT:
            while len(_RECENT) >= _RECENT_MAX:
                _RECENT.pop(next(iter(_RECENT)))
            _RECENT[key] = export_graph(pre, body, example)
        return _session(_RECENT[key], threads), "memory"
    path = Path(folder) / "engines" / f"{key}.onnx"
    if path.is_file():
        try:
            return _session(path, threads), "cache"
        except Exception:  # a damaged or foreign file: export again and replace it
            pass
    data = export_graph(pre, body, example)
    atomic_write_bytes(path, data, overwrite=True)
    return _session(path, threads), "exported"


class OnnxEngine(Engine):
    """Feature graph run by onnxruntime's CPU provider; batches cross as numpy arrays.

    With ``spec.streams`` > 1, one session of ``threads // streams`` intra-op threads is called
    from that many threads at once (``InferenceSession.run`` is thread-safe and releases the
    GIL), each on its part of the batch.
    """

    def __init__(self, model: nn.Module, spec: EngineSpec, *, example: torch.Tensor, cache_dir=None, session=None):
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ParameterError("engine='onnxruntime' needs onnxruntime: pip install 'sigxfer[onnx]'") from None
        if spec.precision != "fp32":
            raise ParameterError(f"engine='onnxruntime' runs fp32; got precision={spec.precision!r}")
        threads = spec.threads or torch.get_num_threads()
        streams = int(spec.streams)
        if streams < 1 or streams > threads:
            raise ParameterError(f"streams={streams} must be between 1 and the {threads} threads it shares")
        pre, body = split_model(model)
        self.spec = EngineSpec("onnxruntime", "fp32", None, spec.batch_size, spec.threads, streams)
        self.dim = int(getattr(body, "embedding_dim", 0))
        self.case_shape = tuple(example.shape[1:])
        if session is None:
            self.session, where = open_graph(pre, body, example, threads=threads // streams, cache_dir=cache_dir)
        else:
            self.session, where = session, "shared"
        self.record = {"graph": where}
        self._pool = None
        if streams > 1:
            self._pool = ThreadPoolExecutor(streams, thread_name_prefix="sigxfer-onnx")
            weakref.finalize(self, self._pool.shutdown, wait=False)

    def _run(self, inputs: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: inputs})[0]

    def iter_embed(self, X, *, start=0, progress=None, desc=None, total=None):
        """As :meth:`Engine.iter_embed`; with streams, each stream runs whole batches of its own.

        The batch is cut into per-stream batches (``batch_size // streams``) and up to
        ``streams`` of them are in flight at once, yielded in order: no stream waits for another
        at the end of each batch, as splitting one batch in :meth:`run` would make it.
        """
        if self._pool is None:
            yield from super().iter_embed(X, start=start, progress=progress, desc=desc, total=total)
            return
        per_stream = max(1, self.spec.batch_size // self.spec.streams)
        batches = iter_batches(X, per_stream, start=start, progress=progress, desc=desc, total=total)
        in_flight: collections.deque = collections.deque()
        for where, batch in batches:
            in_flight.append((where, self._pool.submit(self._run, self._inputs(batch))))
            if len(in_flight) >= self.spec.streams:
                done, future = in_flight.popleft()
                yield done, future.result()
        while in_flight:
            done, future = in_flight.popleft()
            yield done, future.result()

    def _inputs(self, x: torch.Tensor) -> np.ndarray:
        inputs = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        if inputs.shape[1:] != self.case_shape:
            raise ParameterError(
                f"the ONNX graph was exported for cases of shape {self.case_shape}, got {inputs.shape[1:]}; "
                "build a new engine for these inputs"
            )
        return inputs

    def run(self, x: torch.Tensor) -> torch.Tensor:
        inputs = self._inputs(x)
        if self._pool is None or len(inputs) < 2:
            return torch.from_numpy(self._run(inputs))
        parts = [p for p in np.array_split(inputs, min(self.spec.streams, len(inputs))) if len(p)]
        return torch.from_numpy(np.concatenate(list(self._pool.map(self._run, parts))))
