"""Tests for sigxfer.data: SignalSet, folder reading and writing, make_devices, splits."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sigxfer.data import (
    SignalSet,
    load_files,
    load_signals,
    make_devices,
    train_test_split_signals,
    write_signals,
)
from sigxfer.errors import DataError, OutputExistsError, ParameterError


# -- helpers ---------------------------------------------------------------------------------------
def write_csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def write_npy(path: Path, arr) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(arr))
    return path


def write_wav(path: Path, signal, sr: int) -> Path:
    """``signal`` of shape (n_channels, n_timepoints), written as 32-bit float."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(signal, dtype=np.float32).T, sr, subtype="FLOAT")
    return path


def by_basename(s: SignalSet) -> SignalSet:
    """Cases reordered by file name, to compare sets read from different folders."""
    return s[np.argsort([Path(n).name for n in s.names], kind="stable")]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small_set() -> SignalSet:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 2, 50)).astype(np.float32)
    return SignalSet(X, sr=100.0, y=np.array(["a", "a", "a", "b", "b", "b"]), names=[f"s{i}" for i in range(6)])


# -- SignalSet ---------------------------------------------------------------------------------------
def test_signalset_coerces_shapes_and_dtype():
    one = SignalSet(np.arange(8))
    assert one.X.shape == (1, 1, 8) and one.X.dtype == np.float32 and one.X.flags.c_contiguous
    two = SignalSet(np.zeros((3, 8), dtype=np.float64))
    assert two.X.shape == (3, 1, 8) and two.X.dtype == np.float32
    three = SignalSet(np.zeros((3, 2, 8))[:, :, ::1].transpose(0, 1, 2))
    assert (three.n_cases, three.n_channels, three.n_timepoints) == (3, 2, 8)
    assert three.names == ["case-0", "case-1", "case-2"]
    assert len(three) == 3 and three.y is None and three.sr is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"X": np.zeros((2, 2, 2, 2))}, DataError, "4 dimensions"),
        ({"X": np.zeros((2, 0, 5))}, DataError, "at least one channel"),
        ({"X": np.zeros(0)}, DataError, "at least one channel and one sample"),
        ({"X": [[1.0, 2.0], [1.0]]}, DataError, "unequal lengths"),
        ({"X": np.zeros((2, 4), dtype=complex)}, DataError, "complex"),
        ({"X": np.array([["a", "b"]])}, DataError, "not numbers"),
        ({"X": np.zeros((2, 4)), "y": ["a"]}, DataError, "one label"),
        ({"X": np.zeros((2, 4)), "names": ["x"]}, DataError, "names has 1 entries"),
        ({"X": np.zeros((2, 4)), "sr": 0}, ParameterError, "sr=0"),
        ({"X": np.zeros((2, 4)), "sr": float("nan")}, ParameterError, "positive sample rate"),
    ],
)
def test_signalset_validation_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        SignalSet(**kwargs)


def test_signalset_indexing_keeps_sr_labels_and_names(small_set):
    s = small_set
    first = s[0]
    assert first.X.shape == (1, 2, 50) and first.sr == 100.0 and first.names == ["s0"]
    np.testing.assert_array_equal(s[-1].X[0], s.X[5])
    assert s[1:3].names == ["s1", "s2"]
    assert s[np.array([5, 0])].y.tolist() == ["b", "a"]
    assert s[s.y == "b"].names == ["s3", "s4", "s5"]
    assert len(s[np.array([], dtype=int)]) == 0
    assert s[[True] * 6].X.flags.c_contiguous
    assert [case.names[0] for case in s] == s.names  # iteration stops at the end


def test_signalset_indexing_errors(small_set):
    with pytest.raises(IndexError, match="out of range"):
        small_set[6]
    with pytest.raises(IndexError):
        small_set[np.array([0, 9])]
    with pytest.raises(ParameterError, match="boolean mask"):
        small_set[np.array([True, False])]
    with pytest.raises(ParameterError, match="cannot select"):
        small_set[np.array([0.5])]


def test_classes_sorted_and_require_labels(small_set):
    assert small_set.classes.tolist() == ["a", "b"]
    with pytest.raises(DataError, match="no labels"):
        SignalSet(np.zeros((2, 4))).classes


