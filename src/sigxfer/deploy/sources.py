"""Where a live signal comes from: a text stream, a file being appended to, a serial port, a WAV file.

Every source yields chunks ``(samples, timestamps)``: samples float32 ``(n_channels, k)``, and
timestamps ``(k,)`` seconds from the source's own clock, or None. Text sources read one sample
per line, one value per channel, separated by commas (``0.01,-0.98,0.12``); with
``timestamps=True`` a first column holds the sample's time in seconds. Lines that are not that (a
header, a cut-off line, a word, too few or too many values, NaN) are counted in ``malformed`` and
skipped; blank lines and lines starting with ``#`` are skipped without counting.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from sigxfer.errors import DataError, ParameterError

Chunk = tuple[np.ndarray, "np.ndarray | None"]


class _Lines:
    """Parse text lines into samples, counting the malformed ones; a base for the text sources."""

    live = True  # samples arrive as they are measured: compare their count with the wall clock

    def __init__(self, n_channels: int, *, timestamps: bool = False):
        if isinstance(n_channels, bool) or not isinstance(n_channels, int) or n_channels < 1:
            raise ParameterError(f"n_channels={n_channels!r} must be a positive integer")
        self.n_channels, self.timestamps = n_channels, bool(timestamps)
        self.sr = None
        self.malformed = 0
        self.first_malformed: str | None = None  # one example, for the summary

    def parse(self, line: str) -> list[float] | None:
        """The values of one line (timestamp first when ``timestamps``), or None to skip it."""
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        try:
            values = [float(cell) for cell in text.split(",")]
        except ValueError:
            values = None
        if values is None or len(values) != self.n_channels + self.timestamps or not all(map(math.isfinite, values)):
            self.malformed += 1
            if self.first_malformed is None:
                self.first_malformed = text[:80]
            return None
        return values

    def _pack(self, rows: list[list[float]]) -> Chunk:
        arr = np.asarray(rows, dtype=np.float64)
        if self.timestamps:
            return np.ascontiguousarray(arr[:, 1:].T, dtype=np.float32), arr[:, 0]
        return np.ascontiguousarray(arr.T, dtype=np.float32), None

    def close(self) -> None:
        pass


class TextSource(_Lines):
    """Samples from a text stream: ``sys.stdin``, a pipe, an open file, ``io.StringIO``.

    Parameters
    ----------
    stream : text stream
        Read line by line until it ends.
    n_channels : int
        Values per line (after the timestamp, if any).
    timestamps : bool
        The first column is the sample's time in seconds.

    Examples
    --------
    >>> import io
    >>> src = TextSource(io.StringIO("1,2\\n3,4\\nbad\\n"), n_channels=2)
    >>> [c.tolist() for c, _ in src.chunks(8)], src.malformed
    ([[[1.0, 3.0], [2.0, 4.0]]], 1)
    """

    def __init__(self, stream, *, n_channels: int, timestamps: bool = False):
        super().__init__(n_channels, timestamps=timestamps)
        self.stream = stream

    def chunks(self, size: int) -> Iterator[Chunk]:
        """Chunks of up to ``size`` samples; the last one holds what is left when the stream ends."""
        rows: list[list[float]] = []
        for line in self.stream:
            values = self.parse(line)
            if values is not None:
                rows.append(values)
                if len(rows) >= size:
                    yield self._pack(rows)
                    rows = []
        if rows:
            yield self._pack(rows)


class TailSource(_Lines):
    """Samples appended to a text file by another program, read as they arrive (as ``tail -f``).

    Parameters
    ----------
    path : str or Path
        The file; it must exist. Lines already in it are read first unless ``from_end``.
    n_channels, timestamps
        As :class:`TextSource`.
    poll : float
        Seconds to wait before looking again when the file has no new complete line.
    stop : callable, optional
        ``stop() -> bool``, asked whenever the file has no new line; True ends the stream once the
        lines written by then are read.
    idle_timeout : float, optional
        End the stream (the same way) after this many seconds without a new line.
    from_end : bool
        Start at the file's current end (only new lines).

    Notes
    -----
    A line without its newline yet is held until the writer finishes it. A file that shrinks
    (truncated or rotated in place) is read again from its start.
    """

    def __init__(self, path, *, n_channels: int, timestamps: bool = False, poll: float = 0.1,
                 stop: Callable[[], bool] | None = None, idle_timeout: float | None = None,
                 from_end: bool = False):
        super().__init__(n_channels, timestamps=timestamps)
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: no such file to follow; start the recorder first or check the path")
        if not poll > 0:
            raise ParameterError(f"poll={poll!r} must be a positive number of seconds")
        if idle_timeout is not None and not idle_timeout > 0:
            raise ParameterError(f"idle_timeout={idle_timeout!r} must be a positive number of seconds (or None)")
        self.poll, self.stop, self.idle_timeout, self.from_end = poll, stop, idle_timeout, from_end

    def chunks(self, size: int) -> Iterator[Chunk]:
        """Chunks of up to ``size`` samples, yielded early whenever the file has no more for now."""
        with open(self.path, encoding="utf-8", errors="replace", newline="") as fh:
            if self.from_end:
                fh.seek(0, os.SEEK_END)
            rows: list[list[float]] = []
            partial = ""
            last_new = time.monotonic()
            finished = False
            while True:
                line = fh.readline()
                if line.endswith("\n"):
                    values = self.parse(partial + line)
                    partial = ""
                    last_new = time.monotonic()
                    if values is not None:
                        rows.append(values)
                        if len(rows) >= size:
                            yield self._pack(rows)
                            rows = []
                    continue
                partial += line  # "" at the end of the file, or the start of a line being written
                if rows:
                    yield self._pack(rows)
                    rows = []
                if finished:
                    break
                # Told to stop: one more pass reads what the writer added since the last look.
                finished = (self.stop is not None and self.stop()) or (
                    self.idle_timeout is not None and time.monotonic() - last_new > self.idle_timeout)
                if finished:
                    continue
                if os.stat(self.path).st_size < fh.tell():
                    fh.seek(0)
                    partial = ""
                time.sleep(self.poll)
            if partial:
                values = self.parse(partial)  # a last line the writer never ended
                if values is not None:
                    rows.append(values)
            if rows:
                yield self._pack(rows)


class SerialSource(_Lines):
    """Samples from a serial port (an Arduino or a sensor board printing lines); needs ``pyserial``.

    Parameters
    ----------
    port : str
        ``/dev/ttyUSB0``, ``COM3``, ...
    baud : int
        Baud rate.
    n_channels, timestamps
        As :class:`TextSource`.
    timeout : float
        Seconds a read waits for a line; on a timeout the samples read so far are passed on.
    """

    def __init__(self, port: str, *, n_channels: int, baud: int = 115200, timestamps: bool = False,
                 timeout: float = 0.5):
        super().__init__(n_channels, timestamps=timestamps)
        try:
            import serial
        except ImportError:
            raise ParameterError(
                f"reading serial port {port} needs pyserial; pip install 'sigxfer[serial]' (or pyserial)"
            ) from None
        try:
            self._port = serial.Serial(port, baudrate=int(baud), timeout=timeout)
        except (serial.SerialException, ValueError, OSError) as err:
            raise DataError(f"{port}: cannot open the serial port ({' '.join(str(err).split())}); "
                            "check the port name, the baud rate and your permissions") from None
        self.port = port

    def chunks(self, size: int) -> Iterator[Chunk]:
        rows: list[list[float]] = []
        while True:
            raw = self._port.readline()
            if raw:
                values = self.parse(raw.decode("ascii", errors="replace"))
                if values is not None:
                    rows.append(values)
            if rows and (len(rows) >= size or not raw):
                yield self._pack(rows)
                rows = []

    def close(self) -> None:
        self._port.close()


class ArraySource:
    """Samples from an array, played at ``speed`` times real time (as fast as possible with None).

    Parameters
    ----------
    signal : array of shape (n_channels, n_timepoints)
    sr : float
        Sample rate in Hz.
    speed : float, optional
        1.0 plays at the rate the samples were recorded; 10.0 ten times faster; None without waiting.
    """

    live = False  # paced by its own clock: nothing to compare

    def __init__(self, signal, *, sr: float, speed: float | None = None):
        self.signal = np.asarray(signal, dtype=np.float32)
        if self.signal.ndim != 2:
            raise DataError(f"signal has shape {self.signal.shape}; pass (n_channels, n_timepoints)")
        if speed is not None and not speed > 0:
            raise ParameterError(f"speed={speed!r} must be a positive factor (1.0: real time) or None")
        self.sr, self.speed, self.n_channels, self.malformed = float(sr), speed, self.signal.shape[0], 0

    def _blocks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.signal.shape[1], size):
            yield self.signal[:, start:start + size]

    def chunks(self, size: int) -> Iterator[Chunk]:
        """Chunks of ``size`` samples, each released when its last sample would have been measured."""
        t0, sent = time.monotonic(), 0
        for block in self._blocks(size):
            sent += block.shape[1]
            if self.speed is not None:
                delay = t0 + sent / self.sr / self.speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield np.ascontiguousarray(block), None

    def close(self) -> None:
        pass


class WavSource(ArraySource):
    """A WAV file played as a live signal, read block by block (bounded memory); see :class:`ArraySource`."""

    def __init__(self, path, *, speed: float | None = None):
        import soundfile as sf

        self.path = Path(path)
        try:
            self._file = sf.SoundFile(str(self.path))
        except (sf.SoundFileError, RuntimeError, OSError) as err:
            raise DataError(f"{self.path}: not a readable audio file ({' '.join(str(err).split())}); "
                            "check the path or re-export it") from None
        if speed is not None and not speed > 0:
            raise ParameterError(f"speed={speed!r} must be a positive factor (1.0: real time) or None")
        self.sr, self.speed, self.n_channels, self.malformed = float(self._file.samplerate), speed, \
            self._file.channels, 0

    def _blocks(self, size: int) -> Iterator[np.ndarray]:
        while True:
            block = self._file.read(size, dtype="float32", always_2d=True)
            if len(block) == 0:
                return
            if not np.isfinite(block).all():
                raise DataError(f"{self.path}: holds NaN or infinite samples; repair the recording")
            yield block.T

    def close(self) -> None:
        self._file.close()


def open_source(spec, *, n_channels: int, timestamps: bool = False, speed: float | None = None,
                poll: float = 0.1, idle_timeout: float | None = None, stop=None):
    """A source from its description.

    Parameters
    ----------
    spec : str, text stream or source
        ``"stdin"`` (or ``"-"``); ``"serial:PORT"`` or ``"serial:PORT@BAUD"``; ``"wav:FILE"``; a file
        path, followed as it grows (:class:`TailSource`); an open text stream; or a source object,
        returned as it is.
    n_channels : int
        Values per sample the model reads.
    timestamps, poll, idle_timeout, stop
        For text sources (see :class:`TailSource`).
    speed : float, optional
        For ``wav:`` (see :class:`ArraySource`).

    Examples
    --------
    >>> src = open_source("wav:recording.wav", n_channels=1, speed=1.0)  # doctest: +SKIP
    """
    if hasattr(spec, "chunks"):
        return spec
    if hasattr(spec, "readline"):
        return TextSource(spec, n_channels=n_channels, timestamps=timestamps)
    spec = str(spec)
    if spec in ("stdin", "-"):
        return TextSource(sys.stdin, n_channels=n_channels, timestamps=timestamps)
    if spec.startswith("serial:"):
        port, _, baud = spec[len("serial:"):].partition("@")
        if not port or (baud and not baud.isdigit()):
            raise ParameterError(f"source {spec!r} must look like serial:PORT or serial:PORT@BAUD, e.g. serial:/dev/ttyUSB0@115200")
        return SerialSource(port, n_channels=n_channels, timestamps=timestamps, **({"baud": int(baud)} if baud else {}))
    if spec.startswith("wav:"):
        return WavSource(spec[len("wav:"):], speed=speed)
    return TailSource(spec, n_channels=n_channels, timestamps=timestamps, poll=poll, idle_timeout=idle_timeout,
                      stop=stop)
