"""Tests for the format registry, truncated WAV files, write_targets and the shared name/CSV rules."""

from __future__ import annotations

import doctest
import json
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sigxfer._paths
import sigxfer.data.folders
import sigxfer.data.formats
import sigxfer.data.targets
import sigxfer.data.wavheader
import sigxfer.data.writing
from sigxfer._paths import safe_name
from sigxfer.data import (
    OutputFolderExistsError,
    SignalSet,
    load_files,
    load_signals,
    load_targets,
    read_signal,
    register_format,
    signal_suffixes,
    unregister_format,
    write_signals,
    write_targets,
)
from sigxfer.data.formats import get_format, guess_delimiter
from sigxfer.data.wavheader import wav_length
from sigxfer.errors import DataError, ParameterError


# -- the registry ----------------------------------------------------------------------------------
def _read_dat(path: Path):
    """A made-up format: a 4-byte channel count, then float32 samples, channel after channel."""
    raw = path.read_bytes()
    n_channels = struct.unpack("<i", raw[:4])[0]
    return np.frombuffer(raw[4:], dtype="<f4").reshape(n_channels, -1), None


def _write_dat(path: Path, signal: np.ndarray, sr) -> None:
    path.write_bytes(struct.pack("<i", signal.shape[0]) + signal.astype("<f4").tobytes())


@pytest.fixture
def dat_format():
    register_format(".dat", _read_dat, _write_dat)
    yield
    unregister_format(".dat")


def test_built_in_formats_come_first():
    assert signal_suffixes()[:3] == (".wav", ".csv", ".npy")
    assert get_format("CSV").suffix == ".csv" and get_format(".npy").name == "npy"


def test_a_registered_suffix_is_read_by_load_signals(tmp_path, dat_format):
    rng = np.random.default_rng(0)
    signals = rng.standard_normal((4, 2, 30)).astype(np.float32)
    for i, x in enumerate(signals):
        folder = tmp_path / "d" / ("a" if i < 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        _write_dat(folder / f"s{i}.DAT", x, None)  # suffixes match without regard to case
    (tmp_path / "d" / "sigxfer.json").write_text(json.dumps({"sr": 50.0}))
    s = load_signals(tmp_path / "d")
    assert s.y.tolist() == ["a", "a", "b", "b"] and s.sr == 50.0
    np.testing.assert_array_equal(s.X, signals)
    np.testing.assert_array_equal(load_files(tmp_path / "d" / "b" / "s3.DAT").X[0], signals[3])


def test_a_registered_writer_round_trips_and_unregistering_stops_reading(tmp_path, dat_format):
    s = SignalSet(np.arange(24.0).reshape(3, 2, 4), sr=10.0, y=["x", "y", "y"], names=["p", "q", "r"])
    out = write_signals(s, tmp_path / "o", format="dat")
    assert (out / "y" / "q.dat").is_file()
    back = load_signals(out)
    np.testing.assert_array_equal(back.X, s.X)
    unregister_format("dat")
    with pytest.raises(DataError, match=r"q\.dat: sigxfer reads \.wav, \.csv, \.npy, .*\.png.* files"):
        read_signal(out / "y" / "q.dat")


def test_registry_errors():
    with pytest.raises(ParameterError, match=r"format \.wav is already registered; pass overwrite=True"):
        register_format("wav", _read_dat)
    with pytest.raises(ParameterError, match=r"suffix='a/b' must look like"):
        register_format("a/b", _read_dat)
    with pytest.raises(ParameterError, match=r"reader for \.xyz must be a function"):
        register_format("xyz", "not callable")
    with pytest.raises(ParameterError, match=r"format \.xyz is not registered"):
        get_format("xyz")
    with pytest.raises(ParameterError, match=r"format='xyz' must be one of \['wav', 'csv', 'npy'\]"):
        write_signals(SignalSet(np.zeros((1, 4))), "unused", format="xyz")


def test_a_reader_that_fails_or_returns_a_bad_shape_names_the_file(tmp_path):
    def crash(path):
        raise KeyError("header field 'rate' missing")

    register_format(".bad1", crash)
    register_format(".bad2", lambda path: (np.zeros((2, 3, 4)), None))
    register_format(".bad3", lambda path: (np.array([1.0, np.nan]), None))
    try:
        for suffix in ("bad1", "bad2", "bad3"):
            (tmp_path / f"x.{suffix}").write_bytes(b"")
        with pytest.raises(DataError, match=r"x\.bad1: the \.bad1 reader failed \(.*rate.*missing.*\)"):
            read_signal(tmp_path / "x.bad1")
        with pytest.raises(DataError, match=r"x\.bad2: has 3 dimensions \(shape \(2, 3, 4\)\)"):
            read_signal(tmp_path / "x.bad2")
        with pytest.raises(DataError, match=r"x\.bad3: channel 0 sample 1 is nan"):
            read_signal(tmp_path / "x.bad3")
    finally:
        for suffix in ("bad1", "bad2", "bad3"):
            unregister_format(suffix)


# -- truncated WAV files ---------------------------------------------------------------------------
def _wav(path: Path, n_frames: int = 1000, subtype: str = "PCM_16", channels: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (n_frames, channels)).astype(np.float32)
    sf.write(str(path), x, 8000, subtype=subtype)
    return path


@pytest.mark.parametrize(("subtype", "bytes_per_frame"), [("PCM_16", 4), ("FLOAT", 8)])
def test_a_truncated_wav_is_refused_naming_the_file(tmp_path, subtype, bytes_per_frame):
    path = _wav(tmp_path / "d" / "c" / "cut.wav", subtype=subtype)
    _wav(tmp_path / "d" / "c" / "whole.wav", subtype=subtype)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 400 * bytes_per_frame])  # 400 of 1000 frames lost
    info = wav_length(path)
    assert info.truncated and info.frames(info.declared) == 1000 and info.frames(info.present) == 600
    message = r"cut\.wav: truncated WAV file: its header declares 1000 frames but holds 600; .*copy or export it again"
    with pytest.raises(DataError, match=message):
        read_signal(path)
    with pytest.raises(DataError, match=message):
        load_signals(tmp_path / "d")
    assert read_signal(tmp_path / "d" / "c" / "whole.wav")[0].shape == (2, 1000)


