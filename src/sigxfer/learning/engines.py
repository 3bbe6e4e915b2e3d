"""Frozen feature extraction engines: the same features, computed the fastest way this machine allows.

An :class:`Engine` maps inputs (signals through a :class:`~sigxfer.learning.network.SignalNet`,
or images through a bare backbone) to pooled features, batch by batch, through
:func:`~sigxfer.learning.batches.iter_batches`. Kinds:

- ``"torch"``: eager PyTorch, ``memory_format`` ``"contiguous"`` (NCHW) or ``"channels_last"``
  (NHWC, the layout oneDNN's convolutions prefer on CPU), precision ``"fp32"`` or ``"bf16"``
  (autocast; fast only on CPUs with bf16 matrix units such as AMX, slow elsewhere);
- ``"compile"``: the same under ``torch.compile`` (static shapes; the last batch is padded).
  Compiling costs tens of seconds, so ``auto`` tries it only for long runs;
- ``"onnxruntime"``: imager and backbone exported as one ONNX graph
  (:mod:`sigxfer.learning.onnx_engine`), run by onnxruntime on CPU.

:func:`choose_engine` measures instead of assuming: CPU flags say little about speed (a CPU with
AVX-512 but no bf16 units runs bf16 several times slower than fp32). It times each candidate on a
few real inputs, rejects any whose features drift from fp32 eager NCHW beyond :data:`TOLERANCE`
(cosine per case), keeps the fastest, then tunes its batch size, threads and (onnxruntime)
concurrent streams on a small grid (:mod:`sigxfer.learning.calibration`). The choice is kept
for the same network, case shape, options and machine (:mod:`sigxfer.learning.calibration_cache`),
so later calls in the process, and later runs with a cache folder, do not calibrate again.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import time

import numpy as np
import torch
from torch import nn

from sigxfer._allocator import state as allocator_state
from sigxfer.errors import ParameterError
from sigxfer.learning import calibration_cache, distributed
from sigxfer.learning.batches import is_array, n_cases_of
from sigxfer.learning.calibration import (
    CALIBRATION_BATCH,
    COMPILE_MIN_SECONDS,
    GPU_BATCH_GRID,
    TOLERANCE,
    _calibrate,
    _grid,
    _verify,
    build_engine,
    cosine,
)
from sigxfer.learning.runners import (
    DEFAULT_BATCH_SIZE,
    Engine,
    EngineSpec,
    Features,
    TorchEngine,
    device_of,
    split_model,
)

ENGINES = ("torch", "compile", "onnxruntime")
PRECISIONS = ("fp32", "bf16")
#: Inputs below this many cases are never calibrated: eager fp32 channels_last runs them.
CALIBRATION_MIN_CASES = 64
#: bf16 is tried only where a bf16 matrix product runs at least this much faster than fp32.
BF16_MIN_SPEEDUP = 1.5
_BF16_SPEEDUP: dict[str, float] = {}
# What "auto" means for engine and precision inside an engine_options block (an estimator's own).
_DEFAULTS: contextvars.ContextVar[dict] = contextvars.ContextVar("sigxfer_engine_defaults", default={})


@contextlib.contextmanager
def engine_options(*, engine: str = "auto", precision: str = "auto"):
    """Within the block, every :func:`choose_engine` asked for ``"auto"`` uses these instead.

    This is how an estimator's ``engine=`` and ``precision=`` reach every frozen pass its
    strategy makes (probe, auto's views, the cost model) and its predictions, without each
    strategy passing them along. ``"auto"`` leaves the choice to calibration.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> with engine_options(engine="torch", precision="fp32"):
    ...     choose_engine(create_backbone("tinynet"), torch.rand(4, 3, 32, 32)).record["engine"]
    'torch'
    """
    _check_choice(engine, precision, "auto", None, None)
    token = _DEFAULTS.set({"engine": engine, "precision": precision})
    try:
        yield
    finally:
        _DEFAULTS.reset(token)


__all__ = ["CALIBRATION_MIN_CASES", "TOLERANCE", "Engine", "EngineSpec", "Features", "TorchEngine", "bf16_speedup",
           "build_engine", "choose_engine", "cosine", "engine_options", "split_model"]


def bf16_speedup(device: torch.device | str = "cpu") -> float:
    """Measured speed of a bf16 matrix product over fp32 on ``device`` (cached per process).

    Above 1 where the hardware has bf16 units (AMX, AVX512-BF16, GPUs); well below 1 where bf16
    is emulated.

    Examples
    --------
    >>> bf16_speedup() > 0
    True
    """
    key = str(device)
    if key not in _BF16_SPEEDUP:
        rates = {}
        for dtype in (torch.float32, torch.bfloat16):
            a = torch.randn(512, 512, device=device).to(dtype)
            a @ a  # first call: kernel selection
            start, reps = time.perf_counter(), 0
            while reps < 3 or (time.perf_counter() - start < 0.02 and reps < 50):
                a @ a
                reps += 1
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            rates[dtype] = reps / (time.perf_counter() - start)
        _BF16_SPEEDUP[key] = rates[torch.bfloat16] / rates[torch.float32]
    return _BF16_SPEEDUP[key]


def _sample(sample_X, k: int) -> torch.Tensor:
    """Up to ``k`` cases of an array or chunk iterable as a float32 CPU tensor, repeated to ``k``."""
    if is_array(sample_X):
        part = sample_X[:k]
    else:
        rows, held = [], 0
        for chunk in sample_X:
            rows.append(np.asarray(chunk[:k - held]))
            held += len(rows[-1])
            if held >= k:
                break
        part = np.concatenate(rows) if rows else np.zeros((0,))
    x = torch.as_tensor(np.asarray(part), dtype=torch.float32) if not torch.is_tensor(part) else part.float().cpu()
    if len(x) == 0:
        raise ParameterError("choose_engine needs at least one sample case")
    return x.repeat(int(np.ceil(k / len(x))), *([1] * (x.ndim - 1)))[:k] if len(x) < k else x


def _candidates(engine: str, precision: str, memory_format: str, *, device: torch.device,
                frozen_file: bool, bf16: bool) -> list[EngineSpec]:
    kinds = ["torch", "onnxruntime"] if engine == "auto" else [engine]
    if frozen_file:  # its body is an ONNX session or TorchScript: only eager calls apply
        kinds = [k for k in kinds if k == "torch"]
    if device.type != "cpu":
        kinds = [k for k in kinds if k != "onnxruntime"]  # CPU execution provider only
    if "onnxruntime" in kinds and engine == "auto":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            kinds.remove("onnxruntime")
    precisions = [precision] if precision != "auto" else ["fp32", "bf16"] if bf16 else ["fp32"]
    formats = [memory_format] if memory_format != "auto" else ["channels_last", "contiguous"]
    if frozen_file and memory_format == "auto":
        formats = ["contiguous"]  # the file's runtime takes plain arrays; a layout change buys nothing
    specs = []
    for kind in kinds:
        for prec in precisions:
            if kind == "onnxruntime":
                if prec == "fp32":
                    specs.append(EngineSpec(kind, prec, None))
                continue
            # bf16 pays only with the layout oneDNN's bf16 kernels use; NCHW is not worth timing.
            # Compiling costs tens of seconds a layout: only the one oneDNN prefers is worth it.
            fmts = ["channels_last"] if (prec == "bf16" or kind == "compile") and memory_format == "auto" else formats
            specs.extend(EngineSpec(kind, prec, fmt) for fmt in fmts)
    return specs


def _check_choice(engine, precision, memory_format, batch_size, threads, streams=None) -> None:
    if engine not in ("auto", *ENGINES):
        raise ParameterError(f"engine={engine!r} is not known; use 'auto' or one of {ENGINES}")
    if precision not in ("auto", *PRECISIONS):
        raise ParameterError(f"precision={precision!r} is not known; use 'auto' or one of {PRECISIONS}")
    if memory_format not in ("auto", "channels_last", "contiguous"):
        raise ParameterError(f"memory_format={memory_format!r} must be 'auto', 'channels_last' or 'contiguous'")
    for label, value in (("batch_size", batch_size), ("threads", threads), ("streams", streams)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ParameterError(f"{label}={value!r} must be a positive integer, or None to choose it")
    if engine == "onnxruntime" and precision == "bf16":
        raise ParameterError("engine='onnxruntime' runs fp32 only; use precision='fp32' or engine='torch'")


def choose_engine(model: nn.Module, sample_X, *, n_cases: int | None = None, engine: str = "auto",
                  precision: str = "auto", memory_format: str = "auto", batch_size: int | None = None,
                  threads: int | None = None, streams: int | None = None, cache_dir=None,
                  calibrate: bool | None = None) -> Engine:
    """The fastest engine for ``model`` whose features match fp32 eager, measured on ``sample_X``.

    Parameters
    ----------
    model : SignalNet or backbone
        A SignalNet (inputs are signals (n, c, t)) or a backbone (inputs are images (n, 3, H, W)),
        in eval mode; its weights are read as they are now (an ONNX engine is a snapshot).
    sample_X : array-like or iterable of arrays
        Real inputs; the first ``max(BATCH_GRID)`` cases are used (repeated if fewer).
    n_cases : int, optional
        Size of the run to come (defaults to ``len(sample_X)`` for an array). Runs under
        :data:`CALIBRATION_MIN_CASES` cases, or shorter than :data:`CALIBRATION_MIN_SECONDS` at
        eager speed, are not calibrated; torch.compile is tried only beyond
        :data:`COMPILE_MIN_SECONDS`.
    engine : {"auto", "torch", "compile", "onnxruntime"}
    precision : {"auto", "fp32", "bf16"}
        ``auto`` tries bf16 only where :func:`bf16_speedup` shows bf16 units.
    memory_format : {"auto", "channels_last", "contiguous"}
        Layout of the images for the torch kinds.
    batch_size, threads : int, optional
        Fix them; otherwise measured on a small grid (:data:`BATCH_GRID`, :data:`GPU_BATCH_GRID`
        on a GPU; half the threads too on machines of 4 threads or more).
    streams : int, optional
        Concurrent runs of an onnxruntime engine (see :class:`EngineSpec`); None: measured
        (:data:`STREAM_GRID`) when the threads are not fixed, else 1.
    cache_dir : str or Path, optional
        Where exported ONNX graphs and calibration choices are kept (``$SIGXFER_CACHE_DIR`` when
        None; else in memory, for this process).
    calibrate : bool, optional
        Force (True) or skip (False) the measurements; None decides by the size of the run, and
        reuses a choice made earlier for the same network, case shape, options and machine
        (:mod:`sigxfer.learning.calibration_cache`).

    Returns
    -------
    Engine
        Its ``record`` holds the choice, the reason and every candidate's images per second and
        cosine, for the training history.

    Raises
    ------
    ParameterError
        Unknown options, or an engine asked for explicitly whose features fall outside
        :data:`TOLERANCE`.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> engine = choose_engine(create_backbone("tinynet"), torch.rand(4, 3, 32, 32))
    >>> engine.record["engine"], engine.record["calibrated"]  # 4 cases: too few to calibrate
    ('torch', False)
    """
    defaults = _DEFAULTS.get()
    engine = defaults.get("engine", "auto") if engine == "auto" else engine
    precision = defaults.get("precision", "auto") if precision == "auto" else precision
    _check_choice(engine, precision, memory_format, batch_size, threads, streams)
    started = time.perf_counter()
    pre, body = split_model(model)
    device = device_of(body)
    config = getattr(body, "config", None)
    frozen_file = config is not None and not getattr(config, "trainable", True)
    n = n_cases if n_cases is not None else n_cases_of(sample_X)
    speedup = None
    if precision == "auto" and not frozen_file and engine != "onnxruntime":
        speedup = bf16_speedup(device)
    specs = _candidates(engine, precision, memory_format, device=device, frozen_file=frozen_file,
                        bf16=speedup is not None and speedup >= BF16_MIN_SPEEDUP)
    if not specs:
        raise ParameterError(f"engine={engine!r} cannot run this backbone on {device}; use engine='auto'")
    record = {"calibrated": False, "bf16_speedup": None if speedup is None else round(speedup, 3),
              "n_cases": n, "candidates": [], "allocator": allocator_state()["why"]}
    explicit = engine != "auto" and precision != "auto" and (memory_format != "auto" or engine == "onnxruntime")
    small = n is not None and n < CALIBRATION_MIN_CASES
    if calibrate is False or (calibrate is None and (small or explicit or frozen_file)):
        sample = _sample(sample_X, CALIBRATION_BATCH)
        default_batch = DEFAULT_BATCH_SIZE if device.type != "cuda" else GPU_BATCH_GRID[0]
        spec = dataclasses.replace(specs[0], batch_size=batch_size or default_batch, threads=threads,
                                   streams=streams or 1 if specs[0].engine == "onnxruntime" else 1)
        why = ("asked for" if explicit else "calibration off" if calibrate is False
               else "a frozen file body" if frozen_file else f"{n} cases < {CALIBRATION_MIN_CASES}")
        chosen = build_engine(model, spec, example=sample[:2], cache_dir=cache_dir)
        if spec.engine != "torch" or spec.precision != "fp32":
            _verify(chosen, model, sample, record)
    else:
        sample = _sample(sample_X, max(_grid(device)))
        options = {"engine": engine, "precision": precision, "memory_format": memory_format,
                   "batch_size": batch_size, "threads": threads, "streams": streams}
        key = calibration_cache.choice_key(pre, body, tuple(sample.shape[1:]), options)
        kept, where = (None, None) if calibrate else calibration_cache.recall(key, cache_dir)
        allow_compile = engine in ("auto", "compile") and not frozen_file
        chosen = _reuse(kept, where, model, sample, record, n=n, allow_compile=allow_compile, cache_dir=cache_dir)
        if chosen is not None:
            why = f"calibrated earlier ({kept['reason']}; kept in {where})"
        else:
            chosen, why = _calibrate(model, specs, sample, record, n=n, batch_size=batch_size, threads=threads,
                                     streams=streams, cache_dir=cache_dir, calibrate=calibrate, started=started,
                                     allow_compile=allow_compile)
            if record["calibrated"]:
                calibration_cache.remember(key, {
                    "spec": dataclasses.asdict(chosen.spec), "reason": why, "n_cases": n,
                    "compile_considered": allow_compile and n is not None
                    and n / max(record["images_per_s"], 1e-9) > COMPILE_MIN_SECONDS,
                    **{k: record[k] for k in ("images_per_s", "reference_images_per_s", "speedup_over_reference",
                                              "candidates")}}, cache_dir)
    agreed = distributed.broadcast_object(chosen.spec)  # every rank runs rank 0's choice
    if agreed != chosen.spec:
        chosen = build_engine(model, agreed, example=sample[:2], cache_dir=cache_dir)
        why = f"rank 0's choice ({why})"
    spec = chosen.spec
    record.update(engine=spec.engine, precision=spec.precision, memory_format=spec.memory_format,
                  batch_size=spec.batch_size, threads=spec.threads or torch.get_num_threads(),
                  streams=spec.streams, reason=why,
                  calibration_seconds=round(time.perf_counter() - started, 3))
    chosen.record = {**chosen.record, **record}
    return chosen


def _reuse(kept, where, model, sample, record, *, n, allow_compile, cache_dir) -> Engine | None:
    """The engine of a choice kept from an earlier calibration, if it still applies; else None.

    A choice made for a run too short to try torch.compile is not reused for one that would; a
    reduced-precision choice is checked again on this data (its drift depends on the images).
    """
    if kept is None:
        return None
    rate = kept.get("images_per_s") or 0.0
    if allow_compile and not kept.get("compile_considered") and n is not None and n / max(rate, 1e-9) > COMPILE_MIN_SECONDS:
        return None
    try:
        spec = EngineSpec(**kept["spec"])
        chosen = build_engine(model, spec, example=sample[:2], cache_dir=cache_dir)
        if spec.precision != "fp32":
            _verify(chosen, model, sample[:CALIBRATION_BATCH], record)
    except Exception:  # a choice this machine can no longer build, or features out of tolerance now
        return None
    record.update(calibrated=True, cached=where, images_per_s=rate,
                  **{k: kept.get(k) for k in ("reference_images_per_s", "speedup_over_reference", "candidates")})
    return chosen

