"""Writing evaluation results."""

from __future__ import annotations

import json

from sigxfer._atomic import atomic_write_text


def write_json(obj, path, *, overwrite: bool = False):
    """Write ``obj`` as indented JSON, atomically; refuses to replace a file unless ``overwrite``."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n", overwrite=overwrite)
