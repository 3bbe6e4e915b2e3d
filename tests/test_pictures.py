"""Image-only data sets: folders of .png/.jpg read as pictures, the "picture" imaging, seed 002's task."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import sigxfer
from sigxfer.data import load_files, load_signals, train_test_split_signals
from sigxfer.data.images import read_image, resize_images
from sigxfer.errors import DataError, ParameterError
from sigxfer.imaging import Imager
from sigxfer.imaging.picture import imaging_for_pictures

TILE = 48


def _model(**params):
    """Every estimator of this file, built in one place."""
    defaults = dict(backbone="tinynet", image_size=32, random_state=0, progress=False)
    return sigxfer.TransferClassifier(**{**defaults, **params})


def _photo_tiles() -> list[np.ndarray]:
    """TILE x TILE tiles of the photographs scikit-learn ships (and scikit-image's, if installed)."""
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    try:
        from skimage import data as skdata
    except ImportError:
        pass
    else:
        photos += [np.asarray(getattr(skdata, name)()) for name in ("astronaut", "coffee", "chelsea")]
    tiles = []
    for photo in photos:
        rgb = photo if photo.ndim == 3 else np.stack([photo] * 3, axis=-1)
        for r in range(0, rgb.shape[0] - TILE + 1, TILE):
            for c in range(0, rgb.shape[1] - TILE + 1, TILE):
                tiles.append(np.ascontiguousarray(rgb[r:r + TILE, c:c + TILE, :3]))
    return tiles


def _drawing(rng: np.random.Generator) -> Image.Image:
    """Random lines and polygon outlines in a few colours on a light background."""
    paper = tuple(int(v) for v in rng.integers(225, 256, size=3))
    img = Image.new("RGB", (TILE, TILE), paper)
    pen = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 7))):
        ink = tuple(int(v) for v in rng.integers(0, 160, size=3))
        points = [tuple(int(v) for v in rng.integers(0, TILE, size=2)) for _ in range(int(rng.integers(2, 6)))]
        if len(points) > 2 and rng.random() < 0.5:
            pen.polygon(points, outline=ink, width=int(rng.integers(1, 3)))
        else:
            pen.line(points, fill=ink, width=int(rng.integers(1, 4)))
    return img


