"""A spoken-digit-like audio task: ten words of formant sweeps, spoken by varied synthetic speakers.

Each class is a fixed word: a sequence of phone-like segments, after the English digit names
("zero" is z-ɪ-r-o-ʊ, "six" is s-ɪ-(closure)-k-s, ...). A segment sets the targets of three
formants (F1-F3, the resonances of the vocal tract, in Hz, from classic measurements of adult
vowels), how much voicing and how much frication it has, and where the frication noise is
centred. Between segment middles every parameter moves linearly, so vowels glide into each other
(diphthongs, coarticulation) while consonants switch voicing and noise on and off.

The sound is made as a source-filter model, frame by frame (short-time Fourier transform,
Hann window, half-frame hop):

- **voicing**: a glottal pulse train at the speaker's pitch f0, shaped by a -6 dB/octave tilt and
  by the cascade of three formant resonators, each ``F^2 / sqrt((F^2 - f^2)^2 + (B f)^2)``
  with bandwidths B = 80, 100, 150 Hz;
- **frication**: white noise shaped by a Gaussian band at the segment's noise centre.

Speakers differ as people do, which makes the task real but learnable: pitch (f0 85-255 Hz,
log-uniform, falling by ~15 % over the word), vocal tract length (every formant and noise
centre scaled by 0.85-1.2), formant accents (each formant a further +-4 %), speaking rate (the
word lasts 0.6 s times 0.75-1.3, cut to fit), rhythm (a smooth warp of time within the word),
onset (anywhere in the clip), loudness (-12 to 0 dB) and background noise (white, at an SNR
drawn from ``snr_db``).
"""

from __future__ import annotations

import math

import numpy as np

from sigxfer.data.signals import SignalSet
from sigxfer.data.synth._checks import check_int, check_range, check_real, seed_sequence
from sigxfer.errors import ParameterError

__all__ = ["make_digits", "DIGIT_WORDS"]

#: Class labels, in order.
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# phone: (F1, F2, F3 in Hz, voicing 0-1, frication 0-1, frication centre in Hz)
_PHONES = {
    "i": (270, 2290, 3010, 1.0, 0.0, 0), "I": (390, 1990, 2550, 1.0, 0.0, 0),
    "E": (530, 1840, 2480, 1.0, 0.0, 0), "e": (480, 2050, 2650, 1.0, 0.0, 0),
    "a": (730, 1090, 2440, 1.0, 0.0, 0), "O": (570, 840, 2410, 1.0, 0.0, 0),
    "U": (440, 1020, 2240, 1.0, 0.0, 0), "u": (300, 870, 2240, 1.0, 0.0, 0),
    "V": (640, 1190, 2390, 1.0, 0.0, 0), "@": (500, 1500, 2500, 0.8, 0.0, 0),
    "r": (490, 1350, 1690, 0.9, 0.0, 0), "w": (300, 700, 2200, 0.7, 0.0, 0),
    "n": (250, 1700, 2600, 0.3, 0.0, 0), "z": (250, 1800, 2600, 0.3, 0.6, 3400),
    "v": (250, 1400, 2400, 0.3, 0.3, 2600), "f": (400, 1400, 2500, 0.0, 0.3, 2900),
    "T": (400, 1600, 2600, 0.0, 0.25, 3100), "s": (400, 1700, 2600, 0.0, 1.0, 3500),
    "t": (400, 1800, 2600, 0.0, 0.8, 3000), "k": (400, 1800, 2600, 0.0, 0.6, 1900),
    "-": (400, 1500, 2500, 0.0, 0.0, 0),  # a stop's closure: silence
}
# Each word: (phone, share of the word's duration).
_WORDS = {
    "zero": [("z", .15), ("I", .15), ("r", .2), ("O", .2), ("U", .2)],
    "one": [("w", .2), ("V", .45), ("n", .35)],
    "two": [("-", .06), ("t", .09), ("u", .85)],
    "three": [("T", .25), ("r", .25), ("i", .5)],
    "four": [("f", .25), ("O", .4), ("r", .35)],
    "five": [("f", .22), ("a", .33), ("I", .27), ("v", .18)],
    "six": [("s", .28), ("I", .24), ("-", .1), ("k", .08), ("s", .3)],
    "seven": [("s", .25), ("E", .22), ("v", .12), ("@", .16), ("n", .25)],
    "eight": [("e", .4), ("I", .3), ("-", .12), ("t", .18)],
    "nine": [("n", .22), ("a", .33), ("I", .22), ("n", .23)],
}
_BANDWIDTHS = (80.0, 100.0, 150.0)  # Hz, of F1-F3
_TILT = 150.0  # Hz: above it the voiced spectrum falls by 6 dB per octave
_NOISE_BAND = 700.0  # Hz, standard deviation of the frication band
_FRICATION_GAIN = 0.08  # noise against pulses, so that an "s" is about as loud as a vowel
_WORD_SECONDS = 0.6
_LEVEL = 0.05  # RMS of a clip at 0 dB gain
_PEAK = 0.9
_CHUNK = 128  # clips synthesised at once: bounds memory, not results


