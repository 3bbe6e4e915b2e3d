"""Test-wide guards: no network, no files written outside temporary folders."""

import os
import socket
import tempfile

import pytest

# Libraries that keep caches in the home folder (matplotlib's font list, numba's compiled kernels
# for MiniRocket) read these when first imported, so they are set before any test imports them.
_SCRATCH = tempfile.mkdtemp(prefix="sigxfer-tests-")
os.environ.setdefault("MPLCONFIGDIR", os.path.join(_SCRATCH, "matplotlib"))
os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(_SCRATCH, "numba"))


@pytest.fixture(autouse=True)
def _offline_and_in_tmp(monkeypatch, tmp_path_factory):
    """Every test runs offline, with a throwaway working directory.

    A test that reached for the network (a weights download, say) fails loudly instead of passing
    on a connected machine; relative output paths land in a temporary folder, never in the repo.
    """

    def refuse(*args, **kwargs):
        raise RuntimeError("tests must run offline: a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("SIGXFER_CACHE_DIR", raising=False)  # never fill a user's embedding cache
    # Engine choices kept from another test would skip the calibration a test is about.
    from sigxfer.learning import calibration_cache

    calibration_cache.forget()


@pytest.fixture()
def one_thread():
    """Run a test with one torch thread, then restore the setting.

    For modules of small tensor ops: one thread is as fast, and it does not stall when other
    processes hold the cores (intra-op thread barriers then wait on descheduled threads).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def module_one_thread():
    """One torch thread and one BLAS/OpenMP thread for a whole module, restored after it.

    Tiny networks and problems gain nothing from threads, and on a busy machine threads waiting
    for each other made such modules 10-30x slower. Use with
    ``pytestmark = pytest.mark.usefixtures("module_one_thread")``.
    """
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):  # BLAS and OpenMP pools of numpy / scikit-learn alike
        yield
    torch.set_num_threads(threads)
