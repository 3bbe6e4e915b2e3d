"""Auto's view embeddings: one view's frozen pass, and every view on a subsample first when the
search halves, the other cases on demand.

:func:`embed_view` runs one view (imaging + backbone) on the fastest calibrated engine and keeps
the pooled map of every depth the multi-depth features tap.

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
import torch
from torch import nn

from sigxfer.learning.network import SignalNet, plane_images, pool_map, power_map, read_planes


@torch.no_grad()
def _view_blocks(net: SignalNet, index: int, x: torch.Tensor, taps, poolings=("mean",)) -> dict:
    images = net.imagers[index](x)
    if taps is None:
        return {"mean": [net.backbone.forward_features(images)]}
    maps = net.backbone.stage_features(images, taps)
    return {p: [pool_map(m, p) for m in maps] for p in poolings}


class _TapImages(nn.Module):
    """One view's imaging stage (each copy's images side by side with a shift, as
    :meth:`SignalNet.images`); its configuration names what the graph after it reads."""

    def __init__(self, imager: nn.Module, taps, poolings, shift: float = 0.0, power: float = 1.0):
        super().__init__()
        self.imager, self.taps, self.poolings = imager, None if taps is None else list(taps), list(poolings)
        self.shift, self.power = float(shift), float(power)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return plane_images([self.imager], x, self.shift)

    def get_config(self) -> dict:
        return {"imager": self.imager.get_config(), "taps": self.taps, "poolings": self.poolings,
                "shift": self.shift, "power": self.power}


class _TapFeatures(nn.Module):
    """Images -> every pooled tap block side by side (pooling by pooling, taps deepest last), each
    the mean over the copies when the images hold several (a shift), through the net's power map
    (element by element, so a candidate's blocks picked from them are what the net reads)."""

    def __init__(self, backbone: nn.Module, taps, poolings, n_copies: int = 1, power: float = 1.0):
        super().__init__()
        self.body, self.taps, self.poolings = backbone, None if taps is None else list(taps), list(poolings)
        self.n_copies, self.power = int(n_copies), float(power)
        self.config = getattr(backbone, "config", None)
        self.embedding_dim = 0  # set by view_engine once the block widths are known

    def _blocks(self, images: torch.Tensor) -> torch.Tensor:
        if self.taps is None:
            return self.body.forward_features(images)
        maps = self.body.stage_features(images, self.taps)
        return torch.cat([pool_map(m, p) for p in self.poolings for m in maps], dim=1)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return power_map(read_planes(self._blocks, images, 1, self.n_copies), self.power)

    def state_dict(self, *args, **kwargs):
        return self.body.state_dict(*args, **kwargs)  # the weights the features depend on, keyed as the body's


class _TapNet(nn.Module):
    """An imager + body pair as the engines take it (``split_model`` reads ``imager`` and ``backbone``)."""

    plain = True

    def __init__(self, imager: nn.Module, backbone: nn.Module):
        super().__init__()
        self.imager, self.backbone = imager, backbone


@torch.no_grad()
def view_engine(net: SignalNet, index: int, X: np.ndarray, *, taps, poolings=("mean",), n_cases=None):
    """``(engine, widths)``: the fastest frozen engine of one view's pooled taps, and each block's width.

    The engine is chosen by :func:`~sigxfer.learning.engines.choose_engine` (calibrated once per
    view and machine, then kept), so the blocks are those of fp32 eager within its tolerance.
    """
    from sigxfer.learning.engines import choose_engine

    net.eval()
    poolings = ("mean",) if taps is None else tuple(poolings)
    device = next(net.parameters()).device
    blocks = _view_blocks(net, index, torch.as_tensor(X[:1], device=device), taps, poolings)
    widths = {p: [int(b.shape[1]) for b in arrays] for p, arrays in blocks.items()}
    body = _TapFeatures(net.backbone, taps, poolings, n_copies=net.n_copies, power=net.power)
    body.embedding_dim = sum(sum(w) for w in widths.values())
    model = _TapNet(_TapImages(net.imagers[index], taps, poolings, shift=net.shift, power=net.power), body)
    engine = choose_engine(model, X, n_cases=len(X) if n_cases is None else n_cases)
    return engine, widths


def measure_rate(net: SignalNet, X: np.ndarray, *, taps, poolings=("mean",)) -> float:
    """Images per second of one view (imaging + backbone) on this machine's chosen engine.

    The calibrated rate where the engine was calibrated (the choice is kept, so embedding the
    first view reuses it); else timed on a few training signals after one untimed batch.

    Examples
    --------
    >>> measure_rate(net, X, taps=None) > 0  # doctest: +SKIP
    True
    """
    engine, _ = view_engine(net, 0, X, taps=taps, poolings=poolings)
    rate = engine.record.get("images_per_s")
    if rate:
        return float(rate)
    pick = torch.as_tensor(X[:max(1, min(len(X), engine.spec.batch_size))])
    engine.run(pick)
    start = time.perf_counter()
    engine.run(pick)
    return len(pick) / max(time.perf_counter() - start, 1e-6)


@torch.no_grad()
def embed_view(net: SignalNet, index: int, X: np.ndarray, *, taps, batch_size: int | None = None,
               poolings=("mean",), on_batch=None, n_cases: int | None = None) -> dict[str, list[np.ndarray]]:
    """Pooled blocks of one view: per pooling, one array (n_cases, width) per tap, deepest last.

    With ``taps=None`` the one block is the backbone's ``forward_features`` (mean pooling only).
    For a backbone with a stage chain the mean-pooled deepest tap equals it, so "last" and
    "multi" candidates share one pass, and so do both poolings. The pass runs on the engine
    :func:`view_engine` chooses (``batch_size`` is that engine's to choose and is not used) for a
    job of ``n_cases`` (default: ``len(X)``; more when ``X`` is the first part of a larger job).
    """
    engine, widths = view_engine(net, index, X, taps=taps, poolings=poolings, n_cases=n_cases)
    done = [0]

    def counted(stop: int) -> None:
        if on_batch is not None:
            on_batch(stop - done[0])
        done[0] = stop

    flat = engine.embed(X, on_batch=counted).astype(np.float64)
    out, at = {}, 0
    for p, ws in widths.items():
        out[p] = []
        for w in ws:
            out[p].append(flat[:, at:at + w])
            at += w
    return out


class ViewEmbeddings:
    """``embedded[view][pooling] = tap blocks`` over every training case, filled as far as asked.

    Parameters
    ----------
    net : SignalNet
        The network whose views are embedded (its backbone frozen).
    X : ndarray, shape (n_cases, n_channels, n_timepoints)
        The training signals.
    taps, poolings
        What the blocks hold (:func:`embed_view`).
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
