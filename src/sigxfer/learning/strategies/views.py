"""Auto's view embeddings, on a subsample first when the search halves, the other cases on demand.

With many training cases every candidate is first scored on a subsample and only the finalists
on every case (successive halving, :func:`~.selection.score_candidates`). The backbone pass
halves too: each candidate view is embedded on the subsample's cases, and the rest of the cases
only for the views a finalist reads (and the model kept). On 3,000 clips with five
candidate views, of which the finalists read two, that is 2,500 + 2 x 2,500 images instead of
15,000.
"""

from __future__ import annotations

import time

import numpy as np

from sigxfer.learning.strategies.selection import embed_view


class ViewEmbeddings:
    """``embedded[view][pooling] = tap blocks`` over every training case, filled as far as asked.

    Parameters
    ----------
    net : SignalNet
        The network whose views are embedded (its backbone frozen).
    X : ndarray, shape (n_cases, n_channels, n_timepoints)
        The training signals.
    taps, poolings
        What the blocks hold (:func:`~.selection.embed_view`).
    rows : ndarray of int, optional
        The subsample's cases: :meth:`embed` covers only those, :meth:`complete` the others.
        None: every case at once.
    """

    def __init__(self, net, X: np.ndarray, *, taps, poolings, rows=None, batch_size=None):
        self.net, self.X, self.taps, self.poolings, self.batch_size = net, X, taps, tuple(poolings), batch_size
        self.rows = None if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
        if self.rows is not None and len(self.rows) >= len(X):
            self.rows = None
        self.embedded: dict = {}
        self._partial: set = set()
        self.rate: float | None = None  # images per second of the latest pass
        self.images = 0  # images embedded so far

    @property
    def first_cases(self) -> int:
        """Cases :meth:`embed` covers."""
        return len(self.X) if self.rows is None else len(self.rows)

    def _pass(self, view: int, idx, on_batch) -> dict:
        t0 = time.perf_counter()
        X = self.X if idx is None else self.X[idx]
        # The engine is chosen for the whole job (every case), so a first pass on a subsample
        # picks the engine the completion will use too.
        blocks = embed_view(self.net, view, X, taps=self.taps, batch_size=self.batch_size, poolings=self.poolings,
                            on_batch=on_batch, n_cases=len(self.X))
        self.rate = len(X) / max(time.perf_counter() - t0, 1e-6)
        self.images += len(X)
        return blocks

    def embed(self, view: int, on_batch=None) -> None:
        """Embed ``view`` on the first cases (the subsample, or every case)."""
        blocks = self._pass(view, self.rows, on_batch)
        if self.rows is None:
            self.embedded[view] = blocks
            return
        full = {}
        for p, arrays in blocks.items():
            full[p] = []
            for a in arrays:
                out = np.zeros((len(self.X), a.shape[1]), dtype=a.dtype)
                out[self.rows] = a
                full[p].append(out)
        self.embedded[view] = full
        self._partial.add(view)

    def missing(self, views) -> int:
        """Images still to embed before every case of ``views`` is there."""
        rest = len(self.X) - self.first_cases
        return rest * sum(1 for v in set(views) if v in self._partial)

    def complete(self, views, on_batch=None) -> None:
        """Embed the cases outside the subsample for those of ``views`` that lack them."""
        todo = sorted(v for v in set(views) if v in self._partial)
        if not todo:
            return
        rest = np.setdiff1d(np.arange(len(self.X)), self.rows)
        for v in todo:
            blocks = self._pass(v, rest, on_batch)
            for p, arrays in blocks.items():
                for out, a in zip(self.embedded[v][p], arrays):
                    out[rest] = a
            self._partial.discard(v)
