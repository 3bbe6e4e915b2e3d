"""Pictures on disk (``save_pictures``) and contact sheets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sigxfer.errors import DataError, OutputExistsError
from sigxfer.imaging import Imager
from sigxfer.imaging.render import contact_sheet, save_pictures


# Imaging ops are small: one thread is as fast, and immune to stalls on a shared machine.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture()
def fitted():
    x = np.random.default_rng(0).standard_normal((5, 1, 512)).astype(np.float32)
    return Imager("spectrogram", sr=1000.0, size=32, n_fft=64).fit(x), x


def test_writes_one_png_per_case_equal_to_the_pictures(fitted, tmp_path):
    imager, x = fitted
    names = ["low/a.wav", "low/b.wav", "high/a.wav", "we ird:name?.csv", "low/a.wav"]
    out = tmp_path / "pictures"
    paths = save_pictures(imager, x, names, out)
    rel = [p.relative_to(out).as_posix() for p in paths]
    assert rel == ["low/a.png", "low/b.png", "high/a.png", "we_ird_name_.png", "low/a-1.png"]
    expected = (imager.pictures(torch.as_tensor(x)) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    for path, want in zip(paths, expected):
        img = np.asarray(Image.open(path))
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
        assert np.array_equal(img, want)
    assert [p.name for p in tmp_path.iterdir()] == ["pictures"]  # no temporary folder left


def test_never_overwrites_unless_asked(fitted, tmp_path):
    imager, x = fitted
    out = tmp_path / "pics"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"pics exists and is not empty; pass overwrite=True"):
        save_pictures(imager, x, [f"c{i}" for i in range(5)], out)
    # A folder sigxfer did not write is the user's: overwrite=True does not replace it either.
    with pytest.raises(OutputExistsError, match=r"pics was not written by sigxfer"):
        save_pictures(imager, x, [f"c{i}" for i in range(5)], out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    out = tmp_path / "ours"
    save_pictures(imager, x, [f"c{i}" for i in range(5)], out)
    paths = save_pictures(imager, x[:2], ["c0", "d1"], out, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [".sigxfer-manifest.json", "c0.png", "d1.png"]
    assert [p.name for p in paths] == ["c0.png", "d1.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ours", "pics"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(save_pictures(imager, x[:2], ["a", "b"], empty)) == 2  # an empty folder is fine


def test_a_failure_leaves_nothing_behind(fitted, tmp_path):
    imager, x = fitted
    bad = x.copy()
    with pytest.raises(DataError, match="got 2 names for 5 cases"):
        save_pictures(imager, bad, ["a", "b"], tmp_path / "out")
    with pytest.raises(DataError, match="fitted on 1"):
        save_pictures(imager, np.zeros((2, 2, 512), dtype=np.float32), ["a", "b"], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_contact_sheet_has_a_row_per_class(fitted):
    imager, x = fitted
    y = np.array(["pump", "fan", "pump", "pump", "fan"])
    fig = contact_sheet(imager, x, y, per_class=2)
    axes = fig.get_axes()
    assert len(axes) == 4
    labels = [ax.get_ylabel() for ax in axes if ax.get_ylabel()]
    assert labels == ["fan", "pump"]
    assert sum(len(ax.get_images()) for ax in axes) == 4
    one = contact_sheet(imager, x, np.array([0, 1, 1, 1, 1]), per_class=3)
    assert sum(len(ax.get_images()) for ax in one.get_axes()) == 4  # class 0 has one case
    with pytest.raises(DataError, match="one label per case"):
        contact_sheet(imager, x, y[:3])
