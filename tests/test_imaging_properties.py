"""Imaging properties over lengths, sample rates, amplitudes and dtypes (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigxfer.errors import ParameterError
from sigxfer.imaging import Imager, list_transforms

FAST = settings(max_examples=8, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
SIZE = 24


# Imaging ops are small: one thread is as fast, and immune to stalls on a shared machine.
pytestmark = pytest.mark.usefixtures("one_thread")


def _params(name: str, n: int) -> dict:
    # Short STFTs so that short signals are legal; everything else on its defaults.
    if name == "spectrogram":
        return {"n_fft": 32}
    if name == "mel":
        return {"n_fft": 32, "n_mels": 8}
    return {}


@st.composite
def batches(draw):
    n = draw(st.integers(min_value=32, max_value=1500))
    sr = draw(st.sampled_from([1.0, 37.5, 1000.0, 44100.0]))
    n_cases = draw(st.integers(min_value=1, max_value=3))
    scale = draw(st.sampled_from([0.0, 1e-6, 1.0, 1e4]))
    offset = draw(st.sampled_from([0.0, 3.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int16]))
    seed = draw(st.integers(min_value=0, max_value=2**16))
    x = np.random.default_rng(seed).standard_normal((n_cases, 1, n)) * scale + offset
    if dtype is np.int16:
        x = np.clip(np.round(x * 1000), -32768, 32767)
    return x.astype(dtype), sr


@pytest.mark.parametrize("name", list_transforms())
@pytest.mark.filterwarnings("ignore:mel.*empty:UserWarning")  # 8 bands on 32-point DFTs at low sr
@FAST
@given(data=batches())
def test_finite_input_gives_finite_pictures_in_range(name, data):
    x, sr = data
    im = Imager(name, sr=sr, size=SIZE, **_params(name, x.shape[-1])).fit(x)
    pics = im.pictures(torch.as_tensor(x.astype(np.float32)))
    assert pics.shape == (x.shape[0], 3, SIZE, SIZE)
    assert torch.isfinite(pics).all() and pics.min() >= 0.0 and pics.max() <= 1.0
    out = im(x)  # numpy input of any dtype: converted to float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list_transforms())
@pytest.mark.parametrize("value", [0.0, -2.5])
def test_constant_signals_give_a_defined_picture(name, value):
    x = np.full((2, 1, 300), value, dtype=np.float32)
    im = Imager(name, sr=100.0, size=SIZE, **_params(name, 300)).fit(x)
    assert np.isfinite(im.scale.numpy()).all() and im.scale[1] > im.scale[0]
    pics = im.pictures(torch.as_tensor(x))
    assert torch.isfinite(pics).all() and pics.min() >= 0 and pics.max() <= 1
    if value == 0.0:
        assert torch.equal(pics[0], pics[1])
    # A constant's spectrum below its DC peak is float32 rounding (-140 dB), and a scale fitted on
    # nothing but constants zooms into that noise; the pictures agree on average, not bit for bit.
    assert abs(pics[0].mean() - pics[1].mean()) < 0.05


@pytest.mark.parametrize("name", ["spectrogram", "mel"])
@settings(max_examples=6, deadline=None, derandomize=True)
@given(n=st.integers(min_value=1, max_value=255))
def test_signals_shorter_than_n_fft_are_refused_clearly(name, n):
    im = Imager(name, sr=1000.0, size=SIZE, n_fft=256)
    with pytest.raises(ParameterError, match=rf"signals of {n} samples are shorter than n_fft=256; pass n_fft="):
        im.fit(np.zeros((1, 1, n), dtype=np.float32))


@pytest.mark.parametrize("name", ["gaf", "recurrence", "scalogram", "spectrum", "waveform"])
@pytest.mark.parametrize("n", [2, 3, 17])
def test_other_transforms_take_very_short_signals(name, n):
    x = np.random.default_rng(n).standard_normal((2, 1, n)).astype(np.float32)
    pics = Imager(name, sr=100.0, size=SIZE).fit(x).pictures(torch.as_tensor(x))
    assert torch.isfinite(pics).all()
