"""Every transform exports to ONNX (TorchScript exporter) and runs the same in onnxruntime."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

from sigxfer.imaging import Imager, list_transforms

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


# Imaging ops are small: one thread is as fast, and immune to stalls on a shared machine.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", list_transforms())
def test_imager_exports_with_a_dynamic_batch(name):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 600)).astype(np.float32)  # 2 channels: the tiled layout
    params = {"n_fft": 128} if name in ("spectrogram", "mel") else {}
    imager = Imager(name, sr=1000.0, size=32, **params).fit(x).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about sizes taken as constants
        torch.onnx.export(imager, (torch.as_tensor(x),), buffer, dynamo=False, opset_version=17,
                          input_names=["signals"], output_names=["images"],
                          dynamic_axes={"signals": {0: "batch"}, "images": {0: "batch"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    other = rng.standard_normal((5, 2, 600)).astype(np.float32)
    got = session.run(None, {"signals": other})[0]
    want = imager(other).numpy()
    assert got.shape == (5, 3, 32, 32)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_colour_map_exports():
    x = np.random.default_rng(1).standard_normal((2, 1, 400)).astype(np.float32)
    imager = Imager("spectrum", size=16, colormap="jet").fit(x).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(imager, (torch.as_tensor(x),), buffer, dynamo=False, opset_version=17)
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, imager(x).numpy(), atol=1e-4)
