"""Frozen embeddings of signals, through the engine :func:`~sigxfer.learning.engines.choose_engine` picks."""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections.abc import Callable

import numpy as np
import torch

from sigxfer.errors import ParameterError
from sigxfer.learning import distributed
from sigxfer.learning.batches import is_array, n_cases_of
from sigxfer.learning.engines import Engine, EngineSpec, choose_engine
from sigxfer.learning.network import SignalNet

#: Cases read ahead from a chunk iterable to calibrate the engine on (they are not lost).
SAMPLE_CASES = 32

_SHARED: contextvars.ContextVar = contextvars.ContextVar("sigxfer_shared_engine", default=None)


class SharedEngine:
    """One engine for a job that reaches the network in pieces (``predict_files``' batches).

    Each piece alone may be too small to calibrate an engine for (fewer than
    :data:`~sigxfer.learning.engines.CALIBRATION_MIN_CASES` cases), yet the job is not: inside
    :meth:`active`, a frozen pass of ``net`` asked for ``engine="auto"`` uses the engine the first
    piece chose as for ``n_cases()`` cases in all, and shows no progress bar of its own (the job
    shows one). Enter :meth:`active` around each piece, not across a ``yield``.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> X = np.random.default_rng(0).standard_normal((4, 1, 256)).astype(np.float32)
    >>> net = SignalNet(Imager("spectrum", sr=256.0, size=32).fit(X), create_backbone("tinynet"))
    >>> shared = SharedEngine(net, n_cases=lambda: 4)
    >>> with shared.active():
    ...     first = extract_embeddings(net, X[:2])
    >>> chosen = shared.engine
    >>> with shared.active():
    ...     second = extract_embeddings(net, X[2:])
    >>> chosen is not None and shared.engine is chosen
    True
    """

    def __init__(self, net: SignalNet, *, n_cases: Callable[[], int]):
        self.net, self.n_cases = net, n_cases
        self.engine: Engine | None = None

    @contextlib.contextmanager
    def active(self):
        token = _SHARED.set(self)
        try:
            yield self
        finally:
            _SHARED.reset(token)


def _peek(X, k: int):
    """``(X_again, first_cases)``: up to ``k`` cases of a chunk iterable, without consuming it."""
    iterator = iter(X)
    head, held = [], 0
    for chunk in iterator:
        head.append(chunk)
        held += len(chunk)
        if held >= k:
            break
    sample = np.concatenate([np.asarray(c) for c in head])[:k] if head else np.zeros((0,), np.float32)
    return itertools.chain(head, iterator), sample


def resolve_engine(net: SignalNet, X, *, engine="auto", precision: str = "auto", batch_size: int | None = None,
                   n_cases: int | None = None, cache_dir=None):
    """``(X, Engine)``: ``engine`` as given (an Engine), rebuilt (an EngineSpec or its dict), or chosen.

    ``X`` comes back unchanged for arrays; a chunk iterable comes back re-chained after the cases
    read to calibrate on.
    """
    if isinstance(engine, Engine):
        return X, engine
    if is_array(X):
        sample = X
    else:
        X, sample = _peek(X, SAMPLE_CASES)
    if isinstance(engine, dict):
        engine = EngineSpec(**{k: engine[k] for k in ("engine", "precision", "memory_format", "batch_size",
                                                      "threads", "streams") if k in engine})
    if isinstance(engine, EngineSpec):
        return X, choose_engine(net, sample, n_cases=n_cases, engine=engine.engine, precision=engine.precision,
                                memory_format=engine.memory_format or "auto", batch_size=engine.batch_size,
                                threads=engine.threads, cache_dir=cache_dir, calibrate=False)
    if not isinstance(engine, str):
        raise ParameterError(f"engine={engine!r} must be a name ('auto', 'torch', ...), an EngineSpec or an Engine")
    return X, choose_engine(net, sample, n_cases=n_cases, engine=engine, precision=precision,
                            batch_size=batch_size, cache_dir=cache_dir)


