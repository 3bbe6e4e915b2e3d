"""On-disk cache of frozen embeddings: memory-mapped, written batch by batch, resumable.

A linear probe re-trained with another head extracts nothing, and an extraction cut short (an
error, Ctrl-C, a killed job) restarts where it stopped. An entry is one ``.npy`` file (float32,
shape (n_cases, embedding_dim)) named by a SHA-256 of everything the embeddings depend on:

- the signals' bytes, shape and dtype (or, for a chunk iterable, a ``key`` the caller gives);
- the imager's configuration, fitted scale included (:meth:`Imager.get_config`);
- the backbone's name and a digest of its weights (the classifier excluded: it does not touch
  embeddings), which tells ImageNet weights from a random or re-calibrated initialisation;
- the sigxfer version, so a change in how images are made never serves stale embeddings.

While being written, an entry is ``<key>.npy.part`` (a memory-mapped ``.npy`` of the full shape)
beside ``<key>.progress.json``, which says how many rows are done and with which engine; the
sidecar is replaced atomically after the rows it counts are flushed, at most every
``checkpoint_seconds``. A resumed run rebuilds the same engine and batch size, so it computes the
rows it lacks exactly as the first run would have; complete, the part file is renamed into place.
Entries are read with ``allow_pickle=False``; an unreadable or mis-shaped one counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from sigxfer._atomic import atomic_write_text
from sigxfer.errors import ParameterError
from sigxfer.learning.batches import is_array
from sigxfer.learning.digests import ENV_VAR, resolve_cache_dir, tensor_digest  # noqa: F401  (re-exported)
from sigxfer.learning.embeddings import extract_embeddings
from sigxfer.learning.network import SignalNet

#: Entries at least this large come back memory-mapped (read-only) instead of read into memory.
MEMMAP_MIN_BYTES = 64 * 2**20
_HASH_ROWS_BYTES = 16 * 2**20  # hashed this much at a time: never a full copy of the signals


def embedding_key(net: SignalNet, X: np.ndarray | None = None, *, data_key: str | None = None,
                  n_cases: int | None = None) -> str:
    """Cache key of the embeddings of signals ``X`` (or of data named ``data_key``) by ``net``.

    Examples
    --------
    >>> import numpy as np
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> X = np.zeros((2, 1, 64), dtype=np.float32)
    >>> net = SignalNet(Imager("spectrum", size=32).fit(X), create_backbone("tinynet"))
    >>> len(embedding_key(net, X))
    64
    """
    from sigxfer._version import __version__

    backbone = net.backbone
    config = getattr(backbone, "config", None)
    described = {
        "sigxfer": __version__,
        "imager": net.imager.get_config(),
        "views": [imager.get_config() for imager in net.extra_imagers],
        "network": net.get_config(),
        "backbone": getattr(config, "name", type(backbone).__name__),
        "weights": tensor_digest(backbone.state_dict(), skip_prefix="classifier."),
    }
    if data_key is not None:
        described.update(data_key=str(data_key), n_cases=n_cases)
    else:
        described.update(shape=list(X.shape), dtype=str(X.dtype))
    h = hashlib.sha256(json.dumps(described, sort_keys=True).encode())
    if data_key is None:
        rows = max(1, _HASH_ROWS_BYTES // max(1, X[:1].nbytes))
        for i in range(0, len(X), rows):
            h.update(np.ascontiguousarray(X[i:i + rows]).data)  # the bytes of X in C order
    return h.hexdigest()


def _read_entry(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    try:
        emb = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None  # damaged entry: extract again and replace it
    if emb.shape != shape or emb.dtype != np.float32:
        return None
    return emb if emb.nbytes >= MEMMAP_MIN_BYTES else np.array(emb)


def _resume_point(part: Path, sidecar: Path, shape: tuple[int, int]):
    """``(memmap, rows done, engine spec)`` of an interrupted write, or None if there is none usable."""
    try:
        progress = json.loads(sidecar.read_text())
        done = int(progress["done"])
        mm = np.lib.format.open_memmap(part, mode="r+")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if mm.shape != shape or mm.dtype != np.float32 or not 0 <= done <= shape[0] or not progress.get("engine"):
        return None
    return mm, done, progress["engine"]


def cached_embeddings(net: SignalNet, X, *, cache_dir, batch_size: int | None = None,
                      progress: bool | None = None, engine="auto", precision: str = "auto",
                      key: str | None = None, n_cases: int | None = None, record: dict | None = None,
                      on_batch=None, checkpoint_seconds: float = 1.0) -> tuple[np.ndarray, bool]:
    """Embeddings of ``X``, read from ``cache_dir`` when there, else extracted into it (resumably).

    Parameters
    ----------
    net : SignalNet
    X : ndarray (n_cases, n_channels, n_timepoints), or iterable of such arrays
        A chunk iterable needs ``key`` and ``n_cases``; memory then stays that of one chunk.
    cache_dir : str or Path
    batch_size, engine, precision
        As :func:`~sigxfer.learning.embeddings.extract_embeddings`; a resumed write reuses the
        engine it started with instead.
    key : str, optional
        Names the data instead of hashing it (required for a chunk iterable): e.g. a digest of
        the list of files and their modification times.
    n_cases : int, optional
        Cases of a chunk iterable.
    record : dict, optional
        Filled with the engine's record, and ``resumed_from`` when a write was continued.
    on_batch : callable, optional
        ``on_batch(stop)`` after each batch and its progress are saved.
    checkpoint_seconds : float
        Least time between two progress saves (0: after every batch).

    Returns
    -------
    embeddings : ndarray, float32, shape (n_cases, embedding_dim)
        Memory-mapped read-only when at least :data:`MEMMAP_MIN_BYTES`.
    hit : bool
        Whether they came from the cache whole.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> X = np.random.default_rng(0).standard_normal((4, 1, 256)).astype(np.float32)
    >>> net = SignalNet(Imager("spectrum", sr=256.0, size=32).fit(X), create_backbone("tinynet"))
    >>> folder = tempfile.mkdtemp()
    >>> [cached_embeddings(net, X, cache_dir=folder, progress=False)[1] for _ in range(2)]
    [False, True]
    """
    if is_array(X):
        X = np.ascontiguousarray(X.detach().cpu().numpy() if torch.is_tensor(X) else X)
        n = len(X)
        name = embedding_key(net, X) if key is None else embedding_key(net, data_key=key, n_cases=n)
    else:
        if key is None or n_cases is None:
            raise ParameterError("caching embeddings of a chunk iterable needs key= (naming the data) and n_cases=")
        n, name = int(n_cases), embedding_key(net, data_key=key, n_cases=int(n_cases))
    shape = (n, int(net.embedding_dim))
    folder = Path(cache_dir) / "embeddings"
    path, part, sidecar = folder / f"{name}.npy", folder / f"{name}.npy.part", folder / f"{name}.progress.json"
    emb = _read_entry(path, shape) if path.is_file() else None
    if emb is not None:
        return emb, True
    folder.mkdir(parents=True, exist_ok=True)
    resumed = _resume_point(part, sidecar, shape) if part.is_file() and sidecar.is_file() else None
    if resumed is not None:
        mm, start, engine = resumed
    else:
        mm, start = np.lib.format.open_memmap(part, mode="w+", dtype=np.float32, shape=shape), 0
    used: dict = {}
    last = time.monotonic()

    def save(stop: int) -> None:
        nonlocal last
        if stop == n or time.monotonic() - last >= checkpoint_seconds:
            mm.flush()  # rows on disk before the sidecar counts them
            spec = {k: used.get(k) for k in ("engine", "precision", "memory_format", "batch_size", "threads")}
            atomic_write_text(sidecar, json.dumps({"done": int(stop), "n_cases": n, "engine": spec}), overwrite=True)
            last = time.monotonic()
        if on_batch is not None:
            on_batch(stop)

    extract_embeddings(net, X, batch_size=batch_size, engine=engine, precision=precision, progress=progress,
                       n_cases=n, cache_dir=cache_dir, record=used, out=mm, start=start, on_batch=save)
    mm.flush()
    del mm
    os.replace(part, path)
    sidecar.unlink(missing_ok=True)
    if record is not None:
        record.update(used)
        if start:
            record["resumed_from"] = start
    return _read_entry(path, shape), False
