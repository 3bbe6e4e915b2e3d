"""On-disk cache of frozen embeddings, so a linear probe re-trained with another head extracts nothing.

An entry is one ``.npy`` file (float32, shape (n_cases, embedding_dim)) named by a SHA-256 of
everything the embeddings depend on:

- the signals' bytes, shape and dtype;
- the imager's configuration, fitted scale included (:meth:`Imager.get_config`);
- the backbone's name and a digest of its weights (the classifier excluded: it does not touch
  embeddings), which tells ImageNet weights from a random or re-calibrated initialisation;
- the sigxfer version, so a change in how images are made never serves stale embeddings.

Files are written to a temporary name and renamed, and read with ``allow_pickle=False``; an
unreadable or mis-shaped entry counts as a miss and is rewritten.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import torch

from sigxfer._atomic import atomic_write_bytes
from sigxfer.learning.embeddings import extract_embeddings
from sigxfer.learning.network import SignalNet

#: Environment variable giving the default cache folder of ``LinearProbe(cache_dir=None)``.
ENV_VAR = "SIGXFER_CACHE_DIR"


def tensor_digest(state: dict[str, torch.Tensor], *, skip_prefix: str | None = None) -> str:
    """SHA-256 of a ``state_dict``'s names, dtypes, shapes and values, in name order."""
    h = hashlib.sha256()
    for key in sorted(state):
        if skip_prefix is not None and key.startswith(skip_prefix):
            continue
        value = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        # Through uint8 so that every dtype (bfloat16 included) hashes its raw bytes.
        h.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return h.hexdigest()


def embedding_key(net: SignalNet, X: np.ndarray) -> str:
    """Cache key of the embeddings of signals ``X`` by ``net``'s imager and backbone."""
    from sigxfer._version import __version__

    X = np.ascontiguousarray(X)
    backbone = net.backbone
    config = getattr(backbone, "config", None)
    h = hashlib.sha256()
    h.update(json.dumps({
        "sigxfer": __version__,
        "shape": list(X.shape),
        "dtype": str(X.dtype),
        "imager": net.imager.get_config(),
        "views": [imager.get_config() for imager in net.extra_imagers],
        "network": net.get_config(),
        "backbone": getattr(config, "name", type(backbone).__name__),
        "weights": tensor_digest(backbone.state_dict(), skip_prefix="classifier."),
    }, sort_keys=True).encode())
    h.update(X.tobytes())
    return h.hexdigest()


def resolve_cache_dir(cache_dir) -> Path | None:
    """``cache_dir``, else ``$SIGXFER_CACHE_DIR``, else None (no caching)."""
    if cache_dir is None:
        cache_dir = os.environ.get(ENV_VAR) or None
    return None if cache_dir is None else Path(cache_dir).expanduser()


def cached_embeddings(net: SignalNet, X: np.ndarray, *, cache_dir, batch_size: int = 32,
                      progress: bool | None = None) -> tuple[np.ndarray, bool]:
    """Embeddings of ``X``, read from ``cache_dir`` when there, else extracted and stored.

    Returns
    -------
    embeddings : ndarray, float32, shape (n_cases, embedding_dim)
    hit : bool
        Whether they came from the cache.
    """
    path = Path(cache_dir) / "embeddings" / f"{embedding_key(net, X)}.npy"
    expected = (len(X), int(net.embedding_dim))
    if path.is_file():
        try:
            emb = np.load(path, allow_pickle=False)
            if emb.shape == expected and emb.dtype == np.float32:
                return emb, True
        except (OSError, ValueError):
            pass  # damaged entry: extract again and replace it
    emb = extract_embeddings(net, X, batch_size=batch_size, progress=progress)
    buffer = io.BytesIO()
    np.save(buffer, emb.astype(np.float32, copy=False), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue(), overwrite=True)
    return emb, False
