"""Signals to images: pure functions (:mod:`.functional`), transforms and the :class:`Imager`.

Layers, bottom up: :mod:`._dft` (Fourier transforms as matrix products, so everything exports to
ONNX), :mod:`.drawing` (resizing and drawing), :mod:`.functional` (the signal maths),
:mod:`.transforms` and :mod:`.encodings` (modules around it), :mod:`.imager` (scale, channels,
normalisation).

Imagings (the ``imaging=`` names): ``spectrum``, ``spectrogram``, ``mel``, ``scalogram``
(:mod:`.transforms`), ``gaf``, ``recurrence``, ``waveform`` (:mod:`.encodings`) and ``picture``
for cases that already are pictures (:mod:`.picture`). Writing
pictures to disk and contact sheets live in :mod:`.render`, imported on demand (it needs Pillow
and matplotlib).
"""

from sigxfer.imaging import encodings as _encodings  # noqa: F401  (registers its transforms)
from sigxfer.imaging import picture as _picture  # noqa: F401  (registers "picture")
from sigxfer.imaging.imager import CHANNEL_MODES, COLORMAPS, Imager
from sigxfer.imaging.transforms import Transform, create_transform, list_transforms, register_transform

__all__ = [
    "CHANNEL_MODES",
    "COLORMAPS",
    "Imager",
    "Transform",
    "create_transform",
    "list_transforms",
    "register_transform",
]
