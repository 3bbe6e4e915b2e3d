"""Pictures as cases: photographs and drawings read as RGB in [0, 1], all at one shape.

An image-only data set (seed 002's photographs against drawings) is a folder of class folders of
``.png`` / ``.jpg`` files, loaded by :func:`~sigxfer.data.load_signals` like signals. Each image
becomes one case of three channels (R, G, B) whose ``H * W`` pixels, row by row, are its samples:
``X`` has shape ``(n_cases, 3, H * W)``, float32 in [0, 1], and the :class:`~sigxfer.SignalSet`
records ``image_shape = (H, W)`` so that the ``"picture"`` imaging
(:mod:`sigxfer.imaging.picture`) can fold the pixels back into an image. There is no sample rate
(``sr`` is None) and no time-frequency stage.

All images of a set share one shape: ``image_shape=(H, W)`` when given, else the first image's
(its larger side brought down to :data:`MAX_SIDE` pixels, aspect kept, since the network reads
224 pixels at most and a 12-megapixel photograph would cost 144 MB per case). Others are resized
to it with Pillow's bilinear filter, which averages when it shrinks.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sigxfer.data.signals import SignalSet, check_image_shape
from sigxfer.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "MAX_SIDE", "read_image", "is_image_file", "check_image_shape", "resize_images",
           "match_image_shape"]

#: Suffixes read as pictures (registered as data formats by :mod:`sigxfer.data.formats`).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Largest side of the shape taken from the first image when ``image_shape`` is not given.
MAX_SIDE = 512


def is_image_file(path) -> bool:
    """Whether ``path`` names a picture by its suffix (no file access).

    Examples
    --------
    >>> is_image_file("cat.JPG"), is_image_file("a.wav")
    (True, False)
    """
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _open_rgb(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            image = img
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable image ({' '.join(str(err).split())}); re-export it or remove it") from err
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels are shown on white, as a viewer shows them; dropping alpha would make
        # them whatever colour the file stored under them (often black).
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def read_image(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """One picture as RGB in [0, 1], shape (3, H, W), float32.

    Parameters
    ----------
    path : str or path-like
        A ``.png`` or ``.jpg`` file (grey, palette and transparent images become RGB; transparent
        pixels are shown on white).
    shape : (int, int), optional
        ``(height, width)`` to resize to (Pillow's bilinear filter); the file's own by default.

    Returns
    -------
    ndarray of shape (3, H, W), float32 in [0, 1]

    Raises
    ------
    DataError
        The file is missing or not a readable image.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "red.png")
    >>> Image.new("RGB", (4, 2), (255, 0, 0)).save(path)
    >>> read_image(path).shape, read_image(path)[:, 0, 0].tolist()
    ((3, 2, 4), [1.0, 0.0, 0.0])
    """
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file; check the path")
    image = _open_rgb(path)
    if shape is not None and (image.height, image.width) != tuple(shape):
        image = image.resize((int(shape[1]), int(shape[0])), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0)


def default_shape(path: Path) -> tuple[int, int]:
    """The first image's (height, width), its larger side capped at :data:`MAX_SIDE`."""
    image = _open_rgb(path)
    height, width = image.height, image.width
    if max(height, width) > MAX_SIDE:
        factor = MAX_SIDE / max(height, width)
        height, width = max(1, round(height * factor)), max(1, round(width * factor))
    return height, width


def read_image_case(path: Path) -> tuple[np.ndarray, None]:
    """The data-format reader: the picture as (3, H * W) pixels, row by row, and no sample rate.

    Read this way, one file on its own loses its shape; :func:`~sigxfer.data.load_signals` and
    :func:`~sigxfer.data.load_files` read pictures with :func:`load_image_cases`, which keeps it.
    """
    pixels = read_image(path)
    return pixels.reshape(3, -1), None


def load_image_cases(files, *, image_shape=None, progress=None) -> tuple[np.ndarray, tuple[int, int]]:
    """Read picture files into ``X`` of shape (n, 3, H * W) and their common ``(H, W)``.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> folder = tempfile.mkdtemp()
    >>> for i, size in enumerate([(8, 6), (16, 12)]):
    ...     Image.new("RGB", size).save(os.path.join(folder, f"{i}.png"))
    >>> X, shape = load_image_cases(sorted(Path(folder).glob("*.png")))
    >>> X.shape, shape
    ((2, 3, 48), (6, 8))
    """
    from tqdm import tqdm

    files = [Path(f) for f in files]
    shape = check_image_shape(image_shape) or default_shape(files[0])
    X = np.empty((len(files), 3, shape[0] * shape[1]), dtype=np.float32)
    for i, f in enumerate(tqdm(files, desc="reading images", unit="file",
                               disable=None if progress is None else not progress)):
        X[i] = read_image(f, shape).reshape(3, -1)
    return X, shape


def resize_images(X: np.ndarray, shape: tuple[int, int], to: tuple[int, int]) -> np.ndarray:
    """Pictures stored as (n, 3, H * W) at ``shape`` -> (n, 3, h * w) at ``to`` (bilinear, Pillow).

    Examples
    --------
    >>> resize_images(np.ones((2, 3, 12), dtype=np.float32), (3, 4), (6, 8)).shape
    (2, 3, 48)
    """
    from PIL import Image

    shape, to = check_image_shape(shape), check_image_shape(to)
    if shape == to:
        return X
    out = np.empty((len(X), X.shape[1], to[0] * to[1]), dtype=np.float32)
    for i, case in enumerate(np.asarray(X, dtype=np.float32).reshape(len(X), -1, *shape)):
        for c, plane in enumerate(case):
            small = Image.fromarray(plane).resize((to[1], to[0]), Image.Resampling.BILINEAR)
            out[i, c] = np.asarray(small, dtype=np.float32).reshape(-1)
    return np.clip(out, 0.0, 1.0)


def match_image_shape(X, shape: tuple[int, int] | None):
    """A SignalSet of pictures of another shape than ``shape``, resized to it; anything else as it is.

    How a model trained on pictures of one shape reads pictures loaded at another.

    Examples
    --------
    >>> s = SignalSet(np.zeros((1, 3, 12), dtype=np.float32), image_shape=(3, 4))
    >>> match_image_shape(s, (6, 8)).X.shape, match_image_shape(s, None) is s
    ((1, 3, 48), True)
    """
    given = getattr(X, "image_shape", None)
    if shape is None or given is None or tuple(given) == tuple(shape):
        return X
    return SignalSet(resize_images(X.X, given, shape), y=X.y, names=X.names, image_shape=tuple(shape))
