"""Re-estimate BatchNorm statistics on new images.

A randomly initialised network in eval mode normalises with mean 0 and variance 1, so its
activations grow or vanish with depth and its embeddings barely differ between images. Feeding
the training images through it once in BatchNorm-training mode gives a fair random-weights
baseline; it also adapts a pretrained network's statistics to a new domain without training.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
from torch import nn

from sigxfer.errors import ParameterError

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def reestimate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> nn.Module:
    """Replace every BatchNorm's running mean and variance by their average over ``batches``.

    Only the BatchNorm layers run in training mode (dropout stays off); no gradient is computed
    and no weight changes. Statistics are the plain average over batches (``momentum=None``).

    Parameters
    ----------
    model : nn.Module
        Network to calibrate, in place. Uses ``model.forward_features`` when it has one.
    batches : iterable of Tensor
        Images ``(N, C, H, W)`` normalised as the model expects. An ``(images, targets)`` pair,
        as a ``DataLoader`` yields, uses its first item. Batches go to the model's device.

    Returns
    -------
    nn.Module
        ``model``, in eval mode. Left as it was if a batch fails.

    Examples
    --------
    >>> import torch
    >>> from sigxfer.backbones import create_backbone
    >>> net = create_backbone("tinynet", pretrained=False)
    >>> net = reestimate_batchnorm(net, [torch.randn(8, 3, 32, 32) for _ in range(2)])
    >>> bool(net.layers[0][1].running_var.ne(1).any())
    True
    """
    norms = [m for m in model.modules() if isinstance(m, _NORMS) and m.track_running_stats]
    with torch.no_grad():  # also covers batches computed lazily by a generator
        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            raise ParameterError("reestimate_batchnorm got no batches: pass at least one batch of training images")
        if norms:
            _reestimate(model, norms, itertools.chain([first], batches))
    return model.eval()


def _reestimate(model: nn.Module, norms: list[nn.Module], batches: Iterable) -> None:
    reference = next(itertools.chain(model.parameters(), model.buffers()))
    run = getattr(model, "forward_features", model)
    saved = [(m.momentum, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
             for m in norms]
    model.eval()
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average
            m.train()
        for batch in batches:
            if isinstance(batch, (tuple, list)):
                batch = batch[0]
            run(torch.as_tensor(batch).to(device=reference.device, dtype=reference.dtype))
    except BaseException:
        for m, (_, mean, var, count) in zip(norms, saved):
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
            m.num_batches_tracked.copy_(count)
        raise
    finally:
        for m, (momentum, *_) in zip(norms, saved):
            m.momentum = momentum
        model.eval()
