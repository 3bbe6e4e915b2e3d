"""A fuzzer over model files: whatever the bytes, loading refuses in one line or predicts exactly.

A real model file (the tiny test network) is damaged in every way a disk, a transfer or a person
can damage it: random bytes, flipped bytes (seeded), truncation at random points, and its JSON
header edited (keys removed, types changed, numbers made huge or negative, strings made long).
Each attempt ends in one of two ways:

- :class:`sigxfer.ModelFileError`, one line, naming the file;
- a model that predicts exactly (bit for bit) what the original did.

Files sigxfer writes carry a digest, so a damaged one is always refused. An old or hand-made file
without one is only checked for sense; for those the property is weaker: a refusal, or a model
whose predictions are probabilities (or a sigxfer error), never another exception. Every test
here runs under a memory ceiling, so a header that claims huge sizes cannot make loading
allocate without bound; and nothing in a file is ever executed.
"""

import contextlib
import copy
import json
import os
import pickle
import random
import struct

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import sigxfer
from sigxfer import ModelFileError, SigxferError, TransferClassifier
from sigxfer.deploy import read_config

from _limits import memory_ceiling

#: Fuzz iterations per test (each is one load, and one prediction when it loads).
N_FLIPS, N_TRUNCATIONS, N_RANDOM, N_EDITS = 200, 100, 200, 200
#: Headroom above what the process has mapped when a test starts; loading a damaged tiny model
#: must fit in it whatever the header claims.
HEADROOM = 3 << 30
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # empty mel bands of edited configs


def make_estimator(**params):
    """The one place estimators are built here (tiny network, fixed linear head)."""
    return TransferClassifier(backbone="tinynet", image_size=32, strategy={"name": "linear", "C": 1.0},
                              progress=False, random_state=0, **params)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """A saved 3-class, 2-channel mel model, its signals and its probabilities."""
    X = np.random.default_rng(0).normal(size=(9, 2, 200)).astype("float32")
    model = make_estimator(imaging="mel", sr=8000).fit(X, ["a", "b", "c"] * 3)
    path = sigxfer.save(model, tmp_path_factory.mktemp("original") / "model.sigx")
    return path.read_bytes(), X, model.predict_proba(X)


@pytest.fixture(autouse=True)
def _bounded():
    with memory_ceiling(HEADROOM):
        yield


def split(data: bytes):
    """(header dict, data section) of a safetensors file."""
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode("utf-8")
    return struct.pack("<Q", len(text)) + text + body


def outcome(path, X, reference, *, signed=True) -> str:
    """"refused" or "same" (signed files); unsigned ones may also give "differs" or "refused later"."""
    try:
        model = sigxfer.load(path)
    except ModelFileError as err:
        text = str(err)
        assert "\n" not in text, text
        assert str(path) in text, f"the message does not name the file: {text}"
        return "refused"
    try:
        proba = model.predict_proba(X)
    except SigxferError as err:
        assert not signed, f"a signed file loaded but cannot predict: {err}"
        assert "\n" not in str(err)
        return "refused later"
    if proba.shape == reference.shape and np.array_equal(proba, reference):
        return "same"
    assert not signed, "a damaged signed file loaded and predicts something else"
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
    return "differs"


# ----------------------------------------------------------------------------- bytes
def test_random_bytes_are_refused(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "random.sigx"
    for i in range(N_RANDOM):
        n = rng.choice([0, 1, 7, 8, 9, 64, 1000, 5000])
        data = bytes(rng.getrandbits(8) for _ in range(n))
        if i % 3 == 1 and n >= 8:  # a plausible length prefix, so the header parser is reached
            data = struct.pack("<Q", rng.randint(0, n)) + b'{"' + data[10:]
        path.write_bytes(data)
        with pytest.raises(ModelFileError) as info:
            sigxfer.load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_flipped_bytes_are_refused_or_change_nothing(original, tmp_path):
    data, X, reference = original
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    rng = random.Random(1)
    path = tmp_path / "flipped.sigx"
    seen = {"refused": 0, "same": 0}
    for i in range(N_FLIPS):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 1, 2, 4])):
            # Half the flips land in the header (8 bytes + JSON), which is a fifth of the file.
            where = rng.randrange(header_end) if i % 2 else rng.randrange(len(data))
            damaged[where] ^= rng.randint(1, 255)
        path.write_bytes(bytes(damaged))
        seen[outcome(path, X, reference)] += 1
    assert seen["refused"] > N_FLIPS // 2  # nearly every flip is caught, by the digest if nothing else


def test_truncated_files_are_refused(original, tmp_path):
    data, X, reference = original
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    rng = random.Random(2)
    cuts = [0, 1, 7, 8, 9, header_end - 1, header_end, header_end + 1, len(data) - 1]
    cuts += [rng.randrange(len(data)) for _ in range(N_TRUNCATIONS - len(cuts))]
    path = tmp_path / "cut.sigx"
    for cut in cuts:
        path.write_bytes(data[:cut])
        assert outcome(path, X, reference) == "refused", f"a file cut at byte {cut} of {len(data)} loaded"


