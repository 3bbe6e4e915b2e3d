"""Checkpoints of a training run: tensors in safetensors, everything else as JSON. No pickle.

``checkpoint.safetensors`` in the checkpoint folder holds

- ``net/<name>``: the network's ``state_dict`` at the end of the last finished epoch,
- ``best/<name>``: the weights with the lowest validation loss so far,
- ``optimizer/<index>/<key>``: AdamW's per-parameter state (step, first and second moments),

and, in its metadata, the JSON of the loop state (phase, epoch, early-stopping counters, the
history), the seed and a fingerprint of the run. ``checkpoint.json`` repeats that JSON for people
to read; loading uses only the safetensors file, which is written to a temporary file and renamed,
so an interrupted save leaves the previous checkpoint intact.

Resuming restores the weights, the optimiser's moments and the loop state; randomness is drawn per
epoch from the seed (see :mod:`sigxfer.learning.loop`), so a resumed run continues exactly as the
uninterrupted run would have.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from sigxfer._atomic import atomic_write_text
from sigxfer.errors import ModelFileError, ParameterError
from sigxfer.learning.loop import TrainState

FILENAME = "checkpoint.safetensors"
FORMAT = "sigxfer-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "sigxfer-checkpoint"


def checkpoint_path(directory) -> Path:
    """The checkpoint file in ``directory``.

    Examples
    --------
    >>> checkpoint_path("run").name
    'checkpoint.safetensors'
    """
    return Path(directory) / FILENAME


def _state_json(state: TrainState) -> dict:
    out = {key: getattr(state, key) for key in TrainState.SAVED}
    out["best_loss"] = None if math.isinf(state.best_loss) else state.best_loss
    return out


def save_checkpoint(directory, state: TrainState, *, fingerprint: str, seed: int) -> Path:
    """Write ``state`` (with ``state.net`` and ``state.optimizer``) to ``directory`` atomically.

    Returns
    -------
    Path
        The checkpoint file.

    Examples
    --------
    >>> save_checkpoint("run/", state, fingerprint="ab12", seed=0)  # doctest: +SKIP
    PosixPath('run/checkpoint.safetensors')
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {f"net/{k}": v.detach().cpu().contiguous().clone() for k, v in state.net.state_dict().items()}
    for k, v in (state.best_state or {}).items():
        tensors[f"best/{k}"] = v.detach().cpu().contiguous().clone()
    extra = {}
    if state.optimizer is not None:
        for index, values in state.optimizer.state_dict()["state"].items():
            for key, value in values.items():
                if torch.is_tensor(value):
                    tensors[f"optimizer/{index}/{key}"] = value.detach().cpu().contiguous().clone()
                else:
                    extra[f"{index}/{key}"] = value
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": fingerprint, "seed": seed,
            "state": _state_json(state), "optimizer_values": extra}
    text = json.dumps(meta)
    path = checkpoint_path(directory)
    fd, tmp = tempfile.mkstemp(prefix=f".{FILENAME}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={_META_KEY: text})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    atomic_write_text(directory / "checkpoint.json", json.dumps(meta, indent=2), overwrite=True)
    return path


def read_checkpoint_meta(directory) -> dict | None:
    """The JSON part of the checkpoint in ``directory``, or None if there is none.

    Raises
    ------
    ModelFileError
        The file is not a sigxfer checkpoint, or one of a newer format.

    Examples
    --------
    >>> import tempfile
    >>> read_checkpoint_meta(tempfile.mkdtemp()) is None
    True
    """
    path = checkpoint_path(directory)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})[_META_KEY])
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        raise ModelFileError(
            f"{path}: not a readable sigxfer checkpoint ({type(err).__name__}); "
            "delete it or choose another checkpoint_dir"
        ) from None
    if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: unknown checkpoint format; delete it or upgrade sigxfer")
    return meta


def load_checkpoint(directory, net: torch.nn.Module, *, fingerprint: str) -> TrainState:
    """Load the checkpoint in ``directory`` into ``net``; return the loop state to resume from.

    Raises
    ------
    ParameterError
        The checkpoint belongs to another run (other data, settings or starting weights).

    Examples
    --------
    >>> state = load_checkpoint("run/", net, fingerprint="ab12")  # doctest: +SKIP
    >>> state.epoch  # doctest: +SKIP
    4
    """
    meta = read_checkpoint_meta(directory)
    if meta is None:
        raise ModelFileError(f"no checkpoint in {directory}")
    if meta["fingerprint"] != fingerprint:
        raise ParameterError(
            f"the checkpoint in {directory} was written by another run (other data, strategy settings, "
            "backbone or seed); resume with the same settings, or use another checkpoint_dir"
        )
    groups: dict[str, dict] = {"net": {}, "best": {}}
    optimizer: dict[int, dict] = {}
    with safe_open(str(checkpoint_path(directory)), framework="pt") as f:
        for key in f.keys():
            kind, _, name = key.partition("/")
            if kind == "optimizer":
                index, _, slot = name.partition("/")
                optimizer.setdefault(int(index), {})[slot] = f.get_tensor(key)
            else:
                groups[kind][name] = f.get_tensor(key)
    for key, value in meta.get("optimizer_values", {}).items():
        index, _, slot = key.partition("/")
        optimizer.setdefault(int(index), {})[slot] = value
    device = next(net.parameters()).device
    net.load_state_dict(groups["net"])
    saved = dict(meta["state"])
    if saved["best_loss"] is None:
        saved["best_loss"] = math.inf
    state = TrainState(**saved)
    state.best_state = {k: v.to(device) for k, v in groups["best"].items()} or None
    state.optimizer_state = optimizer or None
    return state
