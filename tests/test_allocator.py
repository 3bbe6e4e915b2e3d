"""Freed memory stays in the process (sigxfer._allocator): a batch's large temporaries are not faulted in again."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sigxfer import _allocator

glibc = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the thresholds are glibc's")

# Allocates and frees a 64 MiB tensor three times, then prints the page faults of a fourth and
# what sigxfer says of the allocator. Each fresh mapping of 64 MiB costs 16,384 faults of 4 KiB.
CHILD = textwrap.dedent("""
    import json, resource
    import sigxfer, torch
    from sigxfer import _allocator
    for _ in range(3):
        torch.empty(1 << 24).fill_(1.0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.empty(1 << 24).fill_(1.0)
    print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before,
                      **_allocator.state()}))
""")


def child_json(code: str, setting=None) -> dict:
    """What ``code``, run in a fresh process with ``SIGXFER_MALLOC=setting`` (None: unset), prints last."""
    env = {k: v for k, v in os.environ.items() if k != _allocator.ENV}
    if setting is not None:
        env[_allocator.ENV] = setting
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(setting):
    return child_json(CHILD, setting)


@pytest.fixture
def trims(monkeypatch):
    """The ``malloc_trim`` calls of give_back, through a stand-in for glibc."""
    calls = []

    class FakeLibc:
        def malloc_trim(self, pad):
            calls.append(pad)

    monkeypatch.setattr(_allocator, "_libc", FakeLibc())
    return calls


@glibc
def test_importing_sigxfer_keeps_a_freed_64_mib_block_mapped_and_the_system_setting_does_not():
    kept, system = run_child(None), run_child("system")
    assert kept["kept"] is True and "glibc" in kept["why"]
    assert kept["faults"] < 1_000  # the block came back from the heap, already mapped
    assert system["kept"] is False and system["why"] == "left to the system (SIGXFER_MALLOC=system)"
    assert system["faults"] > 15_000  # mapped afresh, a fault per page


GIVE_BACK = textwrap.dedent("""
    import json
    import sigxfer, torch
    from sigxfer import _allocator

    def resident_mib():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

    torch.empty(1 << 26).fill_(1.0)  # 256 MiB, freed at once: kept in the heap
    kept = resident_mib()
    asked = _allocator.give_back()
    print(json.dumps({"kept": kept, "after": resident_mib(), "asked": asked}))
""")


@glibc
def test_give_back_returns_the_kept_memory_to_the_system():
    state = child_json(GIVE_BACK)
    assert state["asked"] is True
    assert state["kept"] - state["after"] > 200  # most of the 256 MiB went back


def test_fit_gives_the_memory_back_when_it_ends(monkeypatch):
    from sigxfer import TransferClassifier, make_devices
    from sigxfer import _transfer

    calls = []
    monkeypatch.setattr(_transfer, "give_back", lambda: calls.append(1) or True)
    TransferClassifier(backbone="tinynet", image_size=32, imaging="spectrum", progress=False).fit(
        make_devices(6, n_timepoints=128, seed=0))
    assert calls == [1]


@glibc
def test_an_unknown_setting_leaves_malloc_alone_and_says_so():
    state = run_child("fast")
    assert state["kept"] is False and "'fast' is neither 'keep' nor 'system'" in state["why"]


def test_the_engine_record_and_the_calibration_key_name_the_allocator():
    import torch

    from sigxfer.backbones import create_backbone
    from sigxfer.learning import calibration_cache
    from sigxfer.learning.engines import choose_engine

    net = create_backbone("tinynet")
    engine = choose_engine(net, torch.zeros(4, 3, 32, 32), n_cases=4)
    assert engine.record["allocator"] == _allocator.state()["why"]
    key = calibration_cache.choice_key(None, net, (3, 32, 32), {})
    flipped = dict(_allocator.state(), kept=not _allocator.state()["kept"])
    original = dict(_allocator._state)
    try:
        _allocator._state.update(flipped)
        assert calibration_cache.choice_key(None, net, (3, 32, 32), {}) != key  # speeds differ: choose anew
    finally:
        _allocator._state.update(original)


def test_inside_held_fits_wait_and_the_outermost_block_gives_back_once(trims):
    assert _allocator.give_back() is True and trims == [0]
    with _allocator.held():
        with _allocator.held():
            assert _allocator.give_back() is False  # a fit inside a loop of fits
        assert trims == [0]  # the inner block's end is not the loop's
    assert trims == [0, 0]


def test_cross_validation_gives_back_once_not_after_every_fold(trims):
    from sigxfer import TransferClassifier, make_devices
    from sigxfer.evaluation import cross_validate

    model = TransferClassifier(backbone="tinynet", image_size=32, imaging="spectrum", progress=False)
    cross_validate(model, make_devices(6, n_timepoints=128, seed=0), cv=3)
    assert trims == [0]