def test_a_file_grown_by_trailing_bytes_is_refused(original, tmp_path):
    data, X, reference = original
    path = tmp_path / "grown.sigx"
    path.write_bytes(data + b"\0" * 16)
    assert outcome(path, X, reference) == "refused"


# ----------------------------------------------------------------------------- header edits
EDITS = [("remove", None), ("string", "x"), ("list", []), ("object", {}), ("null", None), ("bool", True),
         ("huge", 10**9), ("huger", 10**18), ("beyond int64", 2**64), ("float max", 1e308), ("negative", -1),
         ("very negative", -10**9), ("zero", 0), ("fraction", 0.5), ("long string", "a" * 100_000),
         ("nan", float("nan"))]


def leaves(obj, path=()):
    """Every path into a JSON value (the root excluded)."""
    if path:
        yield path
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(value, path + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from leaves(value, path + (i,))


def edited(obj, path, kind, value):
    obj = copy.deepcopy(obj)
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if kind == "remove":
        parent.pop(path[-1])
    else:
        parent[path[-1]] = value
    return obj


def all_edits(config):
    return [(path, kind, value) for path in leaves(config) for kind, value in EDITS
            if not (kind == "remove" and isinstance(path[-1], int))]


def read_parts(path):
    with safe_open(str(path), framework="pt") as f:
        return f.metadata(), {k: f.get_tensor(k) for k in f.keys()}


def test_edited_configs_of_signed_files_are_refused(original, tmp_path):
    data, X, reference = original
    source = tmp_path / "model.sigx"
    source.write_bytes(data)
    meta, tensors = read_parts(source)
    config = json.loads(meta["sigxfer"])
    edits = random.Random(3).sample(all_edits(config), N_EDITS)
    path = tmp_path / "edited.sigx"
    for where, kind, value in edits:
        # The digest is left as it was: an edit by hand, or by a tool that knows nothing of it.
        text = json.dumps(edited(config, where, kind, value))
        save_file(tensors, str(path), metadata={**meta, "sigxfer": text})
        expected = "same" if text == meta["sigxfer"] else "refused"  # null over null changes nothing
        assert outcome(path, X, reference) == expected, f"{kind} at {where}"


def test_edited_tensor_headers_are_refused(original, tmp_path):
    data, X, reference = original
    header, body = split(data)
    names = sorted(k for k in header if k != "__metadata__")
    path = tmp_path / "edited.sigx"
    rng = random.Random(4)
    changes = [("dtype", "F16"), ("dtype", "I64"), ("dtype", "F33"), ("shape", [2**40]), ("shape", [-1]),
               ("shape", []), ("data_offsets", [0, 2**62]), ("data_offsets", [-8, 8]),
               ("data_offsets", [0, 0]), ("remove", None)]
    for _ in range(50):
        name, (field, value) = rng.choice(names), rng.choice(changes)
        damaged = copy.deepcopy(header)
        if field == "remove":
            damaged.pop(name)
        else:
            damaged[name][field] = value
        path.write_bytes(join(damaged, body))
        assert outcome(path, X, reference) == "refused", f"{field}={value} on {name} loaded"
    # A length prefix that claims more header than there is file, or an absurd amount of it.
    for claimed in (len(data), 2**40, 2**63):
        path.write_bytes(struct.pack("<Q", claimed) + data[8:])
        assert outcome(path, X, reference) == "refused"


def _unsigned_edits(original, tmp_path, edits):
    """Load every edit of an old-style file (no digest); count the outcomes."""
    data, X, reference = original
    source = tmp_path / "model.sigx"
    source.write_bytes(data)
    meta, tensors = read_parts(source)
    config = json.loads(meta["sigxfer"])
    path = tmp_path / "unsigned.sigx"
    seen = {"refused": 0, "same": 0, "differs": 0, "refused later": 0}
    for where, kind, value in edits(config):
        save_file(tensors, str(path), metadata={"sigxfer": json.dumps(edited(config, where, kind, value))})
        seen[outcome(path, X, reference, signed=False)] += 1
    return seen


def test_files_without_a_digest_are_checked_for_sense(original, tmp_path):
    seen = _unsigned_edits(original, tmp_path, lambda c: random.Random(5).sample(all_edits(c), N_EDITS))
    assert seen["refused"] > seen["differs"]


@pytest.mark.slow
@pytest.mark.parametrize("imaging", ["spectrogram", "scalogram", "gaf", "recurrence", "spectrum", "waveform"])
def test_every_edit_of_every_imaging_is_refused_or_harmless(imaging, tmp_path):
    X = np.random.default_rng(0).normal(size=(8, 2, 200)).astype("float32")
    model = make_estimator(imaging=imaging, sr=8000).fit(X, [0, 1, 2, 0, 1, 2, 0, 1])
    path = sigxfer.save(model, tmp_path / "source.sigx")
    seen = _unsigned_edits((path.read_bytes(), X, model.predict_proba(X)), tmp_path, all_edits)
    assert seen["refused"] > seen["differs"]


def test_an_old_file_without_a_digest_still_loads(original, tmp_path):
    data, X, reference = original
    source = tmp_path / "model.sigx"
    source.write_bytes(data)
    meta, tensors = read_parts(source)
    assert set(meta) == {"sigxfer", "sigxfer_sha256"}
    old = tmp_path / "old.sigx"
    save_file(tensors, str(old), metadata={"sigxfer": meta["sigxfer"]})
    np.testing.assert_array_equal(sigxfer.load(old).predict_proba(X), reference)


# ----------------------------------------------------------------------------- nothing is executed
class _Trap:
    """Unpickling this creates ``target``: proof that a pickle was run."""

    target = None

    def __reduce__(self):
        return (open, (str(_Trap.target), "w"))


def test_a_pickle_is_never_run_wherever_it_hides(original, tmp_path):
    data, X, reference = original
    _Trap.target = tmp_path / "ran"
    payload = pickle.dumps(_Trap(), protocol=2)
    (tmp_path / "model.sigx").write_bytes(data)
    meta, tensors = read_parts(tmp_path / "model.sigx")
    config = json.loads(meta["sigxfer"])
    cases = {
        "renamed.sigx": payload,
        "torch-saved.sigx": None,
    }
    for name, content in cases.items():
        if content is None:
            torch.save({"trap": _Trap()}, tmp_path / name)  # a torch checkpoint: a zip holding a pickle
        else:
            (tmp_path / name).write_bytes(content)
    # Inside the safetensors metadata: as the whole config, and as a value within it.
    save_file(tensors, str(tmp_path / "in-metadata.sigx"),
              metadata={"sigxfer": payload.decode("latin-1"), "pickle": payload.hex()})
    save_file(tensors, str(tmp_path / "in-config.sigx"),
              metadata={"sigxfer": json.dumps({**config, "params": {**config["params"], "strategy": payload.hex()}})})
    # Where the config holds free text, a pickle is just text: the model loads, nothing runs.
    save_file(tensors, str(tmp_path / "as-text.sigx"),
              metadata={"sigxfer": json.dumps({**config, "history": payload.decode("latin-1")})})
    loaded = sigxfer.load(tmp_path / "as-text.sigx")
    assert loaded.history_ == payload.decode("latin-1")
    np.testing.assert_array_equal(loaded.predict_proba(X), reference)
    # As the bytes of a tensor.
    save_file({**tensors, "pickle": torch.frombuffer(bytearray(payload), dtype=torch.uint8)},
              str(tmp_path / "in-tensor.sigx"), metadata=meta)
    assert not _Trap.target.exists()
    for name in ["renamed.sigx", "torch-saved.sigx", "in-metadata.sigx", "in-config.sigx", "in-tensor.sigx"]:
        with pytest.raises(ModelFileError):
            sigxfer.load(tmp_path / name)
        with contextlib.suppress(ModelFileError):
            read_config(tmp_path / name)
        assert not _Trap.target.exists(), f"loading {name} ran its pickle"


# ----------------------------------------------------------------------------- claimed sizes
def _peak_rss_reset() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # resets VmHWM, the peak resident size
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def test_a_header_claiming_huge_tensors_is_refused_without_allocating(original, tmp_path):
    data, X, reference = original
    header, body = split(data)
    path = tmp_path / "huge.sigx"
    # Sizes the file does not have: refused by the reader from the header alone.
    for shape in ([2**40], [2**31, 2**31], [2**62, 4]):
        damaged = copy.deepcopy(header)
        name = max((k for k in damaged if k != "__metadata__"), key=lambda k: damaged[k]["data_offsets"][1])
        damaged[name]["shape"] = shape
        damaged[name]["data_offsets"][1] = damaged[name]["data_offsets"][0] + 4 * int(np.prod(shape, dtype=object))
        path.write_bytes(join(damaged, body))
        assert outcome(path, X, reference) == "refused"


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's peak-memory counter")
def test_a_real_file_with_one_huge_tensor_is_read_lazily(original, tmp_path):
    data, X, reference = original
    header, body = split(data)
    # A valid safetensors file whose last tensor really spans 1 GiB (a sparse file: no disk used):
    # the config wants another shape, so it must be refused before that tensor is read.
    name = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])
    start = header[name]["data_offsets"][0]
    size = 1 << 30
    damaged = copy.deepcopy(header)
    damaged[name].update(dtype="F32", shape=[size // 4], data_offsets=[start, start + size])
    path = tmp_path / "lazy.sigx"
    with open(path, "wb") as f:
        f.write(join(damaged, body[:start]))
        f.truncate(f.tell() + size)
    if not _peak_rss_reset():
        pytest.skip("cannot reset the peak-memory counter here")
    before = _peak_rss()
    assert read_config(path)["classes"] == ["a", "b", "c"]  # the config is read from the header alone
    assert outcome(path, X, reference) == "refused"
    assert _peak_rss() - before < size // 4, "loading read the huge tensor into memory"