def test_check_finite_names_case_channel_and_sample(small_set):
    small_set.check_finite()
    small_set.X[3, 1, 17] = np.nan
    with pytest.raises(DataError, match=r"s3: channel 1 sample 17 is nan"):
        small_set.check_finite()
    targets = SignalSet(np.zeros((2, 4)), y=[1.5, np.inf], names=["p", "q"])
    with pytest.raises(DataError, match="q: target"):
        targets.check_finite()


def test_check_classification():
    X = np.zeros((4, 8))
    with pytest.raises(DataError, match="only one class 'a' found in data/train; a classifier needs at least two"):
        SignalSet(X, y=["a"] * 4).check_classification("data/train")
    with pytest.raises(DataError, match="no labels"):
        SignalSet(X).check_classification()
    with pytest.raises(DataError, match="continuous"):
        SignalSet(X, y=[0.1, 0.5, 0.2, 0.3]).check_classification()
    with pytest.warns(UserWarning, match="single case"):
        classes = SignalSet(X, y=[0, 0, 0, 1]).check_classification()
    assert classes.tolist() == [0, 1]


# -- round trips -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["npy", "csv", "wav"])
def test_write_then_load_round_trip(tmp_path, small_set, fmt):
    out = write_signals(small_set, tmp_path / "out", format=fmt)
    assert out == tmp_path / "out"
    back = load_signals(out)
    assert back.sr == 100.0 and back.X.dtype == np.float32
    assert back.y.tolist() == ["a", "a", "a", "b", "b", "b"]
    assert [Path(n).name for n in back.names] == [f"s{i}.{fmt}" for i in range(6)]
    np.testing.assert_array_equal(by_basename(back).X, small_set.X)  # bit-exact in every format
    meta = json.loads((out / "sigxfer.json").read_text())
    assert meta["sr"] == 100.0 and meta["n_channels"] == 2 and meta["n_timepoints"] == 50 and meta["format"] == fmt
    if fmt == "csv":
        assert (out / "a" / "s0.csv").read_text().splitlines()[0] == "ch0,ch1"


def test_round_trip_keeps_int_labels_and_sanitises_names(tmp_path):
    s = SignalSet(np.ones((3, 10)), sr=10.0, y=np.array([0, 1, 1]), names=["../x/.hidden.wav", "a b", "a b"])
    out = write_signals(s, tmp_path / "out")
    assert sorted(p.name for p in (out / "1").iterdir()) == ["a_b-00002.npy", "a_b.npy"]
    assert (out / "0" / "hidden.npy").is_file()  # never a hidden file that loading would skip
    back = load_signals(out)
    assert back.y.tolist() == [0, 1, 1] and back.y.dtype.kind == "i"


def test_unlabelled_write_goes_flat_and_load_files_reads_it(tmp_path):
    s = SignalSet(np.arange(12.0).reshape(3, 4), sr=50.0)
    out = write_signals(s, tmp_path / "flat", format="csv")
    assert sorted(p.name for p in out.iterdir()) == [".sigxfer-manifest.json", "case-0.csv", "case-1.csv",
                                                    "case-2.csv", "sigxfer.json"]
    back = load_files(out)
    assert back.sr == 50.0 and back.y is None
    np.testing.assert_array_equal(back.X, s.X)
    with pytest.raises(DataError, match="no class folders"):
        load_signals(out)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=40))
def test_csv_round_trip_is_exact_for_any_float32(values):
    s = SignalSet(np.array(values, dtype=np.float32), sr=1.0, y=["k"])
    with tempfile.TemporaryDirectory() as tmp:
        back = load_signals(write_signals(s, Path(tmp) / "o", format="csv"))
    np.testing.assert_array_equal(back.X, s.X)


# -- readers -------------------------------------------------------------------------------------------
def test_wav_values_rate_and_channels(tmp_path):
    rng = np.random.default_rng(1)
    sig = rng.uniform(-1, 1, size=(2, 300))
    write_wav(tmp_path / "d" / "x" / "a.wav", sig, 8000)
    write_wav(tmp_path / "d" / "y" / "b.WAV", sig[:, ::-1], 8000)
    s = load_signals(tmp_path / "d")
    assert s.sr == 8000.0 and s.X.shape == (2, 2, 300) and s.y.tolist() == ["x", "y"]
    np.testing.assert_allclose(s.X[0], sig, atol=1e-6)
    np.testing.assert_allclose(s.X[1], sig[:, ::-1], atol=1e-6)


