"""Fault injection on every writer: a full disk, a killed process, two writers at once.

Covered writers: :func:`sigxfer.save` (model files), :func:`sigxfer.write_signals` (folders of
signals), :func:`sigxfer.imaging.render.save_pictures` (folders of pictures) and the JSON/CSV
writers (:mod:`sigxfer.evaluation.io` over :mod:`sigxfer._atomic`). In every case:

- the earlier output is intact, byte for byte (or, where a new one was written whole, it is
  exactly that new one);
- no partial output is left under the target's name;
- what a killed process leaves behind is named ``.<target>.<pid>-<host>.<random>.tmp`` (or
  ``.old``), and the next write to the same target removes it (a live writer's never);
- of two processes that both found a name free, one writes it and the other gets
  :class:`sigxfer.OutputExistsError`.

Killed processes are real: a child process starts writing, its write is made to block (or it
runs freely), and the test sends it SIGKILL.
"""

import errno
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import sigxfer
from sigxfer import SignalSet, TransferClassifier
from sigxfer import _atomic
from sigxfer.data.formats import register_format, unregister_format
from sigxfer.errors import WriteError
from sigxfer.evaluation.io import write_csv, write_json

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals to kill a writer")
SRC = str(Path(sigxfer.__file__).resolve().parents[1])


