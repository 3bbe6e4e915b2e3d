"""Picture geometry: resizing, pooling and drawing curves, as fixed-size tensor operations.

Everything here is a matrix product, a gather or an elementwise formula with sizes known in
advance, so it runs batched on any device and exports to ONNX with the numbers torch gives
(ONNX's own Resize rounds pixel coordinates differently). Matrices and indices are cached per size.
"""

from __future__ import annotations

import numpy as np
import torch

from sigxfer.imaging import _dft

__all__ = ["interpolate", "pool", "render_band", "render_curve", "resize", "resize_matrix"]


def resize_matrix(n: int, size: int, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Weights taking ``n`` samples to ``size``, shape (size, n); rows sum to 1.

    Growing (``size >= n``): linear interpolation between pixel centres, edges held, exactly
    ``F.interpolate(mode="linear", align_corners=False)``. Shrinking: each output pixel is the
    mean of the input it covers, fractional pixels weighted by their overlap (an area filter), so
    nothing aliases and nothing is skipped. A matrix product exports to ONNX for any pair of sizes,
    where adaptive pooling does not.
    """

    def build():
        weights = np.zeros((size, n))
        rows = np.arange(size)
        if size >= n:
            src = np.clip((rows + 0.5) * (n / size) - 0.5, 0.0, n - 1)
            left = np.floor(src).astype(np.int64)
            right = np.minimum(left + 1, n - 1)
            frac = src - left
            np.add.at(weights, (rows, left), 1.0 - frac)
            np.add.at(weights, (rows, right), frac)
        else:
            edges = np.arange(size + 1) * (n / size)
            cells = np.arange(n)
            overlap = (np.minimum(edges[1:, None], cells[None, :] + 1.0)
                       - np.maximum(edges[:-1, None], cells[None, :]))
            weights = np.clip(overlap, 0.0, None) / (n / size)
        return (torch.as_tensor(weights, dtype=dtype, device=device),)

    return _dft._cached(("resize", n, size, dtype, str(device)), build)[0]


def resize(x: torch.Tensor, size: tuple[int, int], *, flip: bool = False) -> torch.Tensor:
    """Resize maps of shape (..., h, w) to (..., H, W): linear when growing, area when shrinking.

    See :func:`resize_matrix`; the two axes are separable, so the cheaper order is used.
    ``flip=True`` also turns the map upside down (row 0 at the bottom), at no extra cost.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    height, width = size
    if h == height:
        x = x.flip(-2) if flip else x
        return x if w == width else _resize_last(x, width)
    rows = resize_matrix(h, height, dtype=x.dtype, device=x.device)
    if flip:
        rows = rows.flip(0)
    if w == width:
        return rows @ x
    cols = resize_matrix(w, width, dtype=x.dtype, device=x.device).T
    if height * h * w + height * w * width <= h * w * width + height * h * width:
        return (rows @ x) @ cols
    return rows @ (x @ cols)


def interpolate(x: torch.Tensor, size: int) -> torch.Tensor:
    """Linear interpolation of the last axis to ``size`` points, as ``F.interpolate(mode="linear")``.

    Written as two gathers and a blend so that it exports to ONNX with the same numbers (ONNX's
    Resize rounds pixel coordinates differently from torch).
    """
    n = int(x.shape[-1])
    if n == size:
        return x

    def build():
        src = np.clip((np.arange(size) + 0.5) * (n / size) - 0.5, 0.0, n - 1)
        left = np.floor(src).astype(np.int64)
        return (torch.as_tensor(left), torch.as_tensor(np.minimum(left + 1, n - 1)),
                torch.as_tensor(src - left))

    left, right, frac = _dft._cached(("interp", n, size), build)
    frac = frac.to(dtype=x.dtype, device=x.device)
    lo = x.index_select(-1, left.to(x.device))
    hi = x.index_select(-1, right.to(x.device))
    return torch.lerp(lo, hi, frac)


def _resize_last(x: torch.Tensor, size: int) -> torch.Tensor:
    if int(x.shape[-1]) == size:
        return x
    return x @ resize_matrix(int(x.shape[-1]), size, dtype=x.dtype, device=x.device).T


def render_curve(values: torch.Tensor, height: int) -> torch.Tensor:
    """Draw curves as filled plots: column ``j`` is lit from the bottom up to ``values[..., j]``.

    Parameters
    ----------
    values : Tensor, shape (..., W), in [0, 1]
        Height of the curve in each column as a fraction of the image height.
    height : int
        Image height H in pixels.

    Returns
    -------
    Tensor, shape (..., H, W), in [0, 1]
        1 below the curve, 0 above it, and the fractional coverage in the pixel the curve crosses
        (an anti-aliased edge, so small changes in value change the image smoothly).
    """
    # Row 0 is the top of the image, as in every image format.
    rows_from_bottom = torch.arange(height - 1, -1, -1, dtype=values.dtype,
                                    device=values.device).unsqueeze(-1)
    filled = values.unsqueeze(-2) * height - rows_from_bottom
    return filled.clamp(0.0, 1.0)


def render_band(low: torch.Tensor, high: torch.Tensor, height: int, *, thickness: float = 1.0
                ) -> torch.Tensor:
    """Light each column between ``low`` and ``high`` (fractions of the height), anti-aliased.

    The band is widened by ``thickness / 2`` pixels on each side, so a flat line is still drawn
    ``thickness`` pixels thick. Shapes as :func:`render_curve`.
    """
    pad = 0.5 * thickness / height
    return render_curve(high + pad, height) - render_curve(low - pad, height)


def pool(x: torch.Tensor, length: int) -> torch.Tensor:
    """Average-pool the last axis down to ``length`` points (unchanged when it is that short already).

    Each output point is the mean of the samples in its share of the signal, so a long series
    shrinks without aliasing; the Gramian and recurrence encodings then cost O(length ** 2),
    not O(n ** 2).
    """
    if int(x.shape[-1]) <= length:
        return x
    return _resize_last(x, length)
