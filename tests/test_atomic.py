"""The one output rule: check_output before any work, install_folder replacing only sigxfer's files."""

from __future__ import annotations

import json

import pytest

from sigxfer._atomic import (
    MANIFEST_NAME,
    atomic_write_text,
    check_output,
    install_folder,
    new_staging_folder,
    read_manifest,
)
from sigxfer.errors import OutputExistsError


def _build(root, out, files: dict, owner="tester"):
    """Write ``files`` ({relative path: text}) as a finished folder ``out`` of ``owner``."""
    tmp = new_staging_folder(out)
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    return install_folder(tmp, out, owner=owner)


def _tree(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_file_output_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "m.sigx"
    assert check_output(path, overwrite=False) == []
    path.write_text("old")
    with pytest.raises(OutputExistsError, match=r"m\.sigx exists; pass overwrite=True or choose another name"):
        check_output(path, overwrite=False)
    with pytest.raises(OutputExistsError, match=r"pass resume=True"):
        check_output(path, overwrite=False, flag="resume=True")
    assert check_output(path, overwrite=True) == [path]
    with pytest.raises(OutputExistsError, match=r"is a folder; give a file name"):
        check_output(tmp_path, overwrite=True)
    atomic_write_text(path, "new", overwrite=True)
    assert path.read_text() == "new"


def test_an_output_never_is_or_holds_the_input(tmp_path):
    data = tmp_path / "project" / "data"
    data.mkdir(parents=True)
    table = data / "targets.csv"
    table.write_text("file,y\n")
    for out in (data, tmp_path / "project", tmp_path):
        with pytest.raises(OutputExistsError, match="input data"):
            check_output(out, overwrite=True, kind="folder", inputs=[data])
    with pytest.raises(OutputExistsError, match=r"targets\.csv is the input data"):
        check_output(table, overwrite=True, inputs=[table])
    with pytest.raises(OutputExistsError, match=r"targets\.csv is part of the input data"):
        check_output(table, overwrite=True, inputs=[data])
    assert check_output(data / "model.sigx", overwrite=False, inputs=[data]) == []  # a new file there is fine
    assert check_output(data / "pictures", overwrite=False, kind="folder", inputs=[data]) == []


def test_a_folder_without_manifest_is_the_users(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert check_output(out, overwrite=False, kind="folder") == []  # empty is fine
    (out / "user.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"out exists and is not empty; pass overwrite=True"):
        check_output(out, overwrite=False, kind="folder")
    with pytest.raises(OutputExistsError, match=r"out was not written by sigxfer \(it has no \.sigxfer-manifest"):
        check_output(out, overwrite=True, kind="folder")
    (out / MANIFEST_NAME).write_text("not json")  # a broken manifest is not sigxfer's either
    with pytest.raises(OutputExistsError, match="not written by sigxfer"):
        check_output(out, overwrite=True, kind="folder")
    with pytest.raises(OutputExistsError, match=r"is a file; choose a folder name"):
        check_output(out / "user.txt", overwrite=True, kind="folder")
    assert (out / "user.txt").read_text() == "mine"


def test_another_writers_folder_is_refused(tmp_path):
    _build(tmp_path, tmp_path / "sig", {"a.npy": "x"}, owner="write_signals")
    with pytest.raises(OutputExistsError, match=r"output of sigxfer's write_signals, not of save_pictures"):
        check_output(tmp_path / "sig", overwrite=True, kind="folder", owner="save_pictures")
    assert check_output(tmp_path / "sig", overwrite=True, kind="folder", owner="write_signals") == [
        tmp_path / "sig" / "a.npy"]


def test_install_writes_a_manifest_and_swaps_a_folder_of_its_own(tmp_path):
    out = tmp_path / "out"
    assert _build(tmp_path, out, {"a/1.png": "1", "a/2.png": "2", "b/3.png": "3"}) == []
    assert read_manifest(out) == {"written_by": "tester", "files": ["a/1.png", "a/2.png", "b/3.png"]}
    replaced = _build(tmp_path, out, {"a/1.png": "one"})
    assert sorted(p.relative_to(out).as_posix() for p in replaced) == ["a/1.png", "a/2.png", "b/3.png"]
    assert _tree(out) == {MANIFEST_NAME: json.dumps({"written_by": "tester", "files": ["a/1.png"]}, indent=2) + "\n",
                          "a/1.png": "one"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_install_keeps_the_users_files_and_removes_only_listed_ones(tmp_path):
    out = tmp_path / "out"
    _build(tmp_path, out, {"a/1.png": "1", "b/2.png": "2", "c/3.png": "3"})
    (out / "user.txt").write_text("mine")
    (out / "c" / "notes.md").write_text("my notes")
    (out / "empty").mkdir()
    check_output(out, overwrite=True, kind="folder", owner="tester")
    _build(tmp_path, out, {"a/1.png": "new", "d/4.png": "4"})
    assert _tree(out) == {MANIFEST_NAME: (out / MANIFEST_NAME).read_text(), "a/1.png": "new", "c/notes.md": "my notes",
                          "d/4.png": "4", "user.txt": "mine"}
    assert (out / "empty").is_dir() and not (out / "b").exists()  # b/ emptied by sigxfer, so removed
    assert read_manifest(out)["files"] == ["a/1.png", "d/4.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_install_never_writes_over_a_users_file(tmp_path):
    out = tmp_path / "out"
    _build(tmp_path, out, {"a.png": "1"})
    (out / "b.png").write_text("the user's own b.png")
    with pytest.raises(OutputExistsError, match=r"b\.png is not sigxfer's .* move it, or choose another folder"):
        _build(tmp_path, out, {"a.png": "2", "b.png": "sigxfer's"})
    assert _tree(out)["b.png"] == "the user's own b.png" and _tree(out)["a.png"] == "1"
    assert read_manifest(out)["files"] == ["a.png"]


def test_install_refuses_a_folder_that_became_the_users(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "user.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not written by sigxfer"):
        _build(tmp_path, out, {"a.png": "1"})
    assert _tree(out) == {"user.txt": "mine"}
