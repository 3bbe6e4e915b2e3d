"""Shipping models: one self-describing file (safetensors + JSON config, no pickle)."""

from sigxfer.deploy.bundle import load, read_config, save

__all__ = ["load", "read_config", "save"]
