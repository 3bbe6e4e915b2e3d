"""A memory ceiling for tests whose input could ask for unbounded memory."""

import contextlib
import os

import pytest


@contextlib.contextmanager
def memory_ceiling(headroom: int):
    """Cap this process's address space at what it maps now plus ``headroom`` bytes, then restore it.

    An allocation beyond it fails at once (MemoryError, or torch's RuntimeError) instead of
    filling the machine; a test that expects none sees that failure as a crash. Without Linux's
    ``/proc`` (or the ``resource`` module) the block runs unbounded.
    """
    try:
        import resource
    except ImportError:
        yield
        return
    if not os.path.exists("/proc/self/status"):
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status", encoding="ascii") as f:
        mapped = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    limit = mapped + headroom if hard == resource.RLIM_INFINITY else min(mapped + headroom, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture()
def bounded_memory():
    with memory_ceiling(3 << 30):
        yield