def _knots(word: str) -> tuple[np.ndarray, np.ndarray]:
    """Times (0-1 within the word) and parameter rows (6,) of the word's trajectory."""
    times, rows, start = [0.0], [], 0.0
    for phone, share in _WORDS[word]:
        times += [start + 0.2 * share, start + 0.8 * share]
        rows += [_PHONES[phone]] * 2
        start += share
    times.append(1.0)
    rows = [rows[0]] + rows + [rows[-1]]
    values = np.array(rows, dtype=np.float64)
    values[[0, -1], 3:5] = 0.0  # voicing and frication rise from and fall back to silence
    return np.array(times) / start, values


def make_digits(
    n_per_class: int = 20,
    *,
    sr: float = 8000,
    duration: float = 1.0,
    snr_db=(10.0, 30.0),
    seed=0,
) -> SignalSet:
    """Make ten classes of spoken-digit-like clips: formant sweeps with speaker-like variation.

    See the module docstring for the model. Generation is vectorised: 2,000 one-second clips at
    8 kHz take a few seconds.

    Parameters
    ----------
    n_per_class : int, default=20
        Clips of each word.
    sr : float, default=8000
        Sample rate in Hz; at least 6000 so that the third formant (up to ~3 kHz) fits.
    duration : float, default=1.0
        Seconds per clip, 0.25 to 10. Words last 0.45-0.78 s (shortened to fit shorter clips).
    snr_db : float or (float, float), default=(10.0, 30.0)
        Signal-to-noise ratio of the background noise in dB, drawn uniformly per clip.
    seed : int, numpy.random.Generator or None, default=0
        The same seed gives identical clips.

    Returns
    -------
    SignalSet
        ``X`` of shape (10 * n_per_class, 1, round(sr * duration)), float32, peak at most 0.9;
        ``y`` the words ``"zero"`` ... ``"nine"`` (:data:`DIGIT_WORDS`), ``n_per_class`` of each
        in that order; ``names`` ``"zero-0000", ...``; ``sr`` as given.

    Raises
    ------
    ParameterError
        A count, rate, duration or SNR is out of range.

    Examples
    --------
    >>> s = make_digits(2, seed=0)
    >>> s.X.shape, s.sr, s.classes.tolist()[:3]
    ((20, 1, 8000), 8000.0, ['eight', 'five', 'four'])
    """
    n_per_class = check_int("n_per_class", n_per_class, minimum=1)
    sr = check_real("sr", sr, minimum=0.0, strict=True)
    if sr < 6000:
        raise ParameterError(f"sr={sr:g} must be at least 6000 Hz, so that the formants (up to ~3 kHz) fit")
    duration = check_real("duration", duration, minimum=0.0, strict=True)
    if not 0.25 <= duration <= 10.0:
        raise ParameterError(f"duration={duration:g} must be between 0.25 and 10 seconds")
    snr_range = check_range("snr_db", snr_db)
    n_samples = int(round(sr * duration))
    n_fft = 2 ** int(round(math.log2(0.032 * sr)))  # ~32 ms frames: a few pitch periods
    rngs = [np.random.default_rng(s) for s in seed_sequence(seed).spawn(len(DIGIT_WORDS))]
    X = np.empty((len(DIGIT_WORDS) * n_per_class, 1, n_samples), dtype=np.float32)
    for c, (word, rng) in enumerate(zip(DIGIT_WORDS, rngs)):
        times, values = _knots(word)
        for start in range(0, n_per_class, _CHUNK):
            m = min(_CHUNK, n_per_class - start)
            row = c * n_per_class + start
            X[row:row + m, 0] = _synthesise(times, values, m, n_samples, sr, n_fft, duration, snr_range, rng)
    labels = np.repeat(np.array(DIGIT_WORDS), n_per_class)
    names = [f"{word}-{i:04d}" for word in DIGIT_WORDS for i in range(n_per_class)]
    return SignalSet(X, sr=float(sr), y=labels, names=names)


