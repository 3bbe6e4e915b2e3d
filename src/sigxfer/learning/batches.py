"""The one batching iterator: every pass over signals goes through :func:`iter_batches`.

Precision, memory format, device placement, prefetching and the progress bar live here, so the
frozen extraction, the training loop, evaluation and prediction all batch the same way.

Input is either an array-like of cases (``ndarray``, ``np.memmap``, ``torch.Tensor``; indexed by
slices or index arrays) or any iterable of array chunks ``(k_i, ...)`` (a generator reading files,
for data larger than memory), which is re-cut into batches of ``batch_size`` without ever holding
more than one chunk and one batch.

With ``prefetch`` a producer thread reads (and, with ``transform``, images) the next batch while
the caller's network works on the current one. Torch and onnxruntime release the GIL in their
kernels, so the two overlap on a multi-core CPU.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from sigxfer.errors import DataError, ParameterError

#: Batches the producer thread may hold ready ahead of the consumer (``prefetch=True``).
PREFETCH_DEPTH = 2

MEMORY_FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format, None: None}

_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def is_array(X) -> bool:
    """Whether ``X`` is indexed as one array of cases rather than iterated as chunks.

    Examples
    --------
    >>> is_array(np.zeros((3, 1, 8))), is_array(iter([np.zeros((3, 1, 8))]))
    (True, False)
    """
    return isinstance(X, (np.ndarray, torch.Tensor))


def n_cases_of(X) -> int | None:
    """Number of cases of an array; None for a chunk iterable (its length is not known up front).

    Examples
    --------
    >>> n_cases_of(np.zeros((3, 1, 8)))
    3
    """
    return int(len(X)) if is_array(X) else None


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ParameterError(f"batch_size={batch_size!r} must be a positive integer")
    return int(batch_size)


def _array_batches(X, batch_size: int, start: int, indices) -> Iterator[tuple[object, object]]:
    if indices is not None:
        for idx in indices:
            idx = np.asarray(idx)
            yield idx, X[torch.as_tensor(idx) if torch.is_tensor(X) else idx]
        return
    for lo in range(start, len(X), batch_size):
        sl = slice(lo, min(lo + batch_size, len(X)))
        yield sl, X[sl]


def _chunk_batches(chunks: Iterable, batch_size: int, start: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Re-cut chunks of any sizes into batches of ``batch_size`` (the last may be smaller)."""
    pending: list[np.ndarray] = []
    held = 0  # cases in pending
    position = 0  # cases seen so far, skipped ones included
    emitted = start
    shape = None
    for i, chunk in enumerate(chunks):
        chunk = chunk.detach().cpu().numpy() if torch.is_tensor(chunk) else np.asarray(chunk)
        if chunk.ndim < 1:
            raise DataError(f"chunk {i} is a scalar; each chunk must be an array of cases (k, ...)")
        if shape is None:
            shape = chunk.shape[1:]
        elif chunk.shape[1:] != shape:
            raise DataError(
                f"chunk {i} holds cases of shape {chunk.shape[1:]} but earlier chunks {shape}; "
                "give every chunk the same (n_channels, n_timepoints)"
            )
        lo, position = position, position + len(chunk)
        if position <= start:
            continue  # before the resume point: read, never imaged
        if lo < start:
            chunk = chunk[start - lo:]
        pending.append(chunk)
        held += len(chunk)
        while held >= batch_size:
            joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
            batch, rest = joined[:batch_size], joined[batch_size:]
            pending, held = ([rest] if len(rest) else []), len(rest)
            yield slice(emitted, emitted + batch_size), batch
            emitted += batch_size
    if held:
        joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
        yield slice(emitted, emitted + held), joined


@torch.no_grad()
def _prepare(batch, *, device, dtype, transform, memory_format):
    if torch.is_tensor(batch):
        x = batch
    else:
        batch = np.ascontiguousarray(batch)
        # A read-only view (np.load(..., mmap_mode="r")) is copied: torch wants writable memory.
        x = torch.from_numpy(batch if batch.flags.writeable else batch.copy())
    if device is not None and torch.device(device).type == "cuda" and x.device.type == "cpu":
        x = x.pin_memory()
    x = x.to(device=device, dtype=dtype, non_blocking=True)
    if transform is not None:
        x = transform(x)
    if memory_format is not None and x.ndim == 4:
        x = x.contiguous(memory_format=memory_format)
    return x


