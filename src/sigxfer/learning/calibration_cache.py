"""Engine choices kept for reuse, so that a model is calibrated once per machine, not once per call.

:func:`~sigxfer.learning.engines.choose_engine` measures a few settings before a long run; the
choice depends on the network, its weights, the shape of a case, the machine and the options
asked for, not on the values of the data. It is kept under a key of all of these: in this
process always (cross-validation folds, views and later predictions reuse it), and in the cache
folder (``cache_dir`` or ``$SIGXFER_CACHE_DIR``) as ``engines/<key>.choice.json`` when there is
one, written atomically. A damaged or foreign file is ignored and calibrated over.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from pathlib import Path

import torch
from torch import nn

from sigxfer._atomic import atomic_write_bytes
from sigxfer.learning.digests import resolve_cache_dir, tensor_digest

#: Bumped when what a choice holds, or how it is reached, changes.
VERSION = 1
_MEMO: dict[str, dict] = {}


@functools.lru_cache(maxsize=1)
def machine() -> dict:
    """What the speed of each engine depends on besides the network: CPU, libraries.

    Examples
    --------
    >>> sorted(machine())
    ['cpu', 'flags', 'machine', 'onnxruntime', 'torch']
    """
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            fields.setdefault(name.strip(), value.strip())
            if "flags" in fields and "model name" in fields:
                break
    except OSError:
        pass
    cpu = fields.get("model name") or platform.processor()
    flags = hashlib.sha256(" ".join(sorted(fields.get("flags", "").split())).encode()).hexdigest()[:16]
    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = None
    return {"cpu": cpu, "flags": flags, "machine": platform.machine(), "torch": torch.__version__,
            "onnxruntime": ort}


def choice_key(pre: nn.Module | None, body: nn.Module, case_shape: tuple[int, ...], options: dict) -> str:
    """Key of a calibration of ``pre`` + ``body`` on cases of ``case_shape`` with ``options``.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> net = create_backbone("tinynet")
    >>> choice_key(None, net, (3, 32, 32), {}) == choice_key(None, net, (3, 32, 32), {})
    True
    >>> choice_key(None, net, (3, 32, 32), {}) == choice_key(None, net, (3, 64, 64), {})
    False
    """
    from sigxfer._allocator import state as allocator
    from sigxfer._version import __version__
    from sigxfer.learning.runners import device_of

    config = getattr(body, "config", None)
    device = device_of(body)
    payload = {
        "version": VERSION, "sigxfer": __version__, "machine": machine(), "threads": torch.get_num_threads(),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "case_shape": list(case_shape), "options": options, "freed_memory_kept": allocator()["kept"],
        "imager": None if pre is None or not hasattr(pre, "get_config") else pre.get_config(),
        "backbone": getattr(config, "name", type(body).__name__),
        "weights": tensor_digest(body.state_dict(), skip_prefix="classifier."),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _path(key: str, cache_dir) -> Path | None:
    folder = resolve_cache_dir(cache_dir)
    return None if folder is None else Path(folder) / "engines" / f"{key}.choice.json"


def recall(key: str, cache_dir=None) -> tuple[dict, str] | tuple[None, None]:
    """``(choice, where)`` kept under ``key`` (``where``: ``"memory"`` or the file), or ``(None, None)``."""
    if key in _MEMO:
        return _MEMO[key], "memory"
    path = _path(key, cache_dir)
    if path is None or not path.is_file():
        return None, None
    try:
        choice = json.loads(path.read_text())
        if choice.get("version") != VERSION or choice.get("key") != key or not isinstance(choice.get("spec"), dict):
            return None, None
    except (OSError, ValueError, AttributeError):
        return None, None
    _MEMO[key] = choice
    return choice, str(path)


def remember(key: str, choice: dict, cache_dir=None) -> None:
    """Keep ``choice`` under ``key`` in this process, and on disk when there is a cache folder."""
    choice = {**choice, "version": VERSION, "key": key}
    _MEMO[key] = choice
    path = _path(key, cache_dir)
    if path is not None:
        try:
            atomic_write_bytes(path, json.dumps(choice, indent=1, default=str).encode(), overwrite=True)
        except OSError:
            pass  # a read-only or full cache folder costs a calibration next time, nothing else


def forget() -> None:
    """Drop the choices kept in this process (files stay)."""
    _MEMO.clear()
