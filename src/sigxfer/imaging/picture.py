"""The ``"picture"`` imaging: cases that already are pictures, with no time-frequency stage.

Image-only data sets (:mod:`sigxfer.data.images`) hold each picture as R, G, B channels of its
pixels row by row, ``(N, 3, H * W)`` in [0, 1]. This transform folds them back to
``(N, 3, H, W)``; the :class:`~sigxfer.imaging.Imager` then resizes them to the backbone's input
and applies its mean and std, so pictures and signals share one network, one model file and one
ONNX graph. The value range is fixed at [0, 1]: nothing is fitted.

:func:`imaging_for_pictures` is the rule that picks this imaging when the data are pictures.
"""

from __future__ import annotations

import math
from numbers import Integral

import torch

from sigxfer.errors import DataError, ParameterError
from sigxfer.imaging import functional as Fn
from sigxfer.imaging.transforms import Transform, register_transform

__all__ = ["Picture", "imaging_for_pictures", "picture_shape", "DEFAULT_IMAGING"]

#: The estimators' default ``imaging=``: for pictures it is read as "not chosen" (see
#: :func:`imaging_for_pictures`).
DEFAULT_IMAGING = "spectrogram"


def _check_side(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ParameterError(f"picture: {name}={value!r} must be a positive number of pixels")
    return int(value)


@register_transform
class Picture(Transform):
    """Pixels ``(N, C, H * W)`` row by row -> pictures ``(N, C, H, W)``, values in [0, 1].

    Parameters
    ----------
    sr : float, optional
        Unused (accepted so every transform takes it).
    height, width : int, optional
        The pictures' shape, as :attr:`sigxfer.SignalSet.image_shape` records it (the estimators
        fill these in from the data). Left out, a series of ``n`` samples is read as the most
        nearly square picture: height the largest divisor of ``n`` not above ``sqrt(n)``.

    Examples
    --------
    >>> t = Picture(height=2, width=3)
    >>> t(torch.arange(6.0).view(1, 1, 6)).shape
    torch.Size([1, 1, 2, 3])
    >>> Picture().shape_for(64 * 64)
    (64, 64)
    """

    name = "picture"
    scale_percentiles = (0.0, 100.0)

    def __init__(self, *, sr=None, height: int | None = None, width: int | None = None):
        super().__init__(sr=sr)
        self.height, self.width = _check_side("height", height), _check_side("width", width)
        if (self.height is None) != (self.width is None):
            raise ParameterError("picture: give both height and width, or neither")
        # Pixels are in [0, 1] already: a fixed scale, the same for every data set.
        self.value_range = (0.0, 1.0)

    def get_params(self) -> dict:
        return {"height": self.height, "width": self.width}

    def shape_for(self, n: int) -> tuple[int, int]:
        """The (height, width) that ``n`` samples fold into.

        Raises
        ------
        DataError
            ``height * width`` is not ``n``.
        """
        if self.height is not None:
            if self.height * self.width != n:
                raise DataError(
                    f"picture: cases of {n} pixels are not {self.height} x {self.width} pictures; load them "
                    f"with load_files(..., image_shape=({self.height}, {self.width}))"
                )
            return self.height, self.width
        height = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
        return height, n // height

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Shapes are known when the graph is built, so this is one Reshape in ONNX, not a branch;
        # -1 keeps the batch dynamic in the exported graph (unflatten would fix it).
        height, width = self.shape_for(int(x.shape[-1]))
        return x.reshape(-1, *(int(s) for s in x.shape[1:-1]), height, width)

    def render(self, u: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Resize to ``size`` (area filter when shrinking); row 0 stays at the top, as in the file."""
        return Fn.resize(u, size)


def imaging_for_pictures(imaging, image_shape):
    """The ``imaging=`` to use for a data set whose cases are pictures of ``image_shape``.

    The rule: for pictures, the estimators' default imaging (``"spectrogram"``, with no parameters,
    which is what the command line passes when ``--imaging`` is not given) is read as "not
    chosen" and becomes ``{"name": "picture", "height": H, "width": W}``; ``"picture"`` gets the
    shape filled in; any other imaging raises, because a spectrogram (or mel, GAF, ...) of a
    picture's pixels read row by row means nothing. Signals (``image_shape=None``) keep
    ``imaging`` as it is.

    Parameters
    ----------
    imaging : str, dict, list, ...
        What the user gave (see :func:`sigxfer.imaging.resolve.resolve_imaging`).
    image_shape : (int, int) or None
        :attr:`sigxfer.SignalSet.image_shape` of the data.

    Returns
    -------
    The imaging unchanged, or the picture imaging as a dict (a list of dicts for a list).

    Raises
    ------
    ParameterError
        Pictures with an imaging made for signals, or a picture shape that is not the data's.

    Examples
    --------
    >>> imaging_for_pictures("spectrogram", (64, 48))
    {'name': 'picture', 'height': 64, 'width': 48}
    >>> imaging_for_pictures("mel", None)
    'mel'
    >>> imaging_for_pictures("mel", (64, 48))
    Traceback (most recent call last):
    ...
    sigxfer.errors.ParameterError: the cases are pictures (64 x 48) and imaging 'mel' reads signals; leave imaging at its default or pass imaging='picture'
    """
    if image_shape is None:
        return imaging
    from sigxfer.imaging.resolve import ImagingSpec, resolve_imaging

    height, width = (int(v) for v in image_shape)
    specs = []
    for spec in resolve_imaging(imaging, multi_view=True):
        if spec.name == DEFAULT_IMAGING and not spec.params:
            spec = ImagingSpec("picture", {})
        if spec.name != "picture":
            raise ParameterError(
                f"the cases are pictures ({height} x {width}) and imaging {spec.label!r} reads signals; "
                "leave imaging at its default or pass imaging='picture'"
            )
        given = (spec.params.get("height"), spec.params.get("width"))
        if given != (None, None) and given != (height, width):
            raise ParameterError(
                f"imaging {spec.label!r} expects {given[0]} x {given[1]} pictures but the data hold "
                f"{height} x {width}; drop height/width (they follow the data) or load with image_shape={given}"
            )
        specs.append({**spec.to_config(), "height": height, "width": width})
    return specs if isinstance(imaging, (list, tuple)) else specs[0]


def picture_shape(imager) -> tuple[int, int] | None:
    """The (height, width) a fitted imager's pictures have, or None when it does not read pictures.

    Examples
    --------
    >>> from sigxfer.imaging import Imager
    >>> picture_shape(Imager("picture", size=8, height=4, width=6)), picture_shape(Imager("waveform"))
    ((4, 6), None)
    """
    transform = imager.transform
    if transform.name != "picture" or transform.height is None:
        return None
    return transform.height, transform.width