def test_a_partial_last_frame_counts_as_truncated(tmp_path):
    path = _wav(tmp_path / "a.wav", n_frames=10)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError, match="declares 10 frames but holds 9"):
        read_signal(path)


def test_wav_headers_that_leave_the_length_open_or_hold_extra_chunks_are_read(tmp_path):
    path = _wav(tmp_path / "a.wav", n_frames=50, channels=1)
    raw = bytearray(path.read_bytes())
    data_at = raw.index(b"data")
    streamed = tmp_path / "streamed.wav"  # a writer to a pipe cannot fill in the size
    streamed.write_bytes(bytes(raw[: data_at + 4]) + struct.pack("<I", 0xFFFFFFFF) + bytes(raw[data_at + 8 :]))
    assert wav_length(streamed) is None
    extra = tmp_path / "extra.wav"  # a chunk after the samples (metadata): more bytes than declared
    extra.write_bytes(bytes(raw) + b"LIST" + struct.pack("<I", 4) + b"INFO")
    assert not wav_length(extra).truncated
    assert read_signal(extra)[0].shape == (1, 50)
    renamed = tmp_path / "renamed.wav"  # not RIFF at all: soundfile's own error explains it
    renamed.write_bytes(b"\x93NUMPY" + bytes(40))
    assert wav_length(renamed) is None
    with pytest.raises(DataError, match=r"renamed\.wav: not a readable audio file"):
        read_signal(renamed)


