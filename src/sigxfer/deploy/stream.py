"""Classify a live signal: a sliding window of the model's length, smoothing, and class events.

:class:`StreamEngine` does the work without any I/O: it takes samples in chunks of any size, keeps
the last window in a ring buffer (memory bounded by the window, whatever the stream's length),
predicts every ``hop`` seconds (windows gathered into batches when a chunk completes several),
averages the last ``smooth`` windows' probabilities, and reports when a class starts and ends.
:func:`stream` connects it to a source (see :mod:`sigxfer.deploy.sources`) and prints.

A window is predicted by the model exactly as batch prediction predicts the same samples (same
fitted scale, same code), so a stream and :func:`~sigxfer.deploy.predict.predict_files` agree.
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import asdict, dataclass
from numbers import Real

import numpy as np

from sigxfer.deploy.predict import _samples
from sigxfer.errors import DataError, ParameterError


@dataclass(frozen=True)
class Event:
    """A class started or ended. ``time_s`` is the centre of the first (start) or last (end) window
    in which the class held, in seconds of stream time; ``count`` numbers the class's events."""

    kind: str
    label: object
    time_s: float
    count: int
    probability: float

    def to_dict(self) -> dict:
        return {"type": "event", **asdict(self)}


@dataclass(frozen=True)
class Window:
    """One predicted window: its span in stream seconds, raw and smoothed probabilities, the class that
    holds after the threshold (None: none is confident enough, or the background class) and the
    events it caused."""

    index: int
    start_s: float
    end_s: float
    probabilities: np.ndarray
    smoothed: np.ndarray
    label: object | None
    events: tuple[Event, ...]