@torch.no_grad()
def extract_embeddings(net: SignalNet, X, *, batch_size: int | None = None, engine="auto",
                       precision: str = "auto", progress: bool | None = None, desc: str = "embedding",
                       n_cases: int | None = None, cache_dir=None, record: dict | None = None,
                       out: np.ndarray | None = None, start: int = 0,
                       on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Frozen embeddings of signals.

    Parameters
    ----------
    net : SignalNet
        Its imager must be fitted. Put in eval mode here (BatchNorm uses its running statistics).
    X : ndarray (n_cases, n_channels, n_timepoints), or iterable of such arrays
        Signals, or chunks of them (a generator reading files: memory stays that of one chunk
        when ``out`` is given).
    batch_size : int, optional
        Signals per forward pass; None lets the engine's calibration choose.
    engine : str, EngineSpec, dict or Engine
        ``"auto"`` (measured, :func:`~sigxfer.learning.engines.choose_engine`), ``"torch"``,
        ``"compile"``, ``"onnxruntime"``; a spec rebuilds that exact engine; an Engine is used as is.
    precision : {"auto", "fp32", "bf16"}
    progress : bool, optional
        Show a progress bar; ``None`` shows one only on a terminal.
    n_cases : int, optional
        Number of cases of a chunk iterable (for the calibration and the progress bar).
    cache_dir : str or Path, optional
        Where an exported ONNX graph is kept (see :mod:`sigxfer.learning.onnx_engine`).
    record : dict, optional
        Filled with the engine's record (choice, reason, measured speeds) before the first batch.
    out : ndarray or memmap, shape (n_cases, embedding_dim), optional
        Write rows here instead of returning a new array; rows before ``start`` are left alone.
    start : int
        First case to embed (a resumed run); earlier cases are skipped, not imaged.
    on_batch : callable, optional
        ``on_batch(stop)`` after each batch, ``stop`` being the number of rows done.

    Returns
    -------
    ndarray, float32, shape (n_cases, embedding_dim)
        ``out`` itself when given. Under ``torchrun`` (an array ``X``, no ``out``) each rank embeds
        a shard and every rank gets all rows.

    Examples
    --------
    >>> import numpy as np
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> X = np.random.default_rng(0).standard_normal((4, 1, 256)).astype(np.float32)
    >>> net = SignalNet(Imager("spectrum", sr=256.0, size=32).fit(X), create_backbone("tinynet"))
    >>> extract_embeddings(net, X, progress=False).shape
    (4, 16)
    """
    net.eval()
    n = n_cases if n_cases is not None else n_cases_of(X)
    dim = int(net.embedding_dim)
    if n == 0:
        return out if out is not None else np.zeros((0, dim), dtype=np.float32)
    ctx = distributed.distributed_context()  # joined first: ranks then agree on the engine
    shared = _SHARED.get()
    if shared is not None and shared.net is net and isinstance(engine, str) and engine == "auto":
        if shared.engine is None:
            X, shared.engine = resolve_engine(net, X, precision=precision, batch_size=batch_size,
                                              n_cases=max(n, int(shared.n_cases())), cache_dir=cache_dir)
        chosen, progress = shared.engine, False
    else:
        X, chosen = resolve_engine(net, X, engine=engine, precision=precision, batch_size=batch_size, n_cases=n,
                                   cache_dir=cache_dir)
    if record is not None:
        record.update(chosen.record)
    if ctx.enabled and is_array(X) and out is None and start == 0 and on_batch is None:
        part = distributed.shard(n, ctx)
        local = chosen.embed(X[part], progress=progress and ctx.is_main, desc=desc)
        return distributed.gather_rows(local, n, ctx)
    return chosen.embed(X, out=out, start=start, progress=progress, desc=desc,
                        total=None if n is None else n - start, on_batch=on_batch)