def test_wav_rates_must_agree(tmp_path):
    write_wav(tmp_path / "d" / "x" / "a.wav", np.zeros((1, 10)), 8000)
    write_wav(tmp_path / "d" / "x" / "b.wav", np.zeros((1, 10)), 16000)
    with pytest.raises(DataError, match=r"b\.wav: sample rate 16000 Hz differs from 8000 Hz.*resample"):
        load_signals(tmp_path / "d")
    with pytest.raises(DataError, match=r"a\.wav: sample rate 8000 Hz differs from 100 Hz \(from sr=\)"):
        load_signals(tmp_path / "d", sr=100)


@pytest.mark.parametrize("header", ["", "x,y,z\n", "time;a;b\n"])
def test_csv_with_and_without_header_multichannel(tmp_path, header):
    sep = ";" if ";" in header else ","
    body = "".join(sep.join(str(v) for v in row) + "\n" for row in [[1, 2, 3], [4, 5.5, -6], [7, 8, 9e3]])
    write_csv(tmp_path / "d" / "c" / "a.csv", header + body + "\n")
    s = load_signals(tmp_path / "d")
    np.testing.assert_array_equal(s.X[0], [[1, 4, 7], [2, 5.5, 8], [3, -6, 9000]])
    assert s.sr is None


def test_single_column_csv_is_one_channel(tmp_path):
    write_csv(tmp_path / "d" / "c" / "a.csv", "value\n0.5\n1.5\n2.5\n")
    assert load_signals(tmp_path / "d").X.tolist() == [[[0.5, 1.5, 2.5]]]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ch0,ch1\n1,2\n3,abc\n", r"bad\.csv: row 3 column 2 is 'abc', not a finite number; fix or remove"),
        ("1,2\n3,nan\n", r"bad\.csv: row 2 column 2 is 'nan'"),
        ("1,2\n3,\n", r"bad\.csv: row 2 column 2 is empty"),
        ("1,2\n3,4,5\n", r"bad\.csv: row 2 has 3 columns but row 1 has 2"),
        ("ch0,ch1\n", r"bad\.csv: holds no samples"),
        ("1,2,3,4\n", r"bad\.csv: reads as 4 channels of one sample"),
    ],
)
def test_bad_csv_names_file_and_row(tmp_path, text, match):
    write_csv(tmp_path / "d" / "c" / "good.csv", "1\n2\n")
    write_csv(tmp_path / "d" / "c" / "bad.csv", text)
    with pytest.raises(DataError, match=match):
        load_signals(tmp_path / "d")


def test_csv_that_is_not_text(tmp_path):
    (tmp_path / "d" / "c").mkdir(parents=True)
    (tmp_path / "d" / "c" / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(DataError, match=r"bin\.csv: is not a UTF-8 text file"):
        load_signals(tmp_path / "d")


def test_npy_one_and_two_dimensional(tmp_path):
    write_npy(tmp_path / "d" / "c" / "a.npy", np.arange(4))
    write_npy(tmp_path / "e" / "c" / "b.npy", np.arange(8.0).reshape(2, 4))
    assert load_signals(tmp_path / "d").X.tolist() == [[[0, 1, 2, 3]]]
    assert load_signals(tmp_path / "e").X.tolist() == [[[0, 1, 2, 3], [4, 5, 6, 7]]]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: np.save(p, np.zeros((2, 2, 2))), r"bad\.npy: has 3 dimensions"),
        (lambda p: np.save(p, np.array([0.0, np.nan])), r"bad\.npy: channel 0 sample 1 is nan"),
        (lambda p: np.save(p, np.array([[0.0, 1.0], [np.inf, 0.0]])), r"bad\.npy: channel 1 sample 0 is inf"),
        (lambda p: np.save(p, np.zeros(3, dtype=complex)), r"bad\.npy: holds complex values"),
        (lambda p: np.save(p, np.array([1, None], dtype=object), allow_pickle=True), r"bad\.npy: not a readable"),
        (lambda p: p.write_bytes(b"not an array at all"), r"bad\.npy: not a readable \.npy file"),
        (lambda p: np.save(p, np.zeros(0)), r"bad\.npy: holds no samples"),
    ],
)
def test_bad_npy_names_file(tmp_path, make, match):
    folder = tmp_path / "d" / "c"
    folder.mkdir(parents=True)
    make(folder / "bad.npy")
    with pytest.raises(DataError, match=match):
        load_signals(tmp_path / "d")