def _prefetched(items: Iterator, depth: int) -> Iterator:
    """Run ``items`` in a producer thread, ``depth`` results ahead; errors re-raise in the caller."""
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            # Grad mode is per thread: batches are prepared without a graph, as in the caller's
            # no_grad passes (the imager has no weights).
            with torch.no_grad():
                for item in items:
                    if not put(item):
                        return
            put(_DONE)
        except BaseException as err:  # handed to the consumer, which re-raises it
            put(_Failure(err))

    worker = threading.Thread(target=produce, name="sigxfer-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()  # the consumer stopped early (break, error): let the producer end
        worker.join()


def iter_batches(X, batch_size: int = 32, *, indices: Sequence | None = None, start: int = 0,
                 device=None, dtype: torch.dtype | None = torch.float32,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 memory_format: str | None = None, prefetch: bool | int = True,
                 progress: bool | None = False, desc: str | None = None,
                 total: int | None = None) -> Iterator[tuple[object, torch.Tensor]]:
    """Batches of cases as tensors, in order, each with where it came from.

    Parameters
    ----------
    X : array-like (n_cases, ...) or iterable of arrays (k_i, ...)
        An ``ndarray``, ``np.memmap`` or tensor is sliced; anything else is iterated as chunks of
        cases (of any sizes; every case of the same shape) and re-cut into batches.
    batch_size : int
        Cases per batch; the last batch may be smaller.
    indices : sequence of int arrays, optional
        Arrays only: yield exactly these batches (``X[idx]`` for each ``idx``), e.g. a shuffled
        epoch. ``batch_size`` and ``start`` are then ignored.
    start : int
        Skip the first ``start`` cases (a resumed pass). Skipped chunks are read but not converted.
    device : torch.device or str, optional
        Where the tensors go (pinned host memory first for CUDA).
    dtype : torch.dtype, optional
        Dtype of the raw batch before ``transform`` (float32 signals by default; None keeps it).
    transform : callable, optional
        ``Tensor -> Tensor`` applied to each batch on ``device``, e.g. the imager, without
        gradient; it runs in the producer thread when prefetching.
    memory_format : {"channels_last", "contiguous"}, optional
        Memory layout of 4-D results (images); None leaves them as ``transform`` returns them.
    prefetch : bool or int
        Prepare batches in a producer thread, ``PREFETCH_DEPTH`` (or this many) ahead.
    progress : bool, optional
        Progress bar over cases; None shows one only on a terminal, False (default) none.
    desc : str, optional
        Label of the progress bar.
    total : int, optional
        Cases expected, for the progress bar of a chunk iterable (arrays know their length).

    Yields
    ------
    where : slice or ndarray
        Positions of the batch's cases in ``X``: a ``slice`` (contiguous passes) or the index
        array given in ``indices``.
    batch : Tensor, shape (k, ...)
        The batch after ``dtype``, ``device``, ``transform`` and ``memory_format``.

    Raises
    ------
    ParameterError
        ``batch_size``, ``start`` or ``memory_format`` is invalid, or ``indices`` comes with chunks.
    DataError
        Chunks of different case shapes.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((10, 1, 64), dtype=np.float32)
    >>> [(where.start, tuple(b.shape)) for where, b in iter_batches(X, 4)]
    [(0, (4, 1, 64)), (4, (4, 1, 64)), (8, (2, 1, 64))]
    >>> chunks = (X[i:i + 3] for i in range(0, 10, 3))  # a generator: re-cut into batches of 4
    >>> [len(b) for _, b in iter_batches(chunks, 4)]
    [4, 4, 2]
    """
    batch_size = _check_batch_size(batch_size)
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ParameterError(f"start={start!r} must be a non-negative integer")
    if memory_format not in MEMORY_FORMATS:
        raise ParameterError(f"memory_format={memory_format!r} is not known; use 'channels_last', 'contiguous' or None")
    fmt = MEMORY_FORMATS[memory_format]
    if is_array(X):
        raw = _array_batches(X, batch_size, int(start), indices)
        if total is None:
            total = sum(len(i) for i in indices) if indices is not None else max(0, len(X) - start)
    elif indices is not None:
        raise ParameterError("indices= needs an array X; a chunk iterable can only be read in order")
    elif isinstance(X, (str, bytes, dict)) or not isinstance(X, Iterable):
        raise DataError(f"X of type {type(X).__name__} is neither an array of cases nor an iterable of array chunks")
    else:
        raw = _chunk_batches(X, batch_size, int(start))
    items = ((where, _prepare(b, device=device, dtype=dtype, transform=transform, memory_format=fmt))
             for where, b in raw)
    if prefetch:
        items = _prefetched(items, PREFETCH_DEPTH if prefetch is True else int(prefetch))
    bar = tqdm(total=total, desc=desc, unit="signal", leave=False,
               disable=None if progress is None else not progress)
    try:
        with bar:
            for where, batch in items:
                yield where, batch
                bar.update(len(batch))
    finally:
        items.close()  # stops the producer thread now when the caller leaves the loop early