class StreamEngine:
    """Sliding-window classification of samples fed in chunks.

    Parameters
    ----------
    model : TransferClassifier
        Fitted; its ``n_timepoints_`` and ``sr_`` set the window.
    hop : float, optional
        Seconds between predictions; default the window's length.
    smooth : int
        Average the probabilities of the last ``smooth`` windows (1: no smoothing).
    threshold : float, optional
        A class holds only when its smoothed probability reaches this; default: the most probable holds.
    background : label, optional
        A class that means "nothing happening" (``"idle"``): it holds no events.
    batch_size : int, optional
        Windows per forward pass when one chunk completes several; default ``model.batch_size``.
    drift_tolerance : float
        Seconds by which the source's clock (timestamps or wall time) may run apart from the sample
        count before a drift notice, and again at each further multiple.

    Examples
    --------
    >>> engine = StreamEngine(model, hop=0.5, smooth=3, background="idle")   # doctest: +SKIP
    >>> for window in engine.feed(chunk):                 # chunk: (n_channels, k)  # doctest: +SKIP
    ...     for event in window.events:
    ...         print(event)
    """

    def __init__(self, model, *, hop: float | None = None, smooth: int = 1, threshold: float | None = None,
                 background=None, batch_size: int | None = None, drift_tolerance: float = 1.0):
        if not hasattr(model, "net_"):
            raise ParameterError(f"this {type(model).__name__} is not fitted; fit it or load a model file first")
        if not hasattr(model, "classes_"):
            raise ParameterError(f"streaming classifies; this is a {type(model).__name__}: use predict_files")
        if model.sr_ is None:
            raise ParameterError("the model records no sample rate, so a hop in seconds means nothing; "
                                 "train it on signals with sr")
        self.model, self.sr = model, float(model.sr_)
        self.n_channels, self.length = int(model.n_channels_), int(model.n_timepoints_)
        self.step = self.length if hop is None else _samples("hop", hop, self.sr)
        if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
            raise ParameterError(f"smooth={smooth!r} must be a positive number of windows")
        if threshold is not None and (not isinstance(threshold, Real) or not 0 < threshold <= 1):
            raise ParameterError(f"threshold={threshold!r} must be a probability in (0, 1]")
        self.classes = [c.item() if isinstance(c, np.generic) else c for c in model.classes_]
        if background is not None:
            # From the command line a label comes as text: "3" names the class 3.
            named = [c for c in self.classes if c == background or str(c) == str(background)]
            if not named:
                raise ParameterError(f"background={background!r} is not one of the model's classes {self.classes}")
            background = named[0]
        batch = batch_size if batch_size is not None else getattr(model, "batch_size", None) or 32
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ParameterError(f"batch_size={batch!r} must be a positive integer")
        self.smooth, self.threshold, self.background = smooth, threshold, background
        self.drift_tolerance = float(drift_tolerance)
        # Bounded state: one window of samples, one batch of windows, the last `smooth` probabilities.
        self._ring = np.zeros((self.n_channels, self.length), dtype=np.float32)
        self._batch = np.zeros((batch, self.n_channels, self.length), dtype=np.float32)
        self._batch_ends: list[int] = []
        self._recent = np.zeros((smooth, len(self.classes)))  # the last `smooth` rows, in rotation
        self.notices: deque = deque(maxlen=100)  # gaps and drift, for the caller to print and drain
        self.n_samples = self.n_windows = 0
        self.counts = {c: 0 for c in self.classes if c != background}
        self.n_gaps, self.gap_s, self.n_drift = 0, 0.0, 0
        self._due = self.length  # samples until the next prediction
        self._active = None
        self._active_p = 0.0
        self._last_centre = 0.0
        self._clock: dict = {}

    @property
    def memory_nbytes(self) -> int:
        """Bytes held by the window buffers: constant for the engine's life."""
        return self._ring.nbytes + self._batch.nbytes + self._recent.nbytes

    # ------------------------------------------------------------------ feeding
    def feed(self, chunk, *, timestamps=None, received_at: float | None = None) -> list[Window]:
        """Add samples; return the windows they completed, in time order.

        Parameters
        ----------
        chunk : array of shape (n_channels, k)
            The next ``k`` samples (any ``k``, 0 included).
        timestamps : array of shape (k,), optional
            Each sample's time in seconds on the source's clock: gaps and drift are checked.
        received_at : float, optional
            ``time.monotonic()`` when the chunk arrived: a source slower than ``sr`` is noticed.
        """
        x = np.asarray(chunk, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != self.n_channels:
            raise DataError(f"a chunk of shape {x.shape} does not fit the model's {self.n_channels} channel(s); "
                            "feed (n_channels, n_samples)")
        if not np.isfinite(x).all():
            raise DataError("a chunk holds NaN or infinite samples; drop them before feeding")
        if timestamps is not None:
            self._check_timestamps(np.asarray(timestamps, dtype=np.float64).reshape(-1), x.shape[1])
        out: list[Window] = []
        i, k = 0, x.shape[1]
        while i < k:
            take = min(self._due, k - i)
            self._write(x[:, i:i + take])
            i += take
            self.n_samples += take
            self._due -= take
            if self._due == 0:
                self._due = self.step
                slot = len(self._batch_ends)
                pos = self.n_samples % self.length  # the oldest sample sits where the next one goes
                self._batch[slot, :, :self.length - pos] = self._ring[:, pos:]
                self._batch[slot, :, self.length - pos:] = self._ring[:, :pos]
                self._batch_ends.append(self.n_samples)
                if len(self._batch_ends) == len(self._batch):
                    out.extend(self._predict())
        out.extend(self._predict())
        if received_at is not None:
            self._check_wall_clock(received_at, k)
        return out

    def close(self) -> list[Event]:
        """End of the stream: the class holding at the end ends (returned as an event, if any)."""
        if self._active is None:
            return []
        event = Event("end", self._active, self._last_centre, self.counts[self._active], self._active_p)
        self._active = None
        return [event]

    def summary(self) -> dict:
        """Counts so far: samples, seconds, windows, events per class, gaps and drift notices."""
        return {"samples": self.n_samples, "duration_s": self.n_samples / self.sr, "windows": self.n_windows,
                "events": dict(self.counts), "gaps": self.n_gaps, "gap_s": self.gap_s, "drift_notices": self.n_drift}

    def _write(self, block: np.ndarray) -> None:
        n, pos = block.shape[1], self.n_samples % self.length
        if n >= self.length:  # only the newest window's worth matters
            block, pos, n = block[:, n - self.length:], (pos + n - self.length) % self.length, self.length
        first = min(n, self.length - pos)
        self._ring[:, pos:pos + first] = block[:, :first]
        self._ring[:, :n - first] = block[:, first:]

    # ------------------------------------------------------------------ deciding
    def _predict(self) -> list[Window]:
        if not self._batch_ends:
            return []
        proba = self.model.predict_proba(self._batch[:len(self._batch_ends)])
        windows = [self._decide(p, end) for p, end in zip(proba, self._batch_ends)]
        self._batch_ends.clear()
        return windows

    def _decide(self, p: np.ndarray, end: int) -> Window:
        self._recent[self.n_windows % self.smooth] = p
        smoothed = self._recent[:min(self.n_windows + 1, self.smooth)].mean(axis=0)
        top = int(np.argmax(smoothed))
        label = self.classes[top]
        if label == self.background or (self.threshold is not None and smoothed[top] < self.threshold):
            label = None
        start_s, end_s = (end - self.length) / self.sr, end / self.sr
        centre = (start_s + end_s) / 2
        events = []
        if label != self._active:
            if self._active is not None:
                events.append(Event("end", self._active, self._last_centre, self.counts[self._active],
                                    self._active_p))
            if label is not None:
                self.counts[label] += 1
                events.append(Event("start", label, centre, self.counts[label], float(smoothed[top])))
            self._active = label
        if label is not None:
            self._last_centre, self._active_p = centre, float(smoothed[top])
        window = Window(self.n_windows, start_s, end_s, p, smoothed, label, tuple(events))
        self.n_windows += 1
        return window

    # ------------------------------------------------------------------ clocks
    def _check_timestamps(self, ts: np.ndarray, k: int) -> None:
        if len(ts) != k:
            raise DataError(f"{len(ts)} timestamps for {k} samples; give one per sample")
        if not len(ts):
            return
        clock = self._clock
        prev = clock.get("last_ts")
        full = ts if prev is None else np.concatenate([[prev], ts])  # a gap may fall between two chunks
        steps = np.diff(full)
        for j in np.flatnonzero(steps > 1.5 / self.sr):
            missing = float(steps[j]) - 1.0 / self.sr
            self.n_gaps += 1
            self.gap_s += missing
            at = float(full[j])
            self.notices.append({"type": "gap", "at_s": at, "missing_s": missing,
                                 "message": f"gap of {missing:.3f} s in the timestamps after t={at:.3f} s"})
        clock.setdefault("first_ts", float(ts[0]))
        clock.setdefault("first_n", self.n_samples)
        clock["last_ts"] = float(ts[-1])
        elapsed = clock["last_ts"] - clock["first_ts"] - self.gap_s
        counted = (self.n_samples + k - 1 - clock["first_n"]) / self.sr
        self._drift(elapsed - counted, "the timestamps", elapsed)

    def _check_wall_clock(self, received_at: float, k: int) -> None:
        clock = self._clock
        if "t0" not in clock:
            clock["t0"] = received_at - k / self.sr  # the first chunk took k / sr to be measured
        elapsed = received_at - clock["t0"]
        lag = elapsed - self.n_samples / self.sr
        if lag > 0:  # only a source slower than its rate: faster is a replay, and legitimate
            self._drift(lag, "the wall clock", elapsed)

    def _drift(self, offset: float, against: str, elapsed: float) -> None:
        level = int(abs(offset) // self.drift_tolerance) if self.drift_tolerance > 0 else 0
        if level > self._clock.get("drift_level", 0):
            self._clock["drift_level"] = level
            self.n_drift += 1
            rate = self.n_samples / elapsed if elapsed > 0 else math.nan
            self.notices.append({
                "type": "drift", "offset_s": offset, "at_s": self.n_samples / self.sr,
                "message": f"samples and {against} are {abs(offset):.2f} s apart after {elapsed:.1f} s "
                           f"(~{rate:.4g} samples/s against sr={self.sr:g}): the source drops samples or "
                           "runs at another rate"})


# ------------------------------------------------------------------ the loop
def format_event(event: Event) -> str:
    """One line per event, e.g. ``  12.40 s  gesture #3 starts (p=0.97)``."""
    verb = "starts" if event.kind == "start" else "ends"
    return f"{event.time_s:9.2f} s  {event.label} #{event.count} {verb} (p={event.probability:.2f})"


def stream(model, source, *, hop: float | None = None, smooth: int = 1, threshold: float | None = None,
           background=None, on_event=None, on_window=None, json_lines: bool = False, timestamps: bool = False,
           realtime: bool = False, speed: float = 1.0, poll: float = 0.1, idle_timeout: float | None = None,
           stop=None, echo=print) -> dict:
    """Classify a live signal until it ends or Ctrl-C; print events as they happen; return a summary.

    Parameters
    ----------
    model : TransferClassifier, str or Path
        Fitted classifier, or a model file.
    source : str, text stream or source object
        ``"stdin"``, a file being appended to, ``"serial:PORT[@BAUD]"``, ``"wav:FILE"``, an open text
        stream, or a source from :mod:`sigxfer.deploy.sources` (see ``open_source``).
    hop, smooth, threshold, background
        As :class:`StreamEngine`.
    on_event, on_window : callable, optional
        Called with each :class:`Event` and each :class:`Window`.
    json_lines : bool
        Print events, notices and the final summary as JSON objects, one per line, instead of text.
    timestamps : bool
        Text sources: the first column is each sample's time in seconds (gaps and drift are checked).
    realtime : bool
        ``wav:`` sources: play at ``speed`` times real time (else as fast as possible).
    speed : float
        The real-time factor with ``realtime``.
    poll, idle_timeout, stop
        Followed files: seconds between looks; end after this long without data; ``stop() -> bool``.
    echo : callable or None
        Where events, notices and the summary are printed as they happen (``print``); None: silent.

    Returns
    -------
    dict
        ``samples``, ``duration_s``, ``windows``, ``events`` (class -> count), ``malformed_lines``,
        ``gaps``, ``gap_s``, ``drift_notices`` and ``interrupted`` (True after Ctrl-C).

    Examples
    --------
    >>> stream("model.sigx", "wav:session.wav", hop=0.25, smooth=3, background="idle")  # doctest: +SKIP
    """
    from sigxfer.deploy.predict import _fitted
    from sigxfer.deploy.sources import open_source

    model = _fitted(model)
    engine = StreamEngine(model, hop=hop, smooth=smooth, threshold=threshold, background=background)
    src = open_source(source, n_channels=engine.n_channels, timestamps=timestamps,
                      speed=speed if realtime else None, poll=poll, idle_timeout=idle_timeout, stop=stop)
    _check_source(src, engine)

    def say(record: dict, text: str) -> None:
        if echo is not None:
            echo(json.dumps(record, default=_plain) if json_lines else text)

    def emit(events) -> None:
        for event in events:
            if on_event is not None:
                on_event(event)
            say(event.to_dict(), format_event(event))

    interrupted = False
    try:
        for chunk, ts in src.chunks(max(1, min(engine.step, engine.length))):
            windows = engine.feed(chunk, timestamps=ts, received_at=time.monotonic() if src.live else None)
            for window in windows:
                if on_window is not None:
                    on_window(window)
                emit(window.events)
            while engine.notices:
                notice = engine.notices.popleft()
                say(notice, f"notice: {notice['message']}")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        src.close()
    emit(engine.close())
    summary = {**engine.summary(), "malformed_lines": src.malformed, "interrupted": interrupted}
    say({"type": "summary", **summary}, format_summary(summary, first_malformed=getattr(src, "first_malformed", None)))
    return summary


def _check_source(src, engine: StreamEngine) -> None:
    if getattr(src, "sr", None) is not None and float(src.sr) != engine.sr:
        where = getattr(src, "path", "the source")
        raise DataError(f"{where}: sample rate {src.sr:g} Hz, but the model was trained at {engine.sr:g} Hz; "
                        f"resample it to {engine.sr:g} Hz (sigxfer does not resample)")
    if src.n_channels != engine.n_channels:
        where = getattr(src, "path", "the source")
        raise DataError(f"{where}: has {src.n_channels} channel(s), but the model reads {engine.n_channels}; "
                        "give it the training channel layout")


def format_summary(summary: dict, *, first_malformed: str | None = None) -> str:
    """The end-of-stream summary as a few lines of text."""
    events = ", ".join(f"{label}: {n}" for label, n in summary["events"].items()) or "none"
    lines = [("interrupted" if summary.get("interrupted") else "stream ended")
             + f" after {summary['duration_s']:.1f} s of signal ({summary['samples']} samples)",
             f"  windows   {summary['windows']}",
             f"  events    {events}",
             f"  malformed {summary.get('malformed_lines', 0)} line(s) skipped"
             + (f", e.g. {first_malformed!r}" if first_malformed and summary.get("malformed_lines") else "")]
    if summary.get("gaps") or summary.get("drift_notices"):
        lines.append(f"  clock     {summary['gaps']} gap(s) totalling {summary['gap_s']:.2f} s, "
                     f"{summary['drift_notices']} drift notice(s)")
    return "\n".join(lines)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


__all__ = ["Event", "StreamEngine", "Window", "format_event", "format_summary", "stream"]
