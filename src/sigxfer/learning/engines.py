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
(cosine per case), keeps the fastest, then tunes its batch size and threads on a small grid.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from torch import nn

from sigxfer.errors import ParameterError
from sigxfer.learning import distributed
from sigxfer.learning.batches import is_array, n_cases_of
from sigxfer.learning.runners import (
    DEFAULT_BATCH_SIZE,
    Engine,
    EngineSpec,
    Features,
    TorchEngine,
    device_of,
    split_model,
    torch_threads,
)

ENGINES = ("torch", "compile", "onnxruntime")
PRECISIONS = ("fp32", "bf16")
#: Least cosine similarity, per case, between an engine's features and fp32 eager NCHW features.
TOLERANCE = {"fp32": 0.9999, "bf16": 0.999}
#: Inputs below this many cases are never calibrated: eager fp32 channels_last runs them.
CALIBRATION_MIN_CASES = 64
#: Nor is a run the default engine would finish in under this many seconds (calibration costs a few).
CALIBRATION_MIN_SECONDS = 10.0
#: torch.compile is tried only when the best other engine needs longer than this for the run.
COMPILE_MIN_SECONDS = 300.0
#: Wall time after which calibration stops trying batch sizes and threads.
CALIBRATION_BUDGET_SECONDS = 8.0
#: bf16 is tried only where a bf16 matrix product runs at least this much faster than fp32.
BF16_MIN_SPEEDUP = 1.5
BATCH_GRID = (4, 8, 16, 32)
#: The same on a GPU, which needs large batches to fill; the comparison runs at the first.
GPU_BATCH_GRID = (64, 128, 256)
#: Batch of the engine comparison (an uncalibrated run without batch_size uses DEFAULT_BATCH_SIZE).
CALIBRATION_BATCH = 8


def build_engine(model: nn.Module, spec: EngineSpec, *, example: torch.Tensor | None = None,
                 cache_dir=None) -> Engine:
    """The engine ``spec`` for ``model``, built as asked (no measurement, no tolerance check).

    ``example`` (a batch of inputs) fixes an ONNX graph's case shape; ``cache_dir`` keeps the graph.

    Examples
    --------
    >>> from sigxfer.backbones import create_backbone
    >>> engine = build_engine(create_backbone("tinynet"), EngineSpec("torch", "fp32", "contiguous", 8))
    >>> tuple(engine.run(torch.zeros(3, 3, 32, 32)).shape)
    (3, 16)
    """
    if spec.engine == "onnxruntime":
        from sigxfer.learning.onnx_engine import OnnxEngine  # onnx and onnxruntime are optional

        if example is None:
            raise ParameterError("an onnxruntime engine needs an example batch to export its graph")
        return OnnxEngine(model, spec, example=example, cache_dir=cache_dir)
    return TorchEngine(model, spec)


