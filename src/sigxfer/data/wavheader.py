"""What a WAV file's own header says about its length, to catch files that were cut short.

libsndfile (behind soundfile) reads a WAV whose ``data`` chunk promises more bytes than the file
holds without complaint: it notes "should be ..." in its log and returns the frames that are there.
A recording cut short by a full disk or an interrupted copy would then load as a shorter signal and
be padded like any other, which silently gives a wrong result. This module reads the RIFF chunk
headers itself (a few bytes, no samples) so the reader can refuse such a file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["WavLength", "wav_length"]

# A writer that streams to a pipe cannot go back to fill in the size, and writes one of these.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)
_MAX_CHUNKS = 10_000  # a corrupt size field must not make the walk loop for long


@dataclass(frozen=True)
class WavLength:
    """The ``data`` chunk of a WAV file: bytes its header declares and bytes actually present.

    ``block_align`` is bytes per frame (all channels), or 0 when the ``fmt`` chunk gave none.
    """

    declared: int
    present: int
    block_align: int

    @property
    def truncated(self) -> bool:
        return self.present < self.declared

    def frames(self, n_bytes: int) -> int | None:
        return n_bytes // self.block_align if self.block_align else None


def wav_length(path: str | Path) -> WavLength | None:
    """Read the RIFF/RIFX/RF64 chunk headers of ``path`` up to its ``data`` chunk.

    Parameters
    ----------
    path : str or Path
        A file that may be a WAV file.

    Returns
    -------
    WavLength or None
        None when the file is not a RIFF WAVE file, has no ``data`` chunk header, or its header
        leaves the size open (0 or 0xFFFFFFFF, as streaming writers put there; RF64 without
        ``ds64``): then there is nothing to compare with.

    Examples
    --------
    >>> import numpy as np, soundfile as sf, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> sf.write(path, np.zeros(100, dtype=np.float32), 8000, subtype="FLOAT")
    >>> info = wav_length(path)
    >>> info.truncated, info.frames(info.declared)
    (False, 100)
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX", b"RF64", b"BW64"):
            return None
        endian = ">" if head[:4] == b"RIFX" else "<"
        ds64_data = None
        block_align = 0
        pos = 12
        for _ in range(_MAX_CHUNKS):
            if pos + 8 > size:
                return None
            handle.seek(pos)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", handle.read(8))
            if chunk_id == b"ds64":  # RF64: the 64-bit sizes; the data size is the second field
                body = handle.read(16)
                if len(body) == 16:
                    ds64_data = struct.unpack("<QQ", body)[1]
            elif chunk_id == b"fmt ":
                body = handle.read(14)
                if len(body) == 14:
                    block_align = struct.unpack(endian + "H", body[12:14])[0]
            elif chunk_id == b"data":
                declared = chunk_size
                if chunk_size == 0xFFFFFFFF and ds64_data is not None:
                    declared = ds64_data
                elif chunk_size in _UNKNOWN_SIZES:
                    return None
                return WavLength(declared=declared, present=size - (pos + 8), block_align=block_align)
            pos += 8 + chunk_size + (chunk_size & 1)  # chunks are padded to an even size
    return None
