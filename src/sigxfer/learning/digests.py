"""Where cached artefacts live and how their names are made: the cache folder and weight digests.

Kept apart from :mod:`.cache` so that the engines (which cache exported graphs) and the embedding
cache (which uses the engines) both depend on it without depending on each other.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

#: Environment variable giving the default cache folder of ``LinearProbe(cache_dir=None)``.
ENV_VAR = "SIGXFER_CACHE_DIR"


def tensor_digest(state: dict[str, torch.Tensor], *, skip_prefix: str | None = None) -> str:
    """SHA-256 of a ``state_dict``'s names, dtypes, shapes and values, in name order.

    Examples
    --------
    >>> a = tensor_digest({"w": torch.zeros(2)})
    >>> a == tensor_digest({"w": torch.zeros(2)}), a == tensor_digest({"w": torch.ones(2)})
    (True, False)
    """
    h = hashlib.sha256()
    for key in sorted(state):
        if skip_prefix is not None and key.startswith(skip_prefix):
            continue
        value = state[key].detach().cpu().contiguous()
        h.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        # Through uint8 so that every dtype (bfloat16 included) hashes its raw bytes.
        h.update(value.reshape(-1).view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return h.hexdigest()


def resolve_cache_dir(cache_dir) -> Path | None:
    """``cache_dir``, else ``$SIGXFER_CACHE_DIR``, else None (no caching).

    Examples
    --------
    >>> resolve_cache_dir("~/x").name
    'x'
    """
    if cache_dir is None:
        cache_dir = os.environ.get(ENV_VAR) or None
    return None if cache_dir is None else Path(cache_dir).expanduser()