def test_corrupt_wav_names_file(tmp_path):
    folder = tmp_path / "d" / "c"
    folder.mkdir(parents=True)
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunk")
    with pytest.raises(DataError, match=r"broken\.wav: not a readable audio file"):
        load_signals(tmp_path / "d")


def test_files_must_share_channel_count(tmp_path):
    write_npy(tmp_path / "d" / "a" / "one.npy", np.zeros((2, 5)))
    write_npy(tmp_path / "d" / "b" / "two.npy", np.zeros((3, 5)))
    with pytest.raises(DataError, match=r"two\.npy: has 3 channel\(s\) but .*one\.npy has 2"):
        load_signals(tmp_path / "d")


# -- unequal lengths -------------------------------------------------------------------------------------
@pytest.fixture
def ragged(tmp_path) -> Path:
    write_npy(tmp_path / "d" / "a" / "long.npy", [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]])
    write_npy(tmp_path / "d" / "a" / "short.npy", [[1, 2, 3], [4, 5, 6]])
    return tmp_path / "d"


def test_length_none_pads_to_longest_with_zeros(ragged):
    with pytest.warns(UserWarning, match="3 to 5 samples"):
        s = load_signals(ragged)
    assert s.X.tolist() == [[[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]], [[1, 2, 3, 0, 0], [4, 5, 6, 0, 0]]]


def test_pad_edge_repeats_last_sample(ragged):
    with pytest.warns(UserWarning):
        s = load_signals(ragged, pad="edge")
    assert s.X[1].tolist() == [[1, 2, 3, 3, 3], [4, 5, 6, 6, 6]]


def test_length_int_crops_start_and_pads(ragged):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit length is not worth a warning
        s = load_signals(ragged, length=4)
        e = load_signals(ragged, length=7, pad="edge")
    assert s.X.tolist() == [[[1, 2, 3, 4], [6, 7, 8, 9]], [[1, 2, 3, 0], [4, 5, 6, 0]]]
    assert e.X[0].tolist() == [[1, 2, 3, 4, 5, 5, 5], [6, 7, 8, 9, 10, 10, 10]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"length": 0}, "length=0"), ({"pad": "reflect"}, "pad='reflect'"), ({"sr": -1}, "sr=-1")],
)
def test_load_parameter_errors(ragged, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        load_signals(ragged, **kwargs)


# -- sample rate from sigxfer.json --------------------------------------------------------------------------
def test_sigxfer_json_gives_sr_and_sr_argument_overrides(tmp_path):
    write_npy(tmp_path / "d" / "a" / "x.npy", np.zeros(4))
    (tmp_path / "d" / "sigxfer.json").write_text('{"sr": 1024}')
    assert load_signals(tmp_path / "d").sr == 1024.0
    assert load_signals(tmp_path / "d", sr=500).sr == 500.0


@pytest.mark.parametrize(
    ("text", "match"), [("{nope", "not valid JSON"), ('{"sr": 0}', "sr is 0"), ("[1]", "must hold a JSON object")]
)
def test_bad_sigxfer_json(tmp_path, text, match):
    write_npy(tmp_path / "d" / "a" / "x.npy", np.zeros(4))
    (tmp_path / "d" / "sigxfer.json").write_text(text)
    with pytest.raises(DataError, match=rf"sigxfer\.json: {match}"):
        load_signals(tmp_path / "d")


def test_wav_rate_must_match_sigxfer_json(tmp_path):
    write_npy(tmp_path / "d" / "a" / "x.npy", np.zeros(4))
    write_wav(tmp_path / "d" / "a" / "y.wav", np.zeros((1, 4)), 8000)
    (tmp_path / "d" / "sigxfer.json").write_text('{"sr": 1000}')
    with pytest.raises(DataError, match=r"y\.wav: sample rate 8000 Hz differs from 1000 Hz \(from .*sigxfer\.json"):
        load_signals(tmp_path / "d")


# -- folder layout ----------------------------------------------------------------------------------------
def test_folder_rules_hidden_other_files_empty_classes_and_order(tmp_path):
    d = tmp_path / "d"
    write_npy(d / "zeta" / "b.npy", [2.0])
    write_npy(d / "zeta" / "a.npy", [1.0])
    write_npy(d / "alpha" / "sub" / "c.npy", [3.0])  # sub-folders belong to their class
    write_npy(d / "alpha" / ".hidden.npy", [9.0])
    write_npy(d / ".git" / "x.npy", [9.0])
    write_npy(d / "zeta" / ".cache" / "x.npy", [9.0])
    (d / "zeta" / "notes.txt").write_text("hello")
    (d / "empty").mkdir()
    with pytest.warns(UserWarning) as record:
        s = load_signals(d)
    assert s.y.tolist() == ["alpha", "zeta", "zeta"]
    assert s.X[:, 0, 0].tolist() == [3.0, 1.0, 2.0]
    assert s.names == [str(d / "alpha" / "sub" / "c.npy"), str(d / "zeta" / "a.npy"), str(d / "zeta" / "b.npy")]
    messages = " ".join(str(w.message) for w in record)
    assert "['empty']" in messages and "notes.txt" in messages


def test_missing_empty_and_wrong_paths(tmp_path):
    with pytest.raises(DataError, match=r"nowhere does not exist"):
        load_signals(tmp_path / "nowhere")
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "a" / "readme.md").write_text("x")
    with pytest.raises(DataError, match=r"no \.wav, \.csv, \.npy, .*\.png.* or \.jpeg files under .*d; put one folder per class"):
        load_signals(tmp_path / "d")
    f = write_npy(tmp_path / "f.npy", [1.0])
    with pytest.raises(DataError, match=r"f\.npy is a file; .*load_files"):
        load_signals(f)


