"""Freed memory stays in the process: a network's large temporaries are not faulted in again every batch.

glibc's malloc hands blocks above its mmap threshold (dynamic, at most 32 MiB) to fresh ``mmap``
calls and gives them back at ``free``; it also trims the top of its heap beyond twice that. A
convolution's activations at 224-260 px are tens to hundreds of MiB a batch, so eager PyTorch
on the CPU mapped, faulted in page by page and unmapped them on every batch. On a 2-core VM that
was more kernel time than computing: 32 signals through three views of EfficientNet-Lite1+Lite2
took 17-19 s, 20-24 s of it system time and 9-10 million page faults; with the thresholds below,
5-6 s and 2-3 s (BENCHMARKS.md, section "Speed"). onnxruntime keeps an arena of its own and did
not pay this.

:func:`keep_freed_memory` runs once at ``import sigxfer``: blocks up to :data:`MMAP_THRESHOLD`
come from the heap, and up to :data:`TRIM_THRESHOLD` of free heap stays mapped. While it works
the process keeps the memory of its peak, as PyTorch's CUDA allocator does on a GPU;
:func:`give_back` returns the free part to the system, which an estimator's ``fit`` does when
it ends (55 ms; after auto's fit on 60 signals, 1,288 MiB resident became 525). ``SIGXFER_MALLOC=system``
in the environment leaves malloc as the system set it; other C libraries than glibc are left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

#: Blocks up to this size come from the heap (glibc's M_MMAP_THRESHOLD).
MMAP_THRESHOLD = 1 << 30
#: Free memory at the top of the heap kept mapped (glibc's M_TRIM_THRESHOLD).
TRIM_THRESHOLD = 1 << 30
#: The environment variable; ``system`` leaves malloc alone.
ENV = "SIGXFER_MALLOC"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers in glibc's malloc.h

_state: dict = {"kept": False, "why": "not set yet"}
_libc = None
_held = 0  # blocks of held() open: a loop of fits gives back once, at its end


def keep_freed_memory() -> dict:
    """Raise glibc's mmap and trim thresholds (once); returns :func:`state`.

    Examples
    --------
    >>> keep_freed_memory() is state()
    True
    """
    global _libc
    if _state["why"] != "not set yet":
        return _state
    value = os.environ.get(ENV, "").strip().lower()
    if value == "system":
        why = f"left to the system ({ENV}=system)"
    elif value not in ("", "keep"):
        why = f"left to the system ({ENV}={value!r} is neither 'keep' nor 'system')"
    elif not sys.platform.startswith("linux"):
        why = f"left to the system (not glibc: {sys.platform})"
    else:
        try:
            libc = ctypes.CDLL(None)
            libc.gnu_get_libc_version.restype = ctypes.c_char_p  # absent outside glibc
            version = libc.gnu_get_libc_version().decode()
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            why = "left to the system (not glibc)"
        else:
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            done = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            _state["kept"] = bool(done)
            _libc = libc if done else None
            why = (f"glibc {version}: blocks up to {MMAP_THRESHOLD >> 20} MiB from the heap, "
                   f"{TRIM_THRESHOLD >> 20} MiB of free heap kept" if done
                   else f"left to the system (glibc {version} refused the thresholds)")
    _state["why"] = why
    return _state


def give_back() -> bool:
    """Return the heap's free memory to the system (glibc's ``malloc_trim``), where it was kept.

    Called when a long piece of work ends (an estimator's ``fit``), not between its batches:
    what is given back is faulted in again by the next allocation. Inside :func:`held` it waits
    for the end of the outermost block. True when something was given back.
    """
    if _libc is None or _held:
        return False
    _libc.malloc_trim(0)
    return True


@contextlib.contextmanager
def held():
    """A loop of fits (cross-validation, ``compare``): the memory is given back once, at its end.

    Giving it back after every fit made 5-fold CV of a two-view probe on 60 signals about 15%
    slower (13.2-14.5 s against 11.0-12.4 s), each fold faulting in again what the last gave back.
    Usable as a decorator.
    """
    global _held
    _held += 1
    try:
        yield
    finally:
        _held -= 1
        give_back()


def state() -> dict:
    """``{"kept": bool, "why": str}``: whether freed memory stays in the process, and why."""
    return _state
