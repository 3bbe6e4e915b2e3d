"""Building engines and timing them: the measurements behind :func:`~sigxfer.learning.engines.choose_engine`.

Calibration times each candidate engine on a few real inputs after one warm-up run, rejects any
whose features drift from fp32 eager NCHW beyond :data:`TOLERANCE` (least cosine per case),
keeps the fastest, then walks its batch size (:data:`BATCH_GRID`), and for onnxruntime its
concurrent streams (:data:`STREAM_GRID`), within :data:`CALIBRATION_BUDGET_SECONDS`. Every
candidate goes into the record, with its images per second and cosine, accepted or not.
"""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from sigxfer.errors import ParameterError
from sigxfer.learning.runners import Engine, EngineSpec, TorchEngine, device_of, split_model, torch_threads

#: Least cosine similarity, per case, between an engine's features and fp32 eager NCHW features.
TOLERANCE = {"fp32": 0.9999, "bf16": 0.999}
#: Nor is a run the default engine would finish in under this many seconds (calibration costs a
#: few); runs under CALIBRATION_MIN_CASES cases (see engines) are not even timed.
CALIBRATION_MIN_SECONDS = 10.0
#: torch.compile is tried only when the best other engine needs longer than this for the run.
COMPILE_MIN_SECONDS = 300.0
#: Wall time after which calibration stops trying batch sizes and threads.
CALIBRATION_BUDGET_SECONDS = 8.0
#: Least timed seconds per candidate (after its warm-up run).
MEASURE_SECONDS = 0.1
#: Batch sizes calibration walks (on a CPU).
BATCH_GRID = (4, 8, 16, 32)
#: The same on a GPU, which needs large batches to fill; the comparison runs at the first.
GPU_BATCH_GRID = (64, 128, 256)
#: Concurrent streams tried for an onnxruntime choice (each on threads // streams threads), and
#: the cases each stream runs per call.
STREAM_GRID = (2, 4)
STREAM_BATCHES = (1, 2)
#: Batch of the engine comparison (an uncalibrated run without batch_size uses DEFAULT_BATCH_SIZE).
CALIBRATION_BATCH = 8


def build_engine(model: nn.Module, spec: EngineSpec, *, example: torch.Tensor | None = None,
                 cache_dir=None, session=None) -> Engine:
    """The engine ``spec`` for ``model``, built as asked (no measurement, no tolerance check).

    ``example`` (a batch of inputs) fixes an ONNX graph's case shape; ``cache_dir`` keeps the graph.
    ``session``: an onnxruntime session of the same graph and per-stream threads to run on
    (calibration times several batch sizes on one session instead of opening one each).

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
        return OnnxEngine(model, spec, example=example, cache_dir=cache_dir, session=session)
    return TorchEngine(model, spec)


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


def _measure(engine: Engine, x: torch.Tensor, *, min_reps: int = 1) -> tuple[torch.Tensor, float]:
    """Features of ``x`` and cases per second, after one warm-up run (kernel selection, caches).

    Timed runs repeat until :data:`MEASURE_SECONDS` have passed (at least ``min_reps``, at most 50).
    """
    with torch_threads(engine.spec.threads):
        out = engine.run(x)
        start, reps = time.perf_counter(), 0
        while reps < min_reps or (time.perf_counter() - start < MEASURE_SECONDS and reps < 50):
            engine.run(x)
            reps += 1
        return out, len(x) * reps / (time.perf_counter() - start)


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
             "streams": spec.streams, "images_per_s": None if rate is None else round(rate, 2),
             "cosine": None if cos is None else round(cos, 7), "accepted": accepted}
    if note:
        entry["note"] = note
    return entry


class _Calibration:
    """The candidates tried so far, the best of them, and the reference features they are held to."""

    def __init__(self, model, sample, record, cache_dir, ref: torch.Tensor):
        self.model, self.sample, self.record, self.cache_dir, self.ref = model, sample, record, cache_dir, ref
        self.best, self.best_rate = None, 0.0
        self.sessions: dict[int, object] = {}  # onnxruntime sessions by threads per stream

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
        per_stream = (spec.threads or torch.get_num_threads()) // max(1, spec.streams)
        try:
            built = build_engine(self.model, spec, example=self.sample[:2], cache_dir=self.cache_dir,
                                 session=self.sessions.get(per_stream) if spec.engine == "onnxruntime" else None)
            if spec.engine == "onnxruntime":
                self.sessions[per_stream] = built.session
            feats, rate = _measure(built, self.sample[:spec.batch_size])
        except Exception as err:  # export, a missing kernel, ...
            self.record["candidates"].append(_entry(spec, None, None, False, f"{type(err).__name__}: {err}"[:200]))
            return False
        return self.judge(built, feats, rate)


def _calibrate(model, specs, sample, record, *, n, batch_size, threads, streams, cache_dir, calibrate, started,
               allow_compile) -> tuple[Engine, str]:
    record["calibrated"] = True
    grid = _grid(device_of(split_model(model)[1]))
    b0 = batch_size or (CALIBRATION_BATCH if grid == BATCH_GRID else grid[0])
    specs = [dataclasses.replace(s, batch_size=b0, threads=threads,
                                 streams=streams or 1 if s.engine == "onnxruntime" else 1) for s in specs]
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
    if streams is None and threads is None:
        _try_streams(cal, batch_size, started)
    n_threads = torch.get_num_threads()
    if threads is None and n_threads >= 4 and time.perf_counter() - started <= CALIBRATION_BUDGET_SECONDS:
        cal.attempt(dataclasses.replace(cal.best.spec, threads=n_threads // 2))
    record["images_per_s"] = round(cal.best_rate, 2)
    record["speedup_over_reference"] = round(cal.best_rate / ref_rate, 2)
    return cal.best, f"fastest of {len(record['candidates'])} measured settings within tolerance"


def _try_streams(cal: _Calibration, batch_size: int | None, started: float) -> None:
    """For an onnxruntime choice: the same graph run as several concurrent streams (:data:`STREAM_GRID`)."""
    n_threads = torch.get_num_threads()
    base = cal.best.spec
    if base.engine != "onnxruntime" or base.streams != 1:
        return
    for k in STREAM_GRID:
        if k > n_threads:
            break
        for per_stream in ((batch_size // k,) if batch_size else STREAM_BATCHES):
            if time.perf_counter() - started > CALIBRATION_BUDGET_SECONDS:
                return
            if per_stream >= 1 and k * per_stream <= len(cal.sample):
                cal.attempt(dataclasses.replace(base, streams=k, batch_size=k * per_stream))


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
