"""Shipping models: one self-describing file (safetensors + JSON config, no pickle), ONNX from the raw
signal, batch prediction of long recordings and classification of a live stream."""

from sigxfer._lineage import register_model_reader
from sigxfer.deploy.bundle import load, read_config, save
from sigxfer.deploy.onnx import export_onnx
from sigxfer.deploy.predict import predict_files, write_predictions
from sigxfer.deploy.stream import StreamEngine, stream

register_model_reader(load)  # so that init="model.sigx" reads model files, without estimators importing deploy

__all__ = ["StreamEngine", "export_onnx", "load", "predict_files", "read_config", "save", "stream",
           "write_predictions"]