# -- load_files ---------------------------------------------------------------------------------------------
def test_load_files_keeps_order_and_names(tmp_path):
    b = write_npy(tmp_path / "b.npy", [1.0, 2.0])
    a = write_csv(tmp_path / "a.csv", "1\n2\n3\n")
    with pytest.warns(UserWarning, match="padded"):
        s = load_files([b, str(a)])
    assert s.names == [str(b), str(a)] and s.y is None and s.sr is None
    assert s.X.tolist() == [[[1, 2, 0]], [[1, 2, 3]]]
    assert load_files(a, sr=20, length=2).sr == 20.0


def test_load_files_reads_sr_from_written_folder(tmp_path, small_set):
    out = write_signals(small_set, tmp_path / "o", format="csv")
    s = load_files([out / "b" / "s4.csv"])
    assert s.sr == 100.0


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: [p / "missing.wav"], r"missing\.wav does not exist"),
        (lambda p: [write_csv(p / "x.txt", "1\n")], r"x\.txt: sigxfer reads \.wav, \.csv, \.npy, .*\.png"),
        (lambda p: [], "no files given"),
        (lambda p: [p], r"no \.wav, \.csv, \.npy, .* or \.jpeg files under"),
    ],
)
def test_load_files_errors(tmp_path, make, match):
    with pytest.raises(DataError, match=match):
        load_files(make(tmp_path))


# -- write_signals safety ------------------------------------------------------------------------------------
def test_write_refuses_non_empty_folder_and_leaves_it_untouched(tmp_path, small_set):
    out = tmp_path / "results"
    write_csv(out / "precious.csv", "1\n2\n")
    before = snapshot(out)
    with pytest.raises(DataError, match=r"results exists and is not empty; pass overwrite=True"):
        write_signals(small_set, out)
    with pytest.raises(OutputExistsError):  # the project-wide error for this, too
        write_signals(small_set, out, format="csv")
    with pytest.raises(DataError, match=r"results was not written by sigxfer"):
        write_signals(small_set, out, overwrite=True)
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no temporary folder left behind


