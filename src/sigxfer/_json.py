"""Plain JSON values from the numpy, torch and strategy objects that configs and reports hold."""

from __future__ import annotations

import numpy as np


def to_jsonable(value):
    """Plain JSON values from numpy scalars/arrays, tensors, tuples and strategy objects (NaN -> None)."""
    if hasattr(value, "get_config"):
        return to_jsonable(value.get_config())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if hasattr(value, "tolist") and not isinstance(value, str):  # torch tensors
        return to_jsonable(value.tolist())
    return value
