"""Shipping models: one self-describing file (safetensors + JSON config, no pickle)."""

from sigxfer._lineage import register_model_reader
from sigxfer.deploy.bundle import load, read_config, save

register_model_reader(load)  # so that init="model.sigx" reads model files, without estimators importing deploy

__all__ = ["load", "read_config", "save"]
