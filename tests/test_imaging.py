"""Imaging: known answers, agreement with scipy, librosa and PyWavelets, batching, errors.

Reference tolerances (stated in the issue and in BENCHMARKS_imaging.md):
spectrogram vs ``scipy.signal.stft`` 1e-4 relative (float32 path; 1e-10 in float64), mel vs
``librosa.feature.melspectrogram`` 1e-3 relative, scalogram vs ``pywt.cwt`` 3% of each row's peak
away from the ends.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sigxfer.errors import DataError, NotFittedError, ParameterError
from sigxfer.imaging import Imager, create_transform, list_transforms
from sigxfer.imaging import _dft
from sigxfer.imaging import functional as Fn

ALL = ["gaf", "mel", "picture", "recurrence", "scalogram", "segments", "spectrogram", "spectrum", "waveform"]
rng = np.random.default_rng(1234)


# Imaging ops are small: one thread is as fast, and immune to stalls on a shared machine.
pytestmark = pytest.mark.usefixtures("one_thread")


def tone(f0, *, sr, n, amp=1.0, phase=0.3):
    t = np.arange(n) / sr
    return amp * np.sin(2 * np.pi * f0 * t + phase)


def signals(n_cases=6, n_channels=1, n=1024, seed=0):
    r = np.random.default_rng(seed)
    t = np.arange(n) / 1000.0
    f = r.uniform(20, 300, size=(n_cases, n_channels, 1))
    x = r.uniform(0.5, 2.0, size=(n_cases, n_channels, 1)) * np.sin(2 * np.pi * f * t)
    return (x + 0.1 * r.standard_normal((n_cases, n_channels, n))).astype(np.float32)


def test_registry_lists_every_transform():
    assert list_transforms() == ALL


# ---------------------------------------------------------------------------- the DFT engine
@pytest.mark.parametrize("n", [7, 128, 255, 1000, 1031, 4096, 9216])
def test_dft_matches_torch_fft(n):
    x = torch.randn(3, n, dtype=torch.float64)
    re, im = _dft.rdft(x)
    ref = torch.fft.rfft(x)
    assert torch.allclose(re, ref.real, atol=1e-9 * n) and torch.allclose(im, ref.imag, atol=1e-9 * n)
    z = torch.randn(2, n, dtype=torch.complex128)
    re, im = _dft.dft(z.real, z.imag, inverse=True, n_out=n // 2)
    ref = torch.fft.ifft(z)[..., : n // 2] * n
    assert torch.allclose(re, ref.real, atol=1e-9 * n) and torch.allclose(im, ref.imag, atol=1e-9 * n)


def test_good_length_only_pads_awkward_lengths():
    assert _dft.good_length(4096) == 4096 and _dft.good_length(100) == 100
    m = _dft.good_length(4099)  # prime
    assert 4099 < m <= 4099 + 2 * math.isqrt(4099) and _dft.split(m) is not None


# ---------------------------------------------------------------------------- spectrum
def test_spectrum_tone_peaks_at_its_bin_with_its_amplitude():
    sr, n, k = 1000.0, 1000, 87
    x = torch.tensor(tone(k * sr / n, sr=sr, n=n, amp=3.0), dtype=torch.float64)
    mag = Fn.spectrum(x)
    assert int(mag.argmax()) == k
    assert mag[k].item() == pytest.approx(3.0, rel=1e-6)


def test_spectrum_matches_numpy():
    x = rng.standard_normal((2, 777))
    w = np.hanning(778)[:-1]  # periodic Hann
    ref = np.abs(np.fft.rfft(x * w, n=777)) / w.sum()
    ref[..., 1:] *= 2  # odd length: no Nyquist bin
    ours = Fn.spectrum(torch.tensor(x), n_fft=777).numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_spectrum_picture_keeps_a_narrow_peak():
    sr, n = 1000.0, 4096
    x = tone(123.0, sr=sr, n=n)[None, None].astype(np.float32)
    im = Imager("spectrum", sr=sr, size=64).fit(np.concatenate([x, 0.01 * x]))
    pic = im.pictures(torch.as_tensor(x))[0, 0]
    column = int(round(123.0 / 500.0 * 63))
    assert abs(int(pic.sum(dim=0).argmax()) - column) <= 1  # tallest column sits at 123 Hz


# ---------------------------------------------------------------------------- spectrogram
@pytest.mark.parametrize("n,n_fft,hop,win,window", [
    (1000, 256, 64, 256, "hann"),
    (1001, 128, 50, 100, "hamming"),
    (777, 64, 7, 63, "blackman"),
    (512, 512, 128, 512, "boxcar"),
])
def test_stft_matches_scipy(n, n_fft, hop, win, window):
    from scipy.signal import stft as scipy_stft

    x = rng.standard_normal((2, n))
    _, _, ref = scipy_stft(x, window=window, nperseg=win, noverlap=win - hop, nfft=n_fft)
    ours64 = Fn.stft(torch.tensor(x), n_fft=n_fft, hop_length=hop, win_length=win,
                     window=Fn.get_window(window, win, dtype=torch.float64)).numpy()
    assert ours64.shape == ref.shape
    np.testing.assert_allclose(ours64, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    ours32 = Fn.stft(torch.tensor(x, dtype=torch.float32), n_fft=n_fft, hop_length=hop,
                     win_length=win, window=Fn.get_window(window, win)).numpy()
    big = np.abs(ref) > 1e-2 * np.abs(ref).max()
    np.testing.assert_allclose(np.abs(ours32)[big], np.abs(ref)[big], rtol=1e-4)
    assert np.abs(ours32 - ref).max() <= 1e-4 * np.abs(ref).max()


def test_spectrogram_transform_is_db_of_scipy_magnitude():
    from scipy.signal import stft as scipy_stft

    x = rng.standard_normal((3, 1, 2048)).astype(np.float32)
    _, _, ref = scipy_stft(x.astype(np.float64), nperseg=256, noverlap=192, nfft=256)
    ref_db = 20 * np.log10(np.maximum(np.abs(ref), 1e-10))
    ours = create_transform("spectrogram", n_fft=256)(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(ours, ref_db, atol=1e-3)  # 1e-3 dB = 1.2e-4 relative


def test_spectrogram_tone_peaks_in_its_bin():
    sr, n_fft, f0 = 8000.0, 256, 1234.0
    x = torch.tensor(tone(f0, sr=sr, n=4096), dtype=torch.float32)[None, None]
    s = create_transform("spectrogram", sr=sr, n_fft=n_fft)(x)[0, 0]
    assert int(s[:, 5:-5].mean(dim=1).argmax()) == round(f0 * n_fft / sr)


def test_spectrogram_fmax_crops_bins():
    t = create_transform("spectrogram", sr=1000.0, n_fft=100, fmin=100.0, fmax=200.0)
    out = t(torch.randn(1, 1, 500))
    assert out.shape[-2] == 11  # bins 10 (100 Hz) to 20 (200 Hz)


# ---------------------------------------------------------------------------- mel
@pytest.mark.parametrize("n,sr,n_fft,hop,n_mels,fmin,fmax", [
    (4096, 8000, 512, 128, 64, 0.0, None),
    (3000, 22050, 1024, 256, 128, 50.0, 8000.0),
    (2000, 16000, 400, 160, 40, 0.0, None),
])
def test_mel_matches_librosa(n, sr, n_fft, hop, n_mels, fmin, fmax):
    librosa = pytest.importorskip("librosa")
    x = rng.standard_normal(n)
    ref = librosa.feature.melspectrogram(
        y=x, sr=sr, n_fft=n_fft, hop_length=hop, window="hann", center=True, pad_mode="constant",
        power=2.0, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney")
    fb_ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    fb = Fn.mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=torch.float64)
    np.testing.assert_allclose(fb.numpy(), fb_ref, rtol=1e-3, atol=1e-6 * fb_ref.max())
    # Ours is scaled by the window's sum (scipy's convention) and has scipy's padded tail frame.
    scale = float(Fn.get_window("hann", n_fft, dtype=torch.float64).sum()) ** 2
    for dtype in (torch.float64, torch.float32):
        ours = Fn.melspectrogram(torch.tensor(x, dtype=dtype), sr=sr, n_fft=n_fft, hop_length=hop,
                                 n_mels=n_mels, fmin=fmin, fmax=fmax).double().numpy() * scale
        assert ours.shape[1] in (ref.shape[1], ref.shape[1] + 1)
        ours = ours[:, : ref.shape[1]]
        big = ref > 1e-4 * ref.max()
        np.testing.assert_allclose(ours[big], ref[big], rtol=1e-3)
        assert np.abs(ours - ref).max() <= 1e-3 * ref.max()


def test_mel_needs_sr_and_warns_on_empty_bands():
    with pytest.raises(ParameterError, match="sample rate"):
        create_transform("mel")
    with pytest.warns(UserWarning, match="empty"):
        create_transform("mel", sr=44100.0, n_fft=128, n_mels=128)


# ---------------------------------------------------------------------------- scalogram
def _pywt_reference(x, freqs, sr, w0):
    pywt = pytest.importorskip("pywt")
    centre = w0 / (2 * np.pi)
    scales = centre * sr / freqs
    wavelet = pywt.ContinuousWavelet(f"cmor2.0-{centre!r}")
    coef, _ = pywt.cwt(x, scales, wavelet, sampling_period=1 / sr, method="fft", precision=18)
    # pywt is L2-normalised (x sqrt(scale) / 2 of ours) and takes the wavelet's derivative by a
    # first difference, which damps a row at f by sinc(f / sr).
    return np.abs(coef) * 2 / np.sqrt(scales)[:, None] / np.sinc(freqs / sr)[:, None]


def test_scalogram_agrees_with_pywavelets():
    sr, n, w0 = 1000.0, 2048, 6.0
    t = np.arange(n) / sr
    x = np.sin(2 * np.pi * (20 * t + 40 * t**2)) + 0.3 * rng.standard_normal(n)
    # Scales of at least 8 samples: below that pywt's sampled wavelet is too coarse to compare.
    freqs = Fn.morlet_frequencies(n_timepoints=n, sr=sr, fmax=w0 / (2 * np.pi) * sr / 8,
                                  voices_per_octave=8)
    ref = _pywt_reference(x, freqs, sr, w0)
    for dtype in (torch.float64, torch.float32):
        ours = Fn.scalogram(torch.tensor(x, dtype=dtype), freqs=freqs, sr=sr, w0=w0).double().numpy()
        sigma = w0 * sr / (2 * np.pi * freqs)
        checked = 0
        for row, s in enumerate(sigma):
            edge = int(np.ceil(3 * s))  # away from the ends, where pywt and we pad differently
            if 2 * edge >= n - 16:
                continue
            a, b = ours[row, edge:n - edge], ref[row, edge:n - edge]
            assert np.abs(a - b).max() <= 0.03 * b.max(), f"row {freqs[row]:.1f} Hz"
            assert np.median(np.abs(a - b) / b) <= 0.02
            checked += 1
        assert checked >= 40


def test_cwt_is_the_exact_frequency_domain_transform():
    # Independent check against a long torch.fft convolution: exact away from Nyquist, any
    # decimation (the decimated samples are the same samples).
    sr, n = 100.0, 1500
    x = torch.randn(2, n, dtype=torch.float64)
    freqs = Fn.morlet_frequencies(n_timepoints=n, sr=sr, fmax=30.0)
    big = 1 << 16
    spec = torch.fft.fft(x, n=big)
    f = torch.fft.fftfreq(big, d=1 / sr).double()
    g = torch.exp(-0.5 * (6.0 * (f / torch.tensor(freqs)[:, None] - 1)) ** 2)
    h = torch.where(f > 0, 2 * g, torch.where(f == 0, g, torch.zeros((), dtype=torch.float64)))
    ref = torch.fft.ifft(spec[:, None, :] * h, dim=-1)[..., :n]
    for d in (1, 4):
        ours = Fn.cwt(x, freqs=freqs, sr=sr, decimation=d)
        assert ours.shape == (2, len(freqs), -(-n // d))
        assert (ours - ref[..., ::d]).abs().max() <= 1e-5 * ref.abs().max()


@pytest.mark.parametrize("f0", [7.0, 40.0, 180.0])
def test_scalogram_tone_peaks_at_its_own_row_with_its_amplitude(f0):
    sr, n = 1000.0, 4096
    x = torch.tensor(tone(f0, sr=sr, n=n, amp=2.5))[None]
    freqs = Fn.morlet_frequencies(n_timepoints=n, sr=sr, voices_per_octave=12)
    mag = Fn.scalogram(x, freqs=freqs, sr=sr)[0, :, n // 2]
    row = int(mag.argmax())
    assert abs(math.log2(freqs[row] / f0)) <= 1 / 24 + 1e-9
    assert mag.max().item() == pytest.approx(2.5, rel=0.02)


def test_scalogram_transform_rows_and_decimation():
    t = create_transform("scalogram", sr=1000.0, voices_per_octave=6)
    t.image_size = (32, 32)
    out = t(torch.randn(2, 1, 4096))
    freqs = t.frequencies(4096)
    assert out.shape == (2, 1, len(freqs), 64)  # every 64th sample: 2 per column
    lowest = 4 * 6.0 * 1000.0 / (2 * np.pi * 4096)  # 4 envelope sigmas span the signal
    assert freqs[-1] == pytest.approx(500.0) and lowest <= freqs[0] < lowest * 2 ** (1 / 6)
    assert np.allclose(np.diff(np.log2(freqs)), 1 / 6)


# ---------------------------------------------------------------------------- encodings
def test_gaf_textbook_values():
    x = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    c = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    s = torch.sqrt(1 - c**2)
    gasf = Fn.gaf(x, method="summation")[0]
    gadf = Fn.gaf(x, method="difference")[0]
    assert torch.allclose(gasf, torch.outer(c, c) - torch.outer(s, s))
    assert torch.allclose(gadf, torch.outer(s, c) - torch.outer(c, s))
    assert torch.allclose(gasf.diagonal(), 2 * c**2 - 1)  # cos(2 phi)


def test_gaf_fitted_range_keeps_amplitude_series_range_does_not():
    x = signals(4, n=224)
    loud = np.concatenate([x, 3 * x])
    fitted = Imager("gaf", size=32).fit(loud)
    series = Imager("gaf", size=32, rescale="series").fit(loud)
    p_fit = fitted.pictures(torch.as_tensor(loud))
    p_ser = series.pictures(torch.as_tensor(loud))
    assert not torch.allclose(p_fit[:4], p_fit[4:], atol=1e-3)
    assert torch.allclose(p_ser[:4], p_ser[4:], atol=1e-5)
    assert series.scale.tolist() == [-1.0, 1.0]


def test_recurrence_distances_and_threshold():
    x = torch.tensor([[0.0, 1.0, 3.0]])
    d = Fn.recurrence(x)[0]
    assert torch.equal(d, torch.tensor([[0.0, 1.0, 3.0], [1.0, 0.0, 2.0], [3.0, 2.0, 0.0]]))
    assert torch.equal(Fn.recurrence(x, threshold=1.5)[0], (d <= 1.5).float())
    emb = Fn.recurrence(torch.tensor([[0.0, 1.0, 3.0, 6.0]]), dimension=2, time_delay=1)[0]
    assert emb.shape == (3, 3) and emb[0, 1].item() == pytest.approx(math.hypot(1, 2))
    with pytest.raises(ParameterError, match="too short"):
        Fn.recurrence(torch.zeros(1, 3), dimension=3, time_delay=2)
    im = Imager("recurrence", size=16, threshold=0.2).fit(signals(3, n=100))
    pics = im.pictures(torch.as_tensor(signals(3, n=100)))
    assert set(torch.unique(pics).tolist()) <= {0.0, 1.0}


def test_long_series_are_pooled_to_the_image_size():
    t = create_transform("recurrence")
    t.image_size = (48, 64)
    assert t(torch.randn(2, 1, 10_000)).shape == (2, 1, 64, 64)
    pooled = Fn.pool(torch.arange(12.0)[None], 4)
    assert torch.allclose(pooled, torch.tensor([[1.0, 4.0, 7.0, 10.0]]))


def test_waveform_draws_the_line_where_the_signal_is():
    n = 512
    x = np.full((1, 1, n), 0.5, dtype=np.float32)
    x[..., : n // 2] = -0.5
    im = Imager("waveform", size=32, scale_percentiles=(0.0, 100.0)).fit(np.concatenate([x, -2 * x]))
    pic = im.pictures(torch.as_tensor(x))[0, 0]  # range [-1, 1]: -0.5 at 1/4, 0.5 at 3/4 height
    assert pic[:, :10].sum().item() == pytest.approx(10.0)  # one pixel thick
    assert set(pic[:, :10].argmax(dim=0).tolist()) <= {23, 24}
    assert set(pic[:, -10:].argmax(dim=0).tolist()) <= {7, 8}
    assert (pic[8:24, 15:17].amax(dim=1) > 0).all()  # the jump is drawn: the line is unbroken


def test_segments_stack_overlapping_rows_and_repeat_the_last_sample():
    t = create_transform("segments", segment=4, overlap=0.25)  # a hop of 3 samples
    rows = t(torch.arange(11.0).view(1, 1, 11))[0, 0]
    # Starts 0, 3, 6, 9; the last row runs two samples past the end and repeats sample 10.
    assert rows.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [9, 10, 10, 10]]
    assert create_transform("segments").rows_for(150) == (24, 12, 6)  # about sqrt(n) per row, half overlapping
    assert create_transform("segments").rows_for(3) == (2, 2, 1)
    assert create_transform("segments", segment=5, overlap=0).rows_for(20) == (4, 5, 5)  # end to end
    # As a picture: the first segment at the top, each pixel a value at the fitted scale.
    x = np.zeros((1, 1, 64), dtype=np.float32)
    x[..., :8] = 1.0  # high at the start only
    im = Imager("segments", size=32, scale_percentiles=(0.0, 100.0)).fit(x)
    pic = im.pictures(torch.as_tensor(x))[0, 0]
    assert pic[0].mean() > 0.5 and pic[-1].max() == 0.0
    for bad in ({"segment": 1}, {"segment": 0}, {"overlap": 1.0}, {"overlap": -0.1}, {"overlap": True}):
        with pytest.raises(ParameterError):
            create_transform("segments", **bad)


# ---------------------------------------------------------------------------- resize
def test_resize_matches_bilinear_when_growing_and_box_when_shrinking():
    import torch.nn.functional as F

    x = torch.randn(2, 1, 17, 40, dtype=torch.float64)
    grown = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
    assert torch.allclose(Fn.resize(x, (64, 64)), grown, atol=1e-12)
    y = torch.randn(2, 1, 64, 90, dtype=torch.float64)
    assert torch.allclose(Fn.resize(y, (32, 30)), F.avg_pool2d(y, (2, 3)), atol=1e-12)
    assert torch.allclose(Fn.resize(y, (23, 41)).mean(), y.mean(), atol=1e-12)  # area-preserving
    line = torch.randn(3, 50, dtype=torch.float64)
    assert torch.allclose(Fn.interpolate(line, 77),
                          F.interpolate(line[:, None], size=77, mode="linear", align_corners=False)[:, 0])


# ---------------------------------------------------------------------------- the Imager
@pytest.mark.parametrize("name", ALL)
def test_batched_equals_case_by_case_and_channels_equal_one_by_one(name):
    x = torch.as_tensor(signals(5, n_channels=3, n=1024))
    im = Imager(name, sr=1000.0, size=48, channel_mode="rgb").fit(x)
    pics = im.pictures(x)
    assert pics.shape == (5, 3, 48, 48)
    for i in range(5):
        # float32 rounding, amplified by dB at the quietest bins: well below one 8-bit level
        assert torch.allclose(im.pictures(x[i:i + 1]), pics[i:i + 1], atol=1e-3)
    grey = Imager.from_config({**im.get_config(), "channel_mode": "grey", "n_channels": None})
    for c in range(3):
        assert torch.allclose(grey.pictures(x[:, c:c + 1])[:, 0], pics[:, c], atol=1e-3)


@pytest.mark.parametrize("name", ALL)
def test_config_round_trip_and_model_state(name):
    x = signals(4, n=1024)
    im = Imager(name, sr=1000.0, size=40).fit(x)
    again = Imager.from_config(im.get_config())
    assert torch.equal(again(x), im(x))
    assert list(im.state_dict()) == ["scale"]  # windows, filters, mean/std are rebuilt


def test_channel_modes():
    x1, x3, x2 = (torch.as_tensor(signals(2, n_channels=c, n=512)) for c in (1, 3, 2))
    kw = dict(sr=1000.0, size=32, n_fft=64)
    grey = Imager("spectrogram", **kw).fit(x1).pictures(x1)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 0], grey[:, 2])
    rgb = Imager("spectrogram", **kw).fit(x3).pictures(x3)
    assert not torch.equal(rgb[:, 0], rgb[:, 1])
    tiled = Imager("spectrogram", **kw).fit(x2)
    assert tiled.pictures(x2).shape == (2, 3, 32, 32)
    mean = Imager("spectrogram", channel_mode="mean", **kw).fit(x2).pictures(x2)
    assert mean.shape == (2, 3, 32, 32)
    with pytest.raises(ParameterError, match="'rgb' needs 3 channels"):
        Imager("spectrogram", channel_mode="rgb", **kw).fit(x2)
    with pytest.raises(ParameterError, match="'grey' needs 1 channel"):
        Imager("spectrogram", channel_mode="grey", **kw).fit(x2)
    colour = Imager("spectrogram", colormap="viridis", **kw).fit(x1).pictures(x1)
    assert not torch.equal(colour[:, 0], colour[:, 2]) and colour.min() >= 0 and colour.max() <= 1


def test_scale_is_fitted_once_and_loudness_survives():
    x = signals(8, n=1024)
    im = Imager("spectrogram", sr=1000.0, size=32).fit(x)
    same = Imager("spectrogram", sr=1000.0, size=32).fit(x, batch_size=3)
    assert torch.equal(im.scale, same.scale)  # the batch size does not change the scale
    quiet, loud = im.pictures(torch.as_tensor(x[:1])), im.pictures(torch.as_tensor(10 * x[:1]))
    assert loud.mean() > quiet.mean() + 0.05  # no per-image min-max
    assert torch.equal(im.pictures(torch.as_tensor(x[:1])), quiet)


def test_forward_applies_mean_and_std_last():
    x = torch.as_tensor(signals(2, n=512))
    im = Imager("spectrum", size=16, mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0)).fit(x)
    expected = (im.pictures(x) - torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)) / torch.tensor(
        [0.5, 0.25, 2.0]).view(1, 3, 1, 1)
    assert torch.allclose(im(x), expected, atol=1e-6)


def test_imager_errors():
    x = signals(2, n=512)
    with pytest.raises(ParameterError, match="transform=.nope. is not known"):
        Imager("nope")
    with pytest.raises(ParameterError, match="takes no parameter 'n_mels'"):
        Imager("spectrogram", n_mels=3)
    with pytest.raises(NotFittedError, match="call fit"):
        Imager("spectrum").pictures(torch.as_tensor(x))
    bad = x.copy()
    bad[1, 0, 7] = np.nan
    with pytest.raises(DataError, match="case 1: signal holds NaN"):
        Imager("spectrum").fit(bad)
    with pytest.raises(DataError, match="Reshape your data"):
        Imager("spectrum").fit(x[0, 0])
    im = Imager("spectrum").fit(x)
    with pytest.raises(DataError, match="fitted on 1"):
        im(np.zeros((1, 2, 512), dtype=np.float32))
    for kwargs, match in [
        (dict(n_fft=0), "n_fft=0 must be a positive integer"),
        (dict(hop_length=0), "hop_length=0 must be a positive integer"),
        (dict(n_fft=64, win_length=128), "must not exceed n_fft"),
        (dict(window="kaiser"), "window='kaiser' is not known"),
        (dict(sr=100.0, fmin=40.0, fmax=30.0), "fmin < fmax"),
        (dict(fmax=30.0), "need the sample rate"),
    ]:
        with pytest.raises(ParameterError, match=match):
            Imager("spectrogram", **kwargs)
    with pytest.raises(ParameterError, match="shorter than n_fft=256; pass n_fft=64"):
        Imager("spectrogram").fit(np.zeros((1, 1, 100), dtype=np.float32))
    with pytest.raises(ParameterError, match="method='sum' is not known"):
        Imager("gaf", method="sum")
    with pytest.raises(ParameterError, match="threshold=1.5 must be a number between 0 and 1"):
        Imager("recurrence", threshold=1.5)
    with pytest.raises(ParameterError, match="sr=-1"):
        Imager("spectrum", sr=-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU here")
@pytest.mark.parametrize("name", ALL)
def test_gpu_gives_the_cpu_pictures(name):
    x = signals(3, n_channels=3, n=1024)
    cpu = Imager(name, sr=1000.0, size=48).fit(x)
    gpu = Imager.from_config(cpu.get_config()).to("cuda")
    assert gpu(x).device.type == "cuda"
    assert torch.allclose(gpu.pictures(torch.as_tensor(x).cuda()).cpu(),
                          cpu.pictures(torch.as_tensor(x)), atol=2e-3)
    refit = Imager(name, sr=1000.0, size=48).to("cuda").fit(x)  # fitting on the GPU works too
    assert torch.allclose(refit.scale.cpu(), cpu.scale, rtol=1e-3, atol=1e-3)