def make_estimator(**params):
    """The one place estimators are built here (tiny network, fixed linear head)."""
    return TransferClassifier(backbone="tinynet", image_size=32, strategy={"name": "linear", "C": 1.0},
                              progress=False, random_state=0, **params)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two different fitted models saved as files (A, B), and the signals they were fitted on."""
    folder = tmp_path_factory.mktemp("models")
    X = np.random.default_rng(0).normal(size=(8, 1, 128)).astype("float32")
    paths = []
    for name, imaging in (("a", "spectrogram"), ("b", "waveform")):
        model = make_estimator(imaging=imaging).fit(X, [0, 1] * 4)
        paths.append(sigxfer.save(model, folder / f"{name}.sigx"))
    return paths, X


def snapshot(path: Path) -> dict:
    """Every file under ``path`` (or ``path`` itself) -> its bytes."""
    path = Path(path)
    if path.is_file():
        return {".": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if p.name.endswith((".tmp", ".old")))


def full_disk(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def signal_set(seed: int, n: int = 6) -> SignalSet:
    rng = np.random.default_rng(seed)
    return SignalSet(rng.normal(size=(n, 2, 64)).astype("float32"), sr=100.0,
                     y=["low", "high"] * (n // 2), names=[f"rec-{i}" for i in range(n)])


@pytest.fixture()
def failing_format():
    """A signal format whose writer fills the disk on its third file (the first two are written)."""
    calls = {"n": 0}

    def writer(path, signal_, sr):
        calls["n"] += 1
        if calls["n"] >= 3:
            Path(path).write_bytes(b"\x93NUMPY half")
            full_disk()
        np.save(path, signal_)

    register_format(".flaky", lambda path: (np.load(path), None), writer)
    yield "flaky"
    unregister_format(".flaky")


# ----------------------------------------------------------------------------- a full disk
@pytest.mark.parametrize("where", ["serialising", "renaming", "flushing"])
def test_a_full_disk_while_saving_a_model_keeps_the_earlier_one(models, tmp_path, monkeypatch, where):
    (a, b), _ = models
    path = tmp_path / "model.sigx"
    path.write_bytes(a.read_bytes())
    model = sigxfer.load(b)
    if where == "serialising":
        def half_then_full(tensors, tmp, metadata):  # the disk fills halfway through the file
            Path(tmp).write_bytes(b.read_bytes()[:1000])
            full_disk()
        monkeypatch.setattr("sigxfer.deploy.bundle.save_file", half_then_full)
    elif where == "renaming":
        monkeypatch.setattr(_atomic.os, "replace", full_disk)
    else:
        monkeypatch.setattr(_atomic.os, "fsync", full_disk)
    with pytest.raises(WriteError, match=rf"^{path}: could not be written \(No space left on device\); "
                                         r"any earlier model.sigx is unchanged") as info:
        sigxfer.save(model, path, overwrite=True)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert "\n" not in str(info.value)
    assert path.read_bytes() == a.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.sigx"]


@pytest.mark.parametrize("writer", [write_json, write_csv])
def test_a_full_disk_under_the_json_and_csv_writers_keeps_the_earlier_file(writer, tmp_path, monkeypatch):
    path = tmp_path / ("out.json" if writer is write_json else "out.csv")
    earlier = b"earlier results\n"
    path.write_bytes(earlier)

    def half_then_full(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        full_disk()

    monkeypatch.setattr(Path, "write_bytes", half_then_full)
    with pytest.raises(WriteError, match=rf"^{path}: could not be written"):
        if writer is write_json:
            write_json({"accuracy": 0.9, "notes": "x" * 1000}, path, overwrite=True)
        else:
            write_csv([{"a": i, "b": "y" * 50} for i in range(50)], ["a", "b"], path, overwrite=True)
    monkeypatch.undo()
    assert path.read_bytes() == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_a_full_disk_while_writing_signals_keeps_the_earlier_folder(tmp_path, failing_format):
    out = tmp_path / "signals"
    sigxfer.write_signals(signal_set(0), out)
    before = snapshot(out)
    with pytest.raises(OSError, match="No space left"):
        sigxfer.write_signals(signal_set(1), out, format=failing_format, overwrite=True)
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_a_full_disk_while_saving_pictures_keeps_the_earlier_folder(models, tmp_path, monkeypatch):
    from PIL import Image

    from sigxfer.imaging.render import save_pictures

    (a, _), X = models
    imager = sigxfer.load(a).imager_
    out = tmp_path / "pictures"
    save_pictures(imager, X, [f"c{i}" for i in range(len(X))], out)
    before = snapshot(out)
    real_save, calls = Image.Image.save, {"n": 0}

    def flaky_save(self, fp, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            full_disk()
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", flaky_save)
    with pytest.raises(OSError, match="No space left"):
        save_pictures(imager, X[::-1], [f"c{i}" for i in range(len(X))], out, overwrite=True)
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


def test_a_failed_folder_swap_without_an_exchange_rename_puts_the_earlier_folder_back(tmp_path, monkeypatch):
    out = tmp_path / "signals"
    sigxfer.write_signals(signal_set(0), out)
    before = snapshot(out)
    monkeypatch.setattr(_atomic, "_renameat2", lambda *args: False)  # a system without renameat2
    real_replace, calls = os.replace, {"n": 0}

    def second_rename_fails(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # the first moves the earlier folder aside, the second fails
            full_disk()
        return real_replace(src, dst)

    monkeypatch.setattr(_atomic.os, "replace", second_rename_fails)
    with pytest.raises(WriteError, match="could not be written"):
        sigxfer.write_signals(signal_set(1), out, overwrite=True)
    monkeypatch.undo()
    assert snapshot(out) == before
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- killed writers
CHILD = textwrap.dedent('''
    """Child process: write one output as told, optionally blocking mid-write until killed."""
    import json, os, sys, time
    from pathlib import Path

    import numpy as np

    import sigxfer
    from sigxfer import SignalSet
    from sigxfer.data.formats import register_format

    mode, target, control = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    args = json.loads(sys.argv[4])
    barrier = [Path(p) for p in args.get("barrier", [])]

    def pause():
        """Mid-write: say so, then wait for the others (a barrier) or forever (to be killed)."""
        (control / f"ready-{os.getpid()}").write_text("")
        if "id" in args:
            (control / f"arrived-{args['id']}").write_text("")
        if not barrier:
            time.sleep(600)
        while not all(p.exists() for p in barrier):
            time.sleep(0.01)

    def signals(seed):
        rng = np.random.default_rng(seed)
        return SignalSet(rng.normal(size=(6, 2, 64)).astype("float32"), sr=100.0,
                         y=["low", "high"] * 3, names=[f"rec-{i}" for i in range(6)])

    def blocking_npy(path, signal, sr):
        np.save(path, signal)
        if not getattr(blocking_npy, "paused", False):
            blocking_npy.paused = True
            pause()

    register_format(".slow", lambda p: (np.load(p), None), blocking_npy)
    overwrite = args.get("overwrite", True)
    try:
        if mode == "save":
            import sigxfer.deploy.bundle as bundle
            real = bundle.save_file
            def blocking_save(tensors, tmp, metadata):
                real(tensors, tmp, metadata=metadata)
                with open(tmp, "r+b") as f:  # half the file on disk, as a write cut short
                    f.truncate(os.path.getsize(tmp) // 2)
                pause()
                real(tensors, tmp, metadata=metadata)
            if args.get("block", True):
                bundle.save_file = blocking_save
            if not args.get("loop"):
                sigxfer.save(sigxfer.load(args["model"]), target, overwrite=overwrite)
            else:  # save the two models in turn until killed
                models = [sigxfer.load(m) for m in args["models"]]
                for i in range(10**9):
                    sigxfer.save(models[i % 2], target, overwrite=True)
                    (control / f"saved-{os.getpid()}").write_text("")
        elif mode == "signals":
            sigxfer.write_signals(signals(args["seed"]), target, format="slow" if args.get("block", True) else "npy",
                                  overwrite=overwrite)
        elif mode == "pictures":
            from PIL import Image
            from sigxfer.imaging.render import save_pictures
            real = Image.Image.save
            def blocking(self, fp, *a, **k):
                real(self, fp, *a, **k)
                pause()
            Image.Image.save = blocking
            model = sigxfer.load(args["model"])
            X = np.random.default_rng(1).normal(size=(4, 1, 128)).astype("float32")
            save_pictures(model.imager_, X, ["p0", "p1", "p2", "p3"], target, overwrite=overwrite)
        elif mode == "json":
            from sigxfer.evaluation.io import write_json
            real = Path.write_bytes
            def blocking(self, data):
                with open(self, "wb") as f:
                    f.write(data[: len(data) // 2])
                pause()
                return real(self, data)
            Path.write_bytes = blocking
            write_json({"accuracy": 0.5, "seed": args["seed"]}, target, overwrite=overwrite)
    except sigxfer.OutputExistsError:
        print("refused")
        sys.exit(3)
    print("wrote")
''')


_CHILDREN = itertools.count()


def start(tmp_path, mode, target, **args):
    control = tmp_path / "control"
    control.mkdir(exist_ok=True)
    # One script per child: rewriting a shared one while an earlier child is still reading it
    # would hand that child an empty file (it then "ends before pausing" with exit code 0).
    script = tmp_path / f"child-{next(_CHILDREN)}.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), mode, str(target), str(control), json.dumps(args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_ready(tmp_path, children, timeout=120):
    """Wait until every child has paused mid-write (it wrote its ready-<pid> file)."""
    deadline = time.monotonic() + timeout
    for child in children:
        marker = tmp_path / "control" / f"ready-{child.pid}"
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"child {child.args[2]} ended ({child.returncode}) before pausing: {child.communicate()}")
            if time.monotonic() > deadline:
                child.kill()
                pytest.fail("child never reached its write")
            time.sleep(0.02)


def kill(child):
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_writers_killed_mid_write_leave_the_earlier_output_and_named_leftovers(models, tmp_path):
    (a, b), X = models
    targets = {"save": tmp_path / "out" / "model.sigx", "signals": tmp_path / "out" / "signals",
               "pictures": tmp_path / "out" / "pictures", "json": tmp_path / "out" / "results.json"}
    (tmp_path / "out").mkdir()
    targets["save"].write_bytes(a.read_bytes())
    sigxfer.write_signals(signal_set(0), targets["signals"])
    from sigxfer.imaging.render import save_pictures

    save_pictures(sigxfer.load(a).imager_, X[:2], ["old0", "old1"], targets["pictures"])
    write_json({"earlier": True}, targets["json"])
    before = {mode: snapshot(path) for mode, path in targets.items()}
    children = {mode: start(tmp_path, mode, path, model=str(b), seed=1) for mode, path in targets.items()}
    wait_ready(tmp_path, children.values())
    for child in children.values():
        kill(child)
    for mode, path in targets.items():
        assert snapshot(path) == before[mode], f"{mode}: the earlier output changed"
    # Each killed writer left one leftover, named after its target and its (dead) process.
    left = leftovers(tmp_path / "out")
    assert len(left) == 4, left
    for mode, child in children.items():
        assert sum(name.startswith(f".{targets[mode].name}.{child.pid}-") for name in left) == 1, (mode, left)
    # The next write to each target removes its leftovers and succeeds.
    sigxfer.save(sigxfer.load(b), targets["save"], overwrite=True)
    sigxfer.write_signals(signal_set(2), targets["signals"], overwrite=True)
    save_pictures(sigxfer.load(a).imager_, X[:3], ["n0", "n1", "n2"], targets["pictures"], overwrite=True)
    write_json({"later": True}, targets["json"], overwrite=True)
    assert leftovers(tmp_path / "out") == []
    assert sigxfer.deploy.read_config(targets["save"])["imager"]["transform"] == "waveform"
    assert sorted(n for n in snapshot(targets["pictures"]) if not n.startswith(".")) == ["n0.png", "n1.png", "n2.png"]
    assert json.loads(targets["json"].read_text()) == {"later": True}


@pytest.mark.slow
def test_a_live_writers_temporary_file_is_never_swept(models, tmp_path):
    (a, b), _ = models
    target = tmp_path / "model.sigx"
    child = start(tmp_path, "save", target, model=str(b))
    try:
        wait_ready(tmp_path, [child])
        (mine,) = leftovers(tmp_path)
        sigxfer.save(sigxfer.load(a), target)  # another writer of the same target, meanwhile
        assert mine in leftovers(tmp_path), "a live writer's temporary file was removed"
        assert sigxfer.deploy.read_config(target)["imager"]["transform"] == "spectrogram"
    finally:
        kill(child)


@pytest.mark.slow
def test_a_writer_killed_at_a_random_moment_leaves_one_whole_model(models, tmp_path):
    (a, b), X = models
    expected = [sigxfer.load(m).predict_proba(X) for m in (a, b)]
    target = tmp_path / "model.sigx"
    target.write_bytes(a.read_bytes())
    rng = random.Random(0)
    for _ in range(3):
        child = start(tmp_path, "save", target, models=[str(a), str(b)], block=False, loop=True)
        saved = tmp_path / "control" / f"saved-{child.pid}"
        deadline = time.monotonic() + 120
        while not saved.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))  # somewhere inside one of the saves that follow
        kill(child)
        proba = sigxfer.load(target).predict_proba(X)  # a whole model, A or B
        assert any(np.array_equal(proba, e) for e in expected)
        sigxfer.save(sigxfer.load(a), target, overwrite=True)  # sweeps what the kill left
        assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- two writers at once
@pytest.mark.parametrize("mode", ["save", pytest.param("signals", marks=pytest.mark.slow),
                                  pytest.param("json", marks=pytest.mark.slow)])
def test_two_writers_of_one_new_name_one_wins_the_other_is_refused(models, tmp_path, mode):
    (a, b), _ = models
    target = tmp_path / {"save": "model.sigx", "signals": "signals", "json": "results.json"}[mode]
    control = tmp_path / "control"
    # Both pause mid-write, after each found the name free, until both are there; then both finish.
    barrier = [str(control / f"arrived-{i}") for i in range(2)]
    children = [start(tmp_path, mode, target, model=str(m), seed=i, id=i, overwrite=False, barrier=barrier)
                for i, m in enumerate((a, b))]
    results = [c.communicate(timeout=180) for c in children]
    codes = [c.returncode for c in children]
    assert sorted(codes) == [0, 3], results  # one wrote, one was refused
    winner = codes.index(0)
    assert results[1 - winner][0].strip() == "refused"
    assert leftovers(tmp_path) == []
    if mode == "save":
        transform = sigxfer.deploy.read_config(target)["imager"]["transform"]
        assert transform == ("spectrogram", "waveform")[winner]
    elif mode == "signals":
        written = sigxfer.load_signals(target)
        np.testing.assert_array_equal(np.sort(written.X.ravel()), np.sort(signal_set(winner).X.ravel()))
    else:
        assert json.loads(target.read_text())["seed"] == winner


@pytest.mark.slow
def test_two_writers_that_may_replace_leave_one_whole_output(models, tmp_path):
    (a, b), X = models
    target = tmp_path / "model.sigx"
    target.write_bytes(a.read_bytes())
    control = tmp_path / "control"
    barrier = [str(control / f"arrived-{i}") for i in range(2)]
    children = [start(tmp_path, "save", target, model=str(m), id=i, barrier=barrier) for i, m in enumerate((a, b))]
    results = [c.communicate(timeout=180) for c in children]
    assert [c.returncode for c in children] == [0, 0], results
    assert sigxfer.deploy.read_config(target)["imager"]["transform"] in ("spectrogram", "waveform")
    sigxfer.load(target).predict(X)
    assert leftovers(tmp_path) == []
