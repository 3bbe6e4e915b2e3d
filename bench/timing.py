"""What the benchmark scripts share: the best-of-N rate of a callable, and the machine they ran on.

Imported by the scripts beside it (``python bench/NAME.py`` puts this folder on the path).
"""

from __future__ import annotations

import os
import platform
import time

import torch


def best_rate(fn, items: int, repeats: int = 3) -> float:
    """``items`` per second of ``fn()`` at its fastest of ``repeats`` timed calls, after one warm-up."""
    fn()  # warm-up: kernel selection, allocations
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return items / best


def machine() -> dict:
    """Platform, processor, CPU count, torch version and threads, Python version."""
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version()}