@pytest.fixture(scope="module")
def picture_folder(tmp_path_factory):
    """photo/*.jpg tiles against drawing/*.png line drawings, as many of each."""
    root = tmp_path_factory.mktemp("pictures")
    tiles = _photo_tiles()[::2]  # every other tile: enough, and quicker
    (root / "photo").mkdir()
    (root / "drawing").mkdir()
    for i, tile in enumerate(tiles):
        Image.fromarray(tile).save(root / "photo" / f"p{i:03d}.jpg", quality=92)
    rng = np.random.default_rng(2)
    for i in range(len(tiles)):
        _drawing(rng).save(root / "drawing" / f"d{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def pictures(picture_folder):
    return load_signals(picture_folder)


def test_a_folder_of_pictures_loads_as_rgb_in_unit_range(pictures, picture_folder):
    assert pictures.image_shape == (TILE, TILE)
    assert pictures.X.shape == (len(pictures), 3, TILE * TILE) and pictures.X.dtype == np.float32
    assert pictures.sr is None and 0.0 <= pictures.X.min() and pictures.X.max() <= 1.0
    assert set(pictures.classes) == {"drawing", "photo"} and len(pictures) >= 120
    # Row by row: case i's pixels fold back into the file's picture.
    first = sorted((picture_folder / "drawing").glob("*.png"))[0]
    np.testing.assert_allclose(pictures.X[0].reshape(3, TILE, TILE), read_image(first), atol=0)
    assert pictures[:3].image_shape == (TILE, TILE)  # selections keep the shape


def test_pictures_are_brought_to_one_shape_and_transparency_shows_white(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (20, 10), (255, 0, 0)).save(tmp_path / "a" / "0.png")  # 10 high, 20 wide
    Image.new("L", (40, 20), 0).save(tmp_path / "a" / "1.jpg")  # grey, twice the size
    Image.new("RGBA", (20, 10), (0, 0, 0, 0)).save(tmp_path / "a" / "2.png")  # fully transparent
    s = load_signals(tmp_path)
    assert s.image_shape == (10, 20) and s.X.shape == (3, 3, 200)
    np.testing.assert_allclose(s.X[0, :, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(s.X[1], 0.0, atol=1e-6)  # grey -> RGB, resized
    np.testing.assert_allclose(s.X[2], 1.0)  # transparent -> white, not black
    assert load_signals(tmp_path, image_shape=(5, 6)).X.shape == (3, 3, 30)
    assert load_files([tmp_path / "a" / "1.jpg"]).image_shape == (20, 40)


def test_bad_picture_folders_are_refused_in_words(tmp_path):
    (tmp_path / "a").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "x.png")
    np.save(tmp_path / "a" / "y.npy", np.zeros(10))
    with pytest.raises(DataError, match=r"holds both pictures .*x\.png.* and signals .*y\.npy"):
        load_signals(tmp_path)
    (tmp_path / "a" / "y.npy").unlink()
    (tmp_path / "a" / "z.jpg").write_bytes(b"not a picture")
    with pytest.raises(DataError, match=r"z\.jpg: not a readable image"):
        load_signals(tmp_path)
    with pytest.raises(ParameterError, match=r"image_shape=\(0, 8\) must be \(height, width\)"):
        load_signals(tmp_path, image_shape=(0, 8))


def test_picture_imaging_folds_pixels_back_and_has_a_fixed_range():
    rng = np.random.default_rng(0)
    pics = rng.random((4, 3, 16, 20)).astype(np.float32)
    X = pics.reshape(4, 3, 320)
    imager = Imager("picture", size=(16, 20), height=16, width=20, mean=(0, 0, 0), std=(1, 1, 1)).fit(X[:1])
    assert imager.scale.tolist() == [0.0, 1.0]  # nothing fitted from data
    np.testing.assert_allclose(imager(X).numpy(), pics, atol=1e-6)  # same size: the picture itself
    half = Imager("picture", size=(8, 10), height=16, width=20, mean=(0, 0, 0), std=(1, 1, 1)).fit(X)
    np.testing.assert_allclose(half(X).numpy(), pics.reshape(4, 3, 8, 2, 10, 2).mean(axis=(3, 5)), atol=1e-6)
    with pytest.raises(DataError, match=r"cases of 320 pixels are not 7 x 9 pictures"):
        Imager("picture", size=8, height=7, width=9).fit(X)(X)


def test_picture_imaging_exports_to_onnx_with_a_dynamic_batch():
    ort = pytest.importorskip("onnxruntime")
    X = np.random.default_rng(1).random((2, 3, 12 * 20)).astype(np.float32)
    imager = Imager("picture", size=16, height=12, width=20).fit(X).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(imager, (torch.as_tensor(X),), buffer, dynamo=False, opset_version=17,
                          input_names=["pixels"], dynamic_axes={"pixels": {0: "batch"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    other = np.random.default_rng(2).random((5, 3, 240)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"pixels": other})[0], imager(other).numpy(), atol=1e-5)


def test_the_default_imaging_means_picture_for_pictures_and_others_are_refused():
    assert imaging_for_pictures({"name": "spectrogram"}, (4, 5)) == {"name": "picture", "height": 4, "width": 5}
    assert imaging_for_pictures("picture", (4, 5)) == {"name": "picture", "height": 4, "width": 5}
    assert imaging_for_pictures("spectrogram:n_fft=64", None) == "spectrogram:n_fft=64"
    with pytest.raises(ParameterError, match=r"imaging 'spectrogram:n_fft=64' reads signals; leave imaging"):
        imaging_for_pictures("spectrogram:n_fft=64", (4, 5))
    with pytest.raises(ParameterError, match=r"expects 3 x 3 pictures but the data hold 4 x 5"):
        imaging_for_pictures({"name": "picture", "height": 3, "width": 3}, (4, 5))


@pytest.mark.slow
def test_photos_against_drawings_well_above_chance(pictures, picture_folder, tmp_path):
    train, test = train_test_split_signals(pictures, test_size=0.3, random_state=0)
    model = _model().fit(train)
    assert model.imager_.transform.name == "picture"
    assert (model.imager_.transform.height, model.imager_.transform.width) == (TILE, TILE)
    assert model.score(test, test.y) >= 0.85
    with pytest.raises(ParameterError, match="reads signals"):
        _model(imaging="mel").fit(train)
    # The model file reads back; pictures of another size are resized to the training shape.
    path = sigxfer.save(model, tmp_path / "pictures.sigx")
    loaded = sigxfer.load(path)
    files = [picture_folder / "photo" / "p000.jpg", picture_folder / "drawing" / "d000.png"]
    bigger = load_files(files, image_shape=(2 * TILE, 2 * TILE))
    same = load_files(files)
    np.testing.assert_array_equal(loaded.predict(same), model.predict(same))
    assert (loaded.predict(bigger) == loaded.predict(same)).mean() == 1.0


@pytest.mark.slow
def test_compare_pits_transfer_against_scratch_pixels_and_a_forest(pictures):
    from sigxfer.evaluation.compare import compare

    result = compare(pictures, contenders=["linear", "scratch", "pixels-nb", "embeddings-rf"],
                     backbone="tinynet", image_size=32, test_size=0.3, random_state=0,
                     contender_params={"scratch": {"epochs": 3}, "embeddings-rf": {"n_estimators": 50}})
    rows = {r["contender"]: r for r in result.rows}
    assert set(rows) == {"linear", "scratch", "pixels-nb", "embeddings-rf"}
    assert all(r["status"] == "ok" for r in rows.values()), [r["status"] for r in rows.values()]
    assert {r["imaging"] for r in rows.values()} == {f"picture:height={TILE},width={TILE}"}
    assert rows["linear"]["score"] >= 0.85 and rows["embeddings-rf"]["score"] >= 0.75


def test_resizing_stored_pictures_keeps_their_content():
    flat = np.full((1, 3, 4 * 6), 0.25, dtype=np.float32)
    out = resize_images(flat, (4, 6), (8, 12))
    assert out.shape == (1, 3, 96)
    np.testing.assert_allclose(out, 0.25, atol=1e-6)


@pytest.mark.slow
def test_the_command_line_trains_evaluates_predicts_and_reports_on_pictures(picture_folder, tmp_path, capsys):
    from sigxfer.cli import main

    model = tmp_path / "m.sigx"
    assert main(["train", str(picture_folder), "-o", str(model), "--backbone", "tinynet", "--image-size", "32",
                 "-q"]) == 0
    assert sigxfer.load(model).imager_.transform.name == "picture"
    assert main(["evaluate", str(model), str(picture_folder)]) == 0
    assert "accuracy" in capsys.readouterr().out
    photo = picture_folder / "photo" / "p001.jpg"
    assert main(["predict", str(model), str(photo)]) == 0
    assert "photo" in capsys.readouterr().out
    report = tmp_path / "r.html"
    assert main(["report", str(model), str(picture_folder), "-o", str(report)]) == 0
    assert f"{TILE} × {TILE} pixels, RGB" in report.read_text()
