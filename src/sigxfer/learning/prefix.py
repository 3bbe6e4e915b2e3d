"""The frozen front of the network, run once per case: fine-tuning the last stages costs only theirs.

When fine-tuning trains the last stages of a backbone whose stages form a chain (and the head),
the stages in front of the first one that learns are frozen and in eval mode, so they give each
case the same maps in every epoch, as long as nothing changes the images between epochs (no
augmentation, no mixup). :class:`FrozenPrefix` runs them once over the training and validation
cases and keeps, per case and view, the map entering the first stage that learns and the pooled
features of the frozen depths the head reads; each step then runs the stages that learn alone.
The result is the same computation in another order: the same weights train, the same way.

Training EfficientNet-Lite0's last 6 of 18 stages at 224 px ran 86 images/s from kept maps (their
one pass included) against 55 through the whole network, and every stage 24 (BENCHMARKS.md).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sigxfer.learning.batches import iter_batches
from sigxfer.learning.memory import available_bytes
from sigxfer.learning.network import SignalNet, pool_map, power_map

#: The kept maps may use at most this share of the memory available when they are made.
MEMORY_SHARE = 0.25
#: Images per batch of the frozen stages' one pass, shared by the views (:func:`front_batch`):
#: eager channels_last runs small batches faster on CPU (BENCHMARKS.md, "Backbone alone": 77
#: images/s at 4, 43 at 32).
FRONT_BATCH = 8


def first_learning_stage(net: SignalNet, groups: list[list[nn.Module]]) -> int | None:
    """Index of the first stage of ``net``'s chain with a parameter in ``groups``' modules.

    ``len(stages)`` when only the head learns; None when the backbone's stages are not a chain,
    or something learns that is neither a stage nor the head (then nothing in front is known
    to be frozen).

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> import numpy as np
    >>> net = SignalNet(Imager("waveform", size=32).fit(np.zeros((2, 1, 64))), create_backbone("tinynet"))
    >>> stages = net.backbone.stages()
    >>> first_learning_stage(net, [[net.head], stages[-1:]]), first_learning_stage(net, [[net.backbone]])
    (2, 0)
    """
    backbone = net.backbone
    if not getattr(backbone, "sequential_stages", False):
        return None
    learning = {id(p) for modules in groups for m in modules for p in m.parameters()}
    stages = list(backbone.stages())
    owners = {id(p): i for i, stage in enumerate(stages) for p in stage.parameters()}
    head = {id(p) for m in (backbone.classifier, getattr(backbone, "dropout", None)) if isinstance(m, nn.Module)
            for p in m.parameters()}
    if learning - head - set(owners):
        return None
    return min((owners[p] for p in learning if p in owners), default=len(stages))


def front_seconds(net: SignalNet, cut: int, *, reps: int = 2) -> float:
    """Measured seconds per image (one case, one view) of the kept maps' one pass, stages before ``cut``.

    What making the kept maps costs: :class:`FrozenPrefix`'s own pass, its pooling of the frozen
    depths included, at the batch :func:`kept_front` gives it, on random images in eager
    PyTorch (slower than the calibrated frozen engine), after one untimed run.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> net = SignalNet(Imager("waveform", size=32).fit(np.zeros((2, 1, 64))), create_backbone("tinynet"))
    >>> front_seconds(net, 2) > 0.0 and front_seconds(net, 0) == 0.0
    True
    """
    if not list(net.backbone.stages())[:cut]:
        return 0.0
    probe = FrozenPrefix.__new__(FrozenPrefix)
    probe._plan(net, cut)
    batch = front_batch(net)
    x = torch.randn(batch, 3 * net.n_views, *tuple(net.imager.size), device=net.device)
    x = x.contiguous(memory_format=torch.channels_last)
    was = net.training
    net.eval()
    seconds = 0.0
    with torch.no_grad():
        for rep in range(reps + 1):  # the first run warms the kernels up and is not counted
            t0 = time.perf_counter()
            probe._front(x)
            if rep:
                seconds += time.perf_counter() - t0
    net.train(was)
    return seconds / (reps * batch * net.n_views)


def front_batch(net: SignalNet, batch_size: int | None = None) -> int:
    """Signals per batch of the kept maps' pass: :data:`FRONT_BATCH` images, shared by the views.

    Eager CPU passes slow down as batches grow: two views of 8 signals (16 images) took 1.5x as
    long per image as 4 signals, and 32 signals 3.3x (EfficientNet-Lite0's first 12 stages).

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> one = Imager("waveform", size=32).fit(np.zeros((2, 1, 64)))
    >>> front_batch(SignalNet(one, create_backbone("tinynet"))), front_batch(SignalNet([one, one], create_backbone("tinynet")))
    (8, 4)
    """
    batch = max(1, FRONT_BATCH // net.n_views)
    return batch if batch_size is None else max(1, min(batch, batch_size))


def entry_shape(net: SignalNet, cut: int) -> tuple[int, ...]:
    """Shape ``(C, H, W)`` of one view's map entering stage ``cut`` (the image's at 0; one probe image run).

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> from sigxfer.imaging import Imager
    >>> net = SignalNet(Imager("waveform", size=32).fit(np.zeros((2, 1, 64))), create_backbone("tinynet"))
    >>> entry_shape(net, 0)
    (3, 32, 32)
    """
    size = tuple(net.imager.size)
    if not cut:
        return (3, *size)
    was = net.training
    net.eval()
    with torch.no_grad():
        x = net.backbone.stage_features(torch.zeros(1, 3, *size, device=net.device), [cut - 1])[0]
    net.train(was)
    return tuple(int(d) for d in x.shape[1:])


class FrozenPrefix:
    """Per case and view: the map entering stage ``cut`` and the pooled features of frozen depths.

    Parameters
    ----------
    net : SignalNet
        The network, its stages before ``cut`` frozen; it is put in eval mode while the maps are made.
    cut : int
        The first stage that learns (:func:`first_learning_stage`), at least 1.
    X : ndarray or list of ndarray
        Signals (n_cases, n_channels, n_timepoints); several arrays are kept one after the other
        (training cases, then validation cases), row ``i`` of :meth:`features` being case ``i``.
    batch_size : int
        Signals imaged and run per batch while the maps are made.
    progress : bool, optional
        A bar over that pass; None shows it on a terminal only.
    """

    def __init__(self, net: SignalNet, cut: int, X, *, batch_size: int = 32, progress: bool | None = False) -> None:
        self._plan(net, cut)
        parts = list(X) if isinstance(X, (list, tuple)) else [X]
        maps, pooled = [], []
        net.eval()
        with torch.no_grad(), tqdm(total=sum(len(part) for part in parts), unit="image", leave=False,
                                   desc=f"frozen stages 0-{self.cut - 1}, once",
                                   disable=None if progress is None else not progress) as bar:
            for part in parts:
                for _, images in iter_batches(part, batch_size, device=net.device, transform=net.images,
                                              memory_format="channels_last"):
                    m, p = self._front(images)
                    maps.append(m)
                    pooled.append(p)
                    bar.update(len(images))
        self.maps = torch.cat(maps) if self.tail_taps else None  # (n, n_views, C, H, W)
        self.pooled = torch.cat(pooled)  # (n, n_views, frozen features)

    def _plan(self, net: SignalNet, cut: int) -> None:
        """What the pass runs and keeps: the stages, the frozen and the tail taps, the pooling."""
        stages = list(net.backbone.stages())
        taps = list(net.taps) if net.taps is not None else [len(stages) - 1]
        self.net, self.cut, self.stages = net, int(cut), stages
        self.pooling = net.pooling if net.taps is not None else "mean"
        self.frozen_taps = [t for t in taps if t < self.cut]
        self.tail_taps = [t for t in taps if t >= self.cut]

    @staticmethod
    def nbytes(net: SignalNet, cut: int, n_cases: int) -> int:
        """Bytes the maps entering stage ``cut`` take for ``n_cases`` cases (one probe image run)."""
        if net.taps is not None and max(net.taps) < cut:
            return 0
        return int(np.prod(entry_shape(net, cut))) * 4 * net.n_views * int(n_cases)

    @staticmethod
    def fits(net: SignalNet, cut: int, n_cases: int) -> bool:
        """Whether the maps for ``n_cases`` fit in :data:`MEMORY_SHARE` of the memory available now."""
        available = available_bytes()
        return available is None or FrozenPrefix.nbytes(net, cut, n_cases) <= MEMORY_SHARE * available

    def _front(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (b, 3 * n_views, H, W) -> maps entering ``cut`` (b, V, C, h, w), frozen pooled (b, V, d)."""
        n, views = len(images), self.net.n_views
        x = images.reshape(n, views, 3, *images.shape[2:]).transpose(0, 1).reshape(n * views, 3, *images.shape[2:])
        pooled = []
        for index, stage in enumerate(self.stages[:self.cut]):
            x = stage(x)
            if index in self.frozen_taps:
                pooled.append(pool_map(x, self.pooling))
        flat = torch.cat(pooled, dim=1) if pooled else x.new_zeros(n * views, 0)
        maps = x.reshape(views, n, *x.shape[1:]).transpose(0, 1).contiguous() if self.tail_taps else x[:0]
        return maps, flat.reshape(views, n, -1).transpose(0, 1).contiguous()

    def features(self, rows) -> torch.Tensor:
        """Embeddings (len(rows), embedding_dim) of the kept cases ``rows``, the stages from ``cut`` run now."""
        rows = torch.as_tensor(np.asarray(rows), dtype=torch.long)
        frozen = self.pooled[rows]
        n, views = len(rows), self.net.n_views
        if not self.tail_taps:
            return power_map(frozen.reshape(n, -1), self.net.power)
        maps = self.maps[rows]
        x = maps.transpose(0, 1).reshape(n * views, *maps.shape[2:]).contiguous(memory_format=torch.channels_last)
        pooled = []
        for index in range(self.cut, max(self.tail_taps) + 1):
            x = self.stages[index](x)
            if index in self.tail_taps:
                pooled.append(pool_map(x, self.pooling))
        tail = torch.cat(pooled, dim=1).reshape(views, n, -1).transpose(0, 1)
        return power_map(torch.cat([frozen, tail], dim=2).reshape(n, -1), self.net.power)

    def outputs(self, rows) -> torch.Tensor:
        """Head outputs of the kept cases ``rows``; dropout before the head acts in training mode."""
        return self.net.head_outputs(self.features(rows))