__all__ = ["CALIBRATION_MIN_CASES", "Engine", "EngineSpec", "Features", "TorchEngine", "bf16_speedup",
           "build_engine", "choose_engine", "cosine", "split_model"]


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Least cosine similarity between matching rows of ``a`` and ``b`` (1.0 for two zero rows).

    Examples
    --------
    >>> cosine(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[2.0, 0.0], [1.0, 0.0]]))
    0.7071067811865475
    """
    a, b = a.double(), b.double()
    num = (a * b).sum(dim=1)
    den = a.norm(dim=1) * b.norm(dim=1)
    cos = torch.where(den > 0, num / den.clamp_min(1e-300), (a - b).abs().amax(dim=1).eq(0).double())
    return float(cos.min()) if len(cos) else 1.0


_BF16_SPEEDUP: dict[str, float] = {}


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


def _measure(engine: Engine, x: torch.Tensor, *, min_reps: int = 2) -> tuple[torch.Tensor, float]:
    """Features of ``x`` and cases per second, after one warm-up run (kernel selection, caches)."""
    with torch_threads(engine.spec.threads):
        start = time.perf_counter()
        out = engine.run(x)
        if time.perf_counter() - start > 1.0:
            min_reps = 1  # a slow machine (or a busy one): one timed run is already a second's worth
        start, reps = time.perf_counter(), 0
        while reps < min_reps or (time.perf_counter() - start < 0.1 and reps < 50):
            engine.run(x)
            reps += 1
        return out, len(x) * reps / (time.perf_counter() - start)


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


def _check_choice(engine, precision, memory_format, batch_size, threads) -> None:
    if engine not in ("auto", *ENGINES):
        raise ParameterError(f"engine={engine!r} is not known; use 'auto' or one of {ENGINES}")
    if precision not in ("auto", *PRECISIONS):
        raise ParameterError(f"precision={precision!r} is not known; use 'auto' or one of {PRECISIONS}")
    if memory_format not in ("auto", "channels_last", "contiguous"):
        raise ParameterError(f"memory_format={memory_format!r} must be 'auto', 'channels_last' or 'contiguous'")
    for label, value in (("batch_size", batch_size), ("threads", threads)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ParameterError(f"{label}={value!r} must be a positive integer, or None to choose it")
    if engine == "onnxruntime" and precision == "bf16":
        raise ParameterError("engine='onnxruntime' runs fp32 only; use precision='fp32' or engine='torch'")


def choose_engine(model: nn.Module, sample_X, *, n_cases: int | None = None, engine: str = "auto",
                  precision: str = "auto", memory_format: str = "auto", batch_size: int | None = None,
                  threads: int | None = None, cache_dir=None, calibrate: bool | None = None) -> Engine:
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
        on a GPU; half the threads too on        machines of 4 threads or more).
    cache_dir : str or Path, optional
        Where exported ONNX graphs are kept (``$SIGXFER_CACHE_DIR`` when None; else in memory).
    calibrate : bool, optional
        Force (True) or skip (False) the measurements; None decides by the size of the run.

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
    _check_choice(engine, precision, memory_format, batch_size, threads)
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
              "n_cases": n, "candidates": []}
    explicit = engine != "auto" and precision != "auto" and (memory_format != "auto" or engine == "onnxruntime")
    small = n is not None and n < CALIBRATION_MIN_CASES
    if calibrate is False or (calibrate is None and (small or explicit or frozen_file)):
        sample = _sample(sample_X, CALIBRATION_BATCH)
        default_batch = DEFAULT_BATCH_SIZE if device.type != "cuda" else GPU_BATCH_GRID[0]
        spec = dataclasses.replace(specs[0], batch_size=batch_size or default_batch, threads=threads)
        why = ("asked for" if explicit else "calibration off" if calibrate is False
               else "a frozen file body" if frozen_file else f"{n} cases < {CALIBRATION_MIN_CASES}")
        chosen = build_engine(model, spec, example=sample[:2], cache_dir=cache_dir)
        if spec.engine != "torch" or spec.precision != "fp32":
            _verify(chosen, model, sample, record)
    else:
        sample = _sample(sample_X, max(_grid(device)))
        chosen, why = _calibrate(model, specs, sample, record, n=n, batch_size=batch_size, threads=threads,
                                 cache_dir=cache_dir, calibrate=calibrate, started=started,
                                 allow_compile=engine in ("auto", "compile") and not frozen_file)
    agreed = distributed.broadcast_object(chosen.spec)  # every rank runs rank 0's choice
    if agreed != chosen.spec:
        chosen = build_engine(model, agreed, example=sample[:2], cache_dir=cache_dir)
        why = f"rank 0's choice ({why})"
    spec = chosen.spec
    record.update(engine=spec.engine, precision=spec.precision, memory_format=spec.memory_format,
                  batch_size=spec.batch_size, threads=spec.threads or torch.get_num_threads(), reason=why,
                  calibration_seconds=round(time.perf_counter() - started, 3))
    chosen.record = {**chosen.record, **record}
    return chosen


def _grid(device: torch.device) -> tuple[int, ...]:
    return GPU_BATCH_GRID if device.type == "cuda" else BATCH_GRID


def _verify(chosen: Engine, model: nn.Module, x: torch.Tensor, record: dict) -> None:
    ref = TorchEngine(model, EngineSpec("torch", "fp32", "contiguous", len(x))).run(x)
    cos = cosine(chosen.run(x), ref)
    record["cosine"] = round(cos, 7)
    need = TOLERANCE[chosen.spec.precision]
    if cos < need:
        raise ParameterError(
            f"engine {chosen.spec.label()} gives features at cosine {cos:.6f} of fp32 eager (< {need}) "
            "on this backbone; use precision='fp32' or engine='torch'"
        )


def _entry(spec: EngineSpec, rate: float | None, cos: float | None, accepted: bool, note: str = "") -> dict:
    entry = {"engine": spec.engine, "precision": spec.precision, "memory_format": spec.memory_format,
             "batch_size": spec.batch_size, "threads": spec.threads or torch.get_num_threads(),
             "images_per_s": None if rate is None else round(rate, 2),
             "cosine": None if cos is None else round(cos, 7), "accepted": accepted}
    if note:
        entry["note"] = note
    return entry


class _Calibration:
    """The candidates tried so far, the best of them, and the reference features they are held to."""

    def __init__(self, model, sample, record, cache_dir, ref: torch.Tensor):
        self.model, self.sample, self.record, self.cache_dir, self.ref = model, sample, record, cache_dir, ref
        self.best, self.best_rate = None, 0.0

    def judge(self, built: Engine, feats: torch.Tensor, rate: float, note: str = "") -> bool:
        """Record a timed candidate; keep it if within tolerance and the fastest. Whether it was kept."""
        spec = built.spec
        k = min(len(feats), len(self.ref))  # the reference covers the first batch of the sample
        cos = cosine(feats[:k], self.ref[:k])
        ok = cos >= TOLERANCE[spec.precision]
        self.record["candidates"].append(_entry(spec, rate, cos, ok, note if ok else f"cosine below {TOLERANCE[spec.precision]}"))
        if ok and rate > self.best_rate:
            self.best, self.best_rate = built, rate
            return True
        return False

    def attempt(self, spec: EngineSpec) -> bool:
        """Build and time ``spec``, then :meth:`judge` it; a failure only removes the candidate."""
        try:
            built = build_engine(self.model, spec, example=self.sample[:2], cache_dir=self.cache_dir)
            feats, rate = _measure(built, self.sample[:spec.batch_size])
        except Exception as err:  # export, a missing kernel, ...
            self.record["candidates"].append(_entry(spec, None, None, False, f"{type(err).__name__}: {err}"[:200]))
            return False
        return self.judge(built, feats, rate)


def _calibrate(model, specs, sample, record, *, n, batch_size, threads, cache_dir, calibrate, started,
               allow_compile) -> tuple[Engine, str]:
    record["calibrated"] = True
    grid = _grid(device_of(split_model(model)[1]))
    b0 = batch_size or (CALIBRATION_BATCH if grid == BATCH_GRID else grid[0])
    specs = [dataclasses.replace(s, batch_size=b0, threads=threads) for s in specs]
    first = TorchEngine(model, specs[0]) if specs[0].engine == "torch" else None
    if first is not None:
        # The engine an uncalibrated run uses, timed first: is the run long enough to pay for more?
        first_feats, first_rate = _measure(first, sample[:b0], min_reps=1)
        if calibrate is None and n is not None and n / first_rate < CALIBRATION_MIN_SECONDS:
            record["candidates"].append(_entry(specs[0], first_rate, None, True, "default, not compared"))
            record["calibrated"] = False
            return first, (f"{n} cases take about {n / first_rate:.1f} s (< {CALIBRATION_MIN_SECONDS:g} s): "
                           "not worth calibrating")
    ref_spec = EngineSpec("torch", "fp32", "contiguous", b0, threads)
    ref, ref_rate = _measure(TorchEngine(model, ref_spec), sample[:b0], min_reps=1)
    record["candidates"].append(_entry(ref_spec, ref_rate, 1.0, ref_spec in specs, "reference"))
    record["reference_images_per_s"] = round(ref_rate, 2)
    cal = _Calibration(model, sample, record, cache_dir, ref)
    for spec in specs:
        if spec.engine == "compile" or spec == ref_spec:
            continue  # compile is decided below, once the others are timed; the reference is timed
        if first is not None and spec == first.spec:
            cal.judge(first, first_feats, first_rate)
        else:
            cal.attempt(spec)
    if ref_spec in specs and ref_rate > cal.best_rate:
        cal.best, cal.best_rate = TorchEngine(model, ref_spec), ref_rate
    compile_specs = [s for s in specs if s.engine == "compile"]
    best_spec = cal.best.spec if cal.best is not None else ref_spec
    if allow_compile and not compile_specs and n is not None and n / max(cal.best_rate, 1e-9) > COMPILE_MIN_SECONDS:
        compile_specs = [EngineSpec("compile", best_spec.precision, best_spec.memory_format or "channels_last",
                                    b0, threads)]
    for spec in compile_specs:
        cal.attempt(spec)
    if cal.best is None:
        cal.best, cal.best_rate = TorchEngine(model, ref_spec), ref_rate
    if batch_size is None:
        _tune_batch(cal, grid, b0, started)
    n_threads = torch.get_num_threads()
    if threads is None and n_threads >= 4 and time.perf_counter() - started <= CALIBRATION_BUDGET_SECONDS:
        cal.attempt(dataclasses.replace(cal.best.spec, threads=n_threads // 2))
    record["images_per_s"] = round(cal.best_rate, 2)
    record["speedup_over_reference"] = round(cal.best_rate / ref_rate, 2)
    return cal.best, f"fastest of {len(record['candidates'])} measured settings within tolerance"


def _tune_batch(cal: _Calibration, grid: tuple[int, ...], b0: int, started: float) -> None:
    """Walk the batch grid from ``b0`` up while the speed rises, else down; within the time budget."""
    up = [b for b in grid if b > b0]
    down = [b for b in reversed(grid) if b < b0]
    for steps in (up, down):
        improved = False
        for b in steps:
            if time.perf_counter() - started > CALIBRATION_BUDGET_SECONDS or cal.best.spec.engine == "compile":
                return  # a compiled engine recompiles for every batch size: keep the one it has
            if not cal.attempt(dataclasses.replace(cal.best.spec, batch_size=b)):
                break
            improved = True
        if improved:
            return
