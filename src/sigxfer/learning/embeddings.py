"""Batched embedding extraction with a progress bar."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from sigxfer.learning.network import SignalNet


@torch.no_grad()
def extract_embeddings(net: SignalNet, X: np.ndarray, *, batch_size: int = 32,
                       progress: bool | None = None, desc: str = "embedding") -> np.ndarray:
    """Frozen embeddings of signals.

    Parameters
    ----------
    net : SignalNet
        Its imager must be fitted. Put in eval mode here (BatchNorm uses its running statistics).
    X : ndarray, shape (n_cases, n_channels, n_timepoints)
    progress : bool, optional
        Show a progress bar; ``None`` shows one only on a terminal.

    Returns
    -------
    ndarray, float32, shape (n_cases, embedding_dim)
    """
    net.eval()
    device = next(net.parameters()).device
    out = []
    bar = tqdm(total=len(X), desc=desc, unit="signal", disable=None if progress is None else not progress,
               leave=False)
    with bar:
        for start in range(0, len(X), batch_size):
            batch = torch.as_tensor(X[start:start + batch_size], device=device)
            out.append(net.embed(batch).float().cpu().numpy())
            bar.update(len(batch))
    if not out:
        return np.zeros((0, net.embedding_dim), dtype=np.float32)
    return np.concatenate(out)