def keeps(net: SignalNet, cut: int | None, n_cases: int, *, same_images: bool) -> bool:
    """Whether training from stage ``cut`` keeps the maps in front: same images every epoch, a
    chain backbone with frozen stages in front, room in memory for ``n_cases``, and each series
    read once (a shift-averaged net, :attr:`~sigxfer.learning.network.SignalNet.shift`, runs
    every stage on its three copies)."""
    return (same_images and bool(cut) and net.n_copies == 1 and getattr(net.backbone, "sequential_stages", False)
            and FrozenPrefix.fits(net, cut, n_cases))


def kept_front(net: SignalNet, groups: list[list[nn.Module]], X, X_val=None, *, same_images: bool,
               batch_size: int, progress: bool | None = False) -> FrozenPrefix | None:
    """The frozen stages' maps of the training (then validation) cases, when training may start from them.

    None when the images change between epochs (``same_images`` False: augmentation, mixup, or
    processes that split batches), when nothing in front of the learning ``groups`` is frozen, or
    when the maps would not fit in memory.
    """
    cut = first_learning_stage(net, groups)
    if not keeps(net, cut, len(X) + (0 if X_val is None else len(X_val)), same_images=same_images):
        return None
    return FrozenPrefix(net, cut, [X] if X_val is None or not len(X_val) else [X, X_val],
                        batch_size=front_batch(net, batch_size), progress=progress)
