"""Run a model exported by ``sigxfer export`` with onnxruntime and numpy only: no torch, no sigxfer.

    python onnx_predict.py model.onnx recording.npy

``recording.npy`` holds one signal, (n_channels, n_timepoints) or (n_timepoints,), sampled at the
model's rate; it is cut into windows of the model's length (a shorter tail is dropped) and each
window's class probabilities are printed. The core is ten lines: open the session, read the
metadata, shape the windows, run.
"""

import json
import sys

import numpy as np
import onnxruntime as ort


def predict(model_path, signal):
    """Probabilities (or targets) of each whole window of ``signal``; returns (classes, outputs)."""
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    n_channels, length = int(meta["n_channels"]), int(meta["n_timepoints"])
    x = np.asarray(signal, dtype=np.float32).reshape(n_channels, -1)
    n_windows = x.shape[1] // length
    windows = x[:, : n_windows * length].reshape(n_channels, n_windows, length).transpose(1, 0, 2)
    outputs = session.run(None, {meta["input"]: np.ascontiguousarray(windows)})[0]
    return json.loads(meta["classes"]), outputs


if __name__ == "__main__":
    classes, outputs = predict(sys.argv[1], np.load(sys.argv[2]))
    for i, row in enumerate(outputs):
        if classes is None:  # a regressor: targets in the units it was trained on
            print(f"window {i}: {np.ravel(row).round(4).tolist()}")
        else:
            print(f"window {i}: {classes[int(np.argmax(row))]}  " + "  ".join(
                f"{c}={p:.3f}" for c, p in zip(classes, row)))