def test_overwrite_replaces_earlier_output(tmp_path, small_set):
    out = write_signals(small_set, tmp_path / "o", format="csv")
    with pytest.raises(DataError, match="overwrite=True"):
        write_signals(small_set[:2], out)
    write_signals(small_set[:2], out, format="npy", overwrite=True)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.*")) == [".sigxfer-manifest.json", "a/s0.npy",
                                                                          "a/s1.npy", "sigxfer.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_write_into_empty_existing_folder_and_new_parents(tmp_path, small_set):
    (tmp_path / "empty").mkdir()
    write_signals(small_set, tmp_path / "empty")
    write_signals(small_set, tmp_path / "deep" / "er")
    assert len(load_signals(tmp_path / "empty")) == len(load_signals(tmp_path / "deep" / "er")) == 6


def test_failed_write_leaves_nothing(tmp_path, small_set):
    small_set.X[2, 0, 5] = np.inf
    with pytest.raises(DataError, match="s2: channel 0 sample 5 is inf"):
        write_signals(small_set, tmp_path / "o")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("signals", "kwargs", "error", "match"),
    [
        (SignalSet(np.zeros((1, 4))), {"format": "wav"}, ParameterError, "whole-number sample rate"),
        (SignalSet(np.zeros((1, 4)), sr=10.5), {"format": "wav"}, ParameterError, "sr is 10.5"),
        (SignalSet(np.zeros((1, 4))), {"format": "mat"}, ParameterError, "format='mat'"),
        (SignalSet(np.zeros((2, 4)), y=[0.5, 1.5]), {}, ParameterError, "continuous targets"),
        (SignalSet(np.zeros((2, 4)), y=["a/b", "a_b"]), {}, DataError, "both map to class folder 'a_b'"),
        (SignalSet(np.zeros((2, 4)), y=["A", "a"]), {}, DataError, "both map to class folder"),
        (np.zeros((2, 4)), {}, ParameterError, "needs a SignalSet"),
    ],
)
def test_write_errors(tmp_path, signals, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_signals(signals, tmp_path / "o", **kwargs)
    assert not (tmp_path / "o").exists()


def test_write_into_a_file_path_is_refused(tmp_path, small_set):
    target = write_csv(tmp_path / "file.csv", "1\n")
    with pytest.raises(DataError, match=r"file\.csv is a file"):
        write_signals(small_set, target, overwrite=True)
    assert target.read_text() == "1\n"


# -- make_devices -----------------------------------------------------------------------------------------
def test_make_devices_shapes_labels_and_reproducibility():
    s = make_devices(7, n_timepoints=512, sr=2000.0, seed=3)
    assert s.X.shape == (14, 1, 512) and s.X.dtype == np.float32 and s.sr == 2000.0
    assert s.y.tolist() == ["low"] * 7 + ["high"] * 7
    assert s.names[0] == "low-0000" and s.names[-1] == "high-0006"
    np.testing.assert_array_equal(s.X, make_devices(7, n_timepoints=512, sr=2000.0, seed=3).X)
    from_generator = make_devices(7, n_timepoints=512, sr=2000.0, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(s.X, from_generator.X)
    assert not np.array_equal(s.X, make_devices(7, n_timepoints=512, sr=2000.0, seed=4).X)
    s.check_finite()


def test_make_devices_band_positions():
    # 60, 160, 300 half-cycles over the signal peak in rfft bins 30, 80, 150; "high" sits shift/2 = 4
    # bins above, and jitter=5 adds 0-4 half-cycles (0-2 bins).
    s = make_devices(20, jitter=5, shift=8, noise=0.0, seed=0)
    spectra = np.abs(np.fft.rfft(s.X[:, 0], axis=-1))
    for lo, hi in [(20, 45), (70, 95), (140, 165)]:
        peaks = lo + spectra[:, lo:hi].argmax(axis=1)
        base = {20: 30, 70: 80, 140: 150}[lo]
        assert set(peaks[s.y == "low"]) <= set(range(base, base + 3))
        assert set(peaks[s.y == "high"]) <= set(range(base + 4, base + 7))


def _accuracy(features, y, seed=0):
    Xtr, Xte, ytr, yte = train_test_split(features, y, test_size=0.3, stratify=y, random_state=seed)
    return LogisticRegression(max_iter=5000).fit(Xtr, ytr).score(Xte, yte)


def _log_spectra(s: SignalSet) -> np.ndarray:
    return np.log(np.abs(np.fft.rfft(s.X[:, 0], axis=-1)) + 1e-6)


def test_make_devices_spectra_separate_but_waveforms_do_not():
    s = make_devices(30, seed=0)
    assert _accuracy(_log_spectra(s), s.y) > 0.95  # measured: 1.0 (and 1.0 for seeds 0-19)
    # 100 per class so that chance level is not mistaken for skill: 60 test cases.
    many = make_devices(100, seed=0)
    assert _accuracy(many.X[:, 0], many.y) < 0.75  # raw waveforms look alike (measured 0.53)
    null = make_devices(100, shift=0, seed=0)  # no difference between the classes: nothing to learn
    assert _accuracy(_log_spectra(null), null.y) < 0.75  # measured 0.50


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_per_class": 0}, "n_per_class=0"),
        ({"n_timepoints": 32}, "n_timepoints=32"),
        ({"noise": -1.0}, "noise=-1.0"),
        ({"sr": 0}, "sr=0"),
        ({"n_timepoints": 256, "shift": 300}, "at or above Nyquist"),
    ],
)
def test_make_devices_parameter_errors(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        make_devices(**kwargs)


# -- splits -------------------------------------------------------------------------------------------------
def test_split_is_stratified_reproducible_and_disjoint():
    s = SignalSet(np.arange(40.0).reshape(40, 1), y=["a"] * 30 + ["b"] * 10)
    train, test = train_test_split_signals(s, test_size=0.2, random_state=0)
    assert len(test) == 8 and sorted(test.y.tolist()) == ["a"] * 6 + ["b"] * 2
    assert not set(train.names) & set(test.names) and len(train) + len(test) == 40
    again, _ = train_test_split_signals(s, test_size=0.2, random_state=0)
    assert again.names == train.names
    _, counted = train_test_split_signals(s, test_size=5, random_state=0)
    assert len(counted) == 5


def test_split_with_groups_keeps_groups_apart():
    groups = np.repeat(np.arange(12), 4)  # 12 machines, 4 recordings each
    y = np.where(groups % 2 == 0, "low", "high")
    s = SignalSet(np.random.default_rng(0).normal(size=(48, 16)), y=y)
    for stratify in (True, False):
        train, test = train_test_split_signals(s, groups=groups, stratify=stratify, random_state=1)
        train_groups = {groups[int(n.split("-")[1])] for n in train.names}
        test_groups = {groups[int(n.split("-")[1])] for n in test.names}
        assert not train_groups & test_groups and len(train) + len(test) == 48
        assert 6 <= len(test) <= 18
        if stratify:
            assert set(test.y) == {"low", "high"} and set(train.y) == {"low", "high"}


def test_split_regression_targets_are_not_stratified():
    s = SignalSet(np.zeros((10, 4)), y=np.linspace(0, 1, 10) + 0.01)
    train, test = train_test_split_signals(s, random_state=0)
    assert len(test) == 3 and len(train) == 7


@pytest.mark.parametrize(
    ("y", "kwargs", "error", "match"),
    [
        (["a"] * 5 + ["b"], {}, DataError, r"\['b'\] have a single case.*stratify=False"),
        (["a", "a", "b", "b", "c", "c"], {"test_size": 2}, DataError, "cannot hold all 3 classes"),
        (["a", "b"] * 3, {"test_size": 1.5}, ParameterError, "test_size=1.5"),
        (["a", "b"] * 3, {"test_size": 6}, ParameterError, "between 1 and 5"),
        (["a", "b"] * 3, {"groups": [0, 1]}, ParameterError, "one group id per case"),
        (["a", "b"] * 3, {"groups": [7] * 6}, DataError, "one group"),
        (["a"] * 3 + ["b"] * 3, {"groups": [0, 0, 0, 1, 1, 1]}, DataError, "fall entirely in the test set"),
    ],
)
def test_split_errors(y, kwargs, error, match):
    s = SignalSet(np.zeros((len(y), 4)), y=y)
    with pytest.raises(error, match=match):
        train_test_split_signals(s, random_state=0, **kwargs)