def test_rf64_sizes_come_from_the_ds64_chunk(tmp_path):
    samples = np.zeros(100, dtype="<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    ds64 = struct.pack("<QQQI", 0, 400, 200, 0)  # riff size, data size (400 bytes: 200 frames), frames
    body = b"ds64" + struct.pack("<I", len(ds64)) + ds64 + b"fmt " + struct.pack("<I", 16) + fmt
    path = tmp_path / "big.wav"
    path.write_bytes(b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + body + b"data"
                     + struct.pack("<I", 0xFFFFFFFF) + samples)
    info = wav_length(path)
    assert info.truncated and info.frames(info.declared) == 200 and info.frames(info.present) == 100


# -- write_targets ---------------------------------------------------------------------------------
def test_write_targets_round_trips_through_load_targets(tmp_path):
    rng = np.random.default_rng(1)
    s = SignalSet(rng.standard_normal((5, 2, 16)), sr=4.0, y=rng.uniform(0, 1, 5), names=[f"c{i}" for i in range(5)])
    table = write_targets(s, tmp_path / "out", target="rms")
    assert table == tmp_path / "out" / "targets.csv"
    assert table.read_text().splitlines()[:2] == ["file,rms", f"c0.npy,{float(s.y[0])!r}"]
    back = load_targets(table)
    np.testing.assert_array_equal(back.X, s.X)
    assert back.y.tolist() == s.y.tolist() and back.sr == 4.0  # targets exactly, sr from sigxfer.json


def test_write_targets_groups_get_their_own_tables(tmp_path):
    s = SignalSet(np.zeros((4, 8)), sr=1.0, y=[1.0, 2.0, 3.0, 4.0], names=["a", "b", "c", "d"])
    table = write_targets(s, tmp_path / "o", groups=["sim", "real", "sim", "real"], format="csv")
    assert sorted(p.name for p in table.parent.iterdir() if not p.name.startswith(".")) == [
        "a.csv", "b.csv", "c.csv", "d.csv", "real.csv", "sigxfer.json", "sim.csv", "targets.csv"]
    assert load_targets(table.parent / "real.csv").y.tolist() == [2.0, 4.0]
    assert load_targets(table).y.tolist() == [1.0, 2.0, 3.0, 4.0]
    with pytest.raises(OutputFolderExistsError, match="exists and is not empty"):
        write_targets(s, tmp_path / "o")
    write_targets(s, tmp_path / "o", overwrite=True)
    assert not (tmp_path / "o" / "real.csv").exists()


@pytest.mark.parametrize(
    ("signals", "kwargs", "error", "match"),
    [
        (SignalSet(np.zeros((2, 4)), y=["a", "b"]), {}, ParameterError, "needs numeric targets"),
        (SignalSet(np.zeros((2, 4))), {}, ParameterError, "needs numeric targets"),
        (SignalSet(np.zeros((2, 4)), y=[1.0, np.nan], names=["p", "q"]), {}, DataError, "q: target is nan"),
        (SignalSet(np.zeros((2, 4)), y=[1.0, 2.0]), {"target": "a,b"}, ParameterError, "target='a,b'"),
        (SignalSet(np.zeros((2, 4)), y=[1.0, 2.0]), {"groups": ["x"]}, ParameterError, "groups has 1 entries"),
        (SignalSet(np.zeros((2, 4)), y=[1.0, 2.0]), {"groups": ["targets", "x"]}, DataError,
         "group 'targets': its table targets.csv would replace another file"),
        (SignalSet(np.zeros((2, 4)), y=[1.0, 2.0], names=["targets", "b"]), {"format": "csv"}, DataError,
         "a case maps to the file targets.csv"),
    ],
)
def test_write_targets_errors(tmp_path, signals, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_targets(signals, tmp_path / "o", **kwargs)
    assert not (tmp_path / "o").exists()


def test_write_signals_points_continuous_targets_to_write_targets(tmp_path):
    with pytest.raises(ParameterError, match="continuous targets; write them with write_targets"):
        write_signals(SignalSet(np.zeros((2, 4)), y=[0.5, 1.5]), tmp_path / "o")


# -- one rule for names and for CSV delimiters -----------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [("a b", "a_b"), ("../x/.hidden", "x_.hidden"), ("we ird:name?", "we_ird_name"), ("...", "_"),
     ("con", "con_"), ("NUL.txt", "NUL_.txt"), ("console", "console"), ("Größe", "Größe"), ("a" * 150, "a" * 100)],
)
def test_safe_name(text, expected):
    assert safe_name(text) == expected


def test_write_signals_uses_the_shared_name_rule(tmp_path):
    s = SignalSet(np.zeros((2, 4)), y=["con", "a b"], names=["x:1", "y?"])
    out = write_signals(s, tmp_path / "o")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npy")) == ["a_b/y.npy", "con_/x_1.npy"]
    assert load_signals(out).y.tolist() == ["a b", "con"]


def test_one_delimiter_guess_for_signals_and_tables(tmp_path):
    assert [guess_delimiter(line) for line in ("1,5;2", "1;2", "1\t2", "1")] == [",", ";", "\t", ","]
    folder = tmp_path / "t"
    folder.mkdir()
    (folder / "a.csv").write_text("x;y\n1;2\n3;4\n")
    (folder / "targets.csv").write_text("file;value\na.csv;0.5\n")
    s = load_targets(folder / "targets.csv", sr=1.0)
    assert s.y.tolist() == [0.5] and s.X.tolist() == [[[1.0, 3.0], [2.0, 4.0]]]


@pytest.mark.parametrize("module", [sigxfer._paths, sigxfer.data.formats, sigxfer.data.folders,
                                    sigxfer.data.writing, sigxfer.data.wavheader, sigxfer.data.targets])
def test_docstring_examples_hold(module, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