def _synthesise(times, values, m, n_samples, sr, n_fft, duration, snr_range, rng) -> np.ndarray:
    """``m`` clips (m, n_samples) of one word."""
    hop = n_fft // 2
    n_frames = -(-n_samples // hop) + 1
    # Speakers. Draws come in chunk order from the class's own generator: the same seed and
    # n_per_class give the same clips.
    f0 = np.exp(rng.uniform(math.log(85.0), math.log(255.0), size=(m, 1)))
    tract = rng.uniform(0.85, 1.2, size=(m, 1, 1))
    accent = rng.normal(1.0, 0.04, size=(m, 1, 3))
    length = np.minimum(_WORD_SECONDS * rng.uniform(0.75, 1.3, size=(m, 1)), 0.95 * duration)
    onset = rng.uniform(0.0, 1.0, size=(m, 1)) * (duration - length)
    warp = rng.uniform(-0.3, 0.3, size=(m, 1))
    gain = 10.0 ** (rng.uniform(-12.0, 0.0, size=(m, 1)) / 20.0)
    snr = rng.uniform(*snr_range, size=(m, 1)) if snr_range[1] > snr_range[0] else np.full((m, 1), snr_range[0])

    # Where in the word each frame centre falls, with a smooth, monotone warp of its rhythm.
    u = (np.arange(n_frames)[None, :] * hop / sr - onset) / length
    inside = (u >= 0) & (u <= 1)
    uc = np.clip(u, 0.0, 1.0)
    uw = uc + warp * np.sin(np.pi * uc) / np.pi
    params = np.stack([np.interp(uw, times, values[:, j]) for j in range(values.shape[1])], axis=-1)
    params[..., 3:5] *= inside[..., None]
    formants = params[..., :3] * tract * accent  # (m, frames, 3)

    # Voicing source: one pulse per pitch period, f0 falling over the word.
    f0_frames = f0 * (1.08 - 0.16 * uc)
    f0_samples = _upsample(f0_frames, hop, (n_frames + 1) * hop)
    phase = np.cumsum(f0_samples / sr, axis=1) + rng.uniform(0.0, 1.0, size=(m, 1))
    cycles = np.floor(phase)
    pulses = np.diff(cycles, axis=1, prepend=cycles[:, :1]).astype(np.float32)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann: halves overlap-add to one
    frames = np.lib.stride_tricks.sliding_window_view(pulses, n_fft, axis=1)[:, ::hop][:, :n_frames]
    voiced = np.fft.rfft(frames * window, axis=-1)

    freq = np.fft.rfftfreq(n_fft, 1.0 / sr).astype(np.float32)[None, None, :]
    f2 = freq**2
    # |H|^2 of the tilt and the three resonators, multiplied before one square root (the hot loop).
    power = 1.0 / (1.0 + f2 / np.float32(_TILT**2))
    for i, bandwidth in enumerate(_BANDWIDTHS):
        fi2 = (formants[..., i : i + 1] ** 2).astype(np.float32)
        power = power * (fi2 * fi2 / ((fi2 - f2) ** 2 + np.float32(bandwidth**2) * f2))
    gain_v = np.sqrt(power) * params[..., 3:4].astype(np.float32)
    spectrum = voiced * gain_v
    centre = (params[..., 5:6] * tract).astype(np.float32)
    width = (_NOISE_BAND * tract).astype(np.float32)
    level = (params[..., 4:5] * (_FRICATION_GAIN * math.sqrt(n_fft))).astype(np.float32)
    gain_n = np.exp(-0.5 * ((freq - centre) / width) ** 2) * level
    noise = rng.standard_normal((2, *spectrum.shape), dtype=np.float32)
    fricative = (noise[0] * gain_n) + 1j * (noise[1] * gain_n)
    blocks = np.fft.irfft(spectrum, n=n_fft, axis=-1) + window * np.fft.irfft(fricative, n=n_fft, axis=-1)

    # Overlap-add at half-frame hop: each hop-long block is a frame's second half plus the next
    # frame's first half.
    out = np.zeros((m, (n_frames + 1) * hop), dtype=np.float32)
    out[:, :n_frames * hop] += blocks[..., :hop].reshape(m, -1)
    out[:, hop:] += blocks[..., hop:].reshape(m, -1)
    clip = out[:, hop : hop + n_samples]  # frame f is centred on out[f * hop + hop], time f * hop / sr
    rms = np.sqrt(np.mean(clip**2, axis=1, keepdims=True)) + 1e-12
    clip = clip * (_LEVEL * gain / rms)
    clip += rng.standard_normal(clip.shape, dtype=np.float32) * (_LEVEL * gain / 10.0 ** (snr / 20.0))
    peak = np.abs(clip).max(axis=1, keepdims=True)
    return clip * np.minimum(1.0, _PEAK / peak)  # a rare spiky clip is turned down, never clipped


def _upsample(frames: np.ndarray, hop: int, n: int) -> np.ndarray:
    """Frame values (m, F), frame f centred on sample (f + 1) hop, linearly interpolated to n samples."""
    position = np.arange(n) / hop - 1.0
    left = np.clip(np.floor(position).astype(np.intp), 0, frames.shape[1] - 2)
    frac = np.clip(position - left, 0.0, 1.0)
    return frames[:, left] * (1.0 - frac) + frames[:, left + 1] * frac
