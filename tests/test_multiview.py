"""Multi-view models (several imagings, one backbone, one head) and multi-depth features."""

import numpy as np
import pytest
import torch

import sigxfer
from sigxfer import ParameterError, TransferClassifier, make_devices
from sigxfer.backbones import create_backbone
from sigxfer.backbones.base import Backbone
from sigxfer.imaging import Imager
from sigxfer.learning import FineTune, LinearProbe
from sigxfer.learning.network import SignalNet, pool_map
from sigxfer.learning.strategies.heads import block_scaling, fit_head, fold_into_head, fit_linear

VIEWS = ["gaf", "waveform", "recurrence"]


def model(**params):
    """The one place these tests build an estimator."""
    base = dict(backbone="tinynet", image_size=32, random_state=0, progress=False)
    return TransferClassifier(**{**base, **params})


@pytest.fixture(scope="module")
def devices():
    return make_devices(16, n_timepoints=256, sr=256.0, seed=0)


pytestmark = pytest.mark.usefixtures("module_one_thread")


# ----------------------------------------------------------------------------- multi-view
def test_multi_view_fit_predict_save_load_round_trip(devices, tmp_path):
    fitted = model(imaging=VIEWS).fit(devices)
    assert [s.name for s in fitted.imaging_] == VIEWS and fitted.net_.view_names == VIEWS
    assert fitted.net_.n_views == 3 and fitted.net_.embedding_dim == 3 * 16
    assert fitted.embed(devices.X[:4]).shape == (4, 48)
    proba = fitted.predict_proba(devices)
    path = sigxfer.save(fitted, tmp_path / "views.sigx")
    config = sigxfer.deploy.bundle.read_config(path)
    assert [c["transform"] for c in config["imagers"]] == VIEWS
    assert config["imager"]["transform"] == "gaf" and config["network"]["view_names"] == VIEWS
    loaded = sigxfer.load(path)
    assert np.array_equal(loaded.predict_proba(devices), proba)
    assert [s.name for s in loaded.imaging_] == VIEWS
    keys = set(loaded.net_.state_dict())
    assert {"imager.scale", "extra_imagers.0.scale", "extra_imagers.1.scale"} <= keys


def test_one_view_keeps_its_state_dict_keys(devices):
    keys = set(model(imaging="gaf").fit(devices).net_.state_dict())
    assert "imager.scale" in keys and not any(k.startswith("extra_imagers") for k in keys)


def test_every_view_reaches_the_head(devices):
    fitted = model(imaging=["gaf", "waveform"]).fit(devices)
    before = fitted.decision_function(devices)
    with torch.no_grad():  # the second view's scale is part of what the model reads
        fitted.net_.extra_imagers[0].scale.mul_(2.0)
    assert not np.allclose(fitted.decision_function(devices), before)


def test_to_images_picks_a_view(devices):
    fitted = model(imaging=["gaf", "waveform"]).fit(devices)
    first, by_name, by_index = (fitted.to_images(devices.X[:2]), fitted.to_images(devices.X[:2], view="waveform"),
                                fitted.to_images(devices.X[:2], view=1))
    assert first.shape == by_name.shape == (2, 3, 32, 32)
    assert np.array_equal(by_name, by_index) and not np.allclose(first, by_name)
    assert np.array_equal(first, fitted.imager_.pictures(torch.as_tensor(devices.X[:2])).numpy())
    with pytest.raises(ParameterError, match="view='mel' is not one of this model's views"):
        fitted.to_images(devices.X[:2], view="mel")


def test_fine_tuning_a_multi_view_net_trains_the_shared_body_on_every_view(devices):
    fitted = model(imaging=["gaf", "waveform"], strategy=FineTune(epochs=1, head_epochs=0, val_size=0.0))
    reference = create_backbone("tinynet").state_dict()
    fitted.fit(devices)
    body = {k: v for k, v in fitted.net_.backbone.state_dict().items() if not k.startswith("classifier")}
    assert any(not torch.equal(v, reference[k]) for k, v in body.items() if v.is_floating_point())
    assert fitted.net_.head.in_features == 32
    assert fitted.predict_proba(devices).shape == (len(devices), 2)


def test_a_multi_view_net_runs_the_views_as_one_batch():
    X = np.random.default_rng(0).normal(size=(4, 1, 64)).astype(np.float32)
    views = [Imager(name, size=32).fit(X) for name in ("gaf", "waveform")]
    net = SignalNet(views, create_backbone("tinynet")).eval()
    x = torch.from_numpy(X)
    with torch.no_grad():
        expected = torch.cat([net.backbone.forward_features(v(x)) for v in views], dim=1)
        assert torch.allclose(net.embed(x), expected, atol=1e-5)
    with pytest.raises(ParameterError, match="different sizes"):
        SignalNet([Imager("gaf", size=32).fit(X), Imager("waveform", size=16).fit(X)], create_backbone("tinynet"))


def test_a_list_of_views_reaches_the_linear_probe_by_name_and_dict(devices):
    fitted = model(imaging=["gaf", {"name": "spectrogram", "n_fft": 64}]).fit(devices)
    assert fitted.net_.view_names == ["gaf", "spectrogram:n_fft=64"]
    assert fitted.net_.extra_imagers[0].transform.n_fft == 64
    with pytest.raises(ParameterError, match="repeats a view"):
        model(imaging=["gaf", "gaf"]).fit(devices)


# ----------------------------------------------------------------------------- multi-depth
def test_stage_features_of_tinynet_and_efficientnet_lite():
    x = torch.randn(2, 3, 64, 64)
    for name, taps, channels in (("tinynet", [0, 2], 24), ("efficientnet_lite0", [5, 8, 11, 15, 16, 17], 2024)):
        backbone = create_backbone(name, pretrained=False).eval()
        assert backbone.feature_taps() == taps
        assert sum(backbone.stage_channels()[t] for t in taps) == channels
        with torch.no_grad():
            maps = backbone.stage_features(x, taps)
            assert [m.shape[1] for m in maps] == [backbone.stage_channels()[t] for t in taps]
            assert torch.allclose(pool_map(maps[-1]), backbone.forward_features(x), atol=1e-5)
    with pytest.raises(ParameterError, match="must lie in 0..2"):
        create_backbone("tinynet").stage_features(x, [3])


def test_stage_channels_probe_leaves_training_modes_and_statistics_alone():
    backbone = create_backbone("tinynet").train()
    backbone.layers[0].eval()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    backbone.stage_channels()
    assert backbone.training and not backbone.layers[0].training and backbone.layers[1].training
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in before.items())


def test_multi_depth_features_have_the_expected_width_and_change_predictions(devices, tmp_path):
    last = model(imaging="gaf", strategy=LinearProbe(C=1.0)).fit(devices)
    multi = model(imaging="gaf", strategy=LinearProbe(C=1.0, features="multi")).fit(devices)
    assert multi.net_.taps == [0, 2] and multi.net_.block_dims == [8, 16]
    assert multi.embed(devices.X[:3]).shape == (3, 24) and multi.net_.head.in_features == 24
    assert not np.allclose(multi.predict_proba(devices), last.predict_proba(devices))
    loaded = sigxfer.load(sigxfer.save(multi, tmp_path / "multi.sigx"))
    assert loaded.net_.taps == [0, 2]
    assert np.array_equal(loaded.predict_proba(devices), multi.predict_proba(devices))


def test_banded_pooling_keeps_position_along_the_width(devices):
    maps = torch.zeros(1, 1, 4, 9)
    maps[..., :3] = 1.0
    assert pool_map(maps, "bands").tolist() == [[1.0, 0.0, 0.0]]
    banded = model(imaging=["gaf", "waveform"], strategy=LinearProbe(C=1.0, pooling="bands")).fit(devices)
    assert banded.net_.block_dims == [48] and banded.net_.embedding_dim == 96


def test_max_pooling_reads_the_strongest_response_wherever_it_sits(devices, tmp_path):
    maps = torch.zeros(2, 2, 4, 9)
    maps[0, 0, 1, 7] = 5.0  # one peak: the mean spreads it over 36 cells, the maximum keeps it
    maps[1, 1] = -1.0
    assert pool_map(maps, "max").tolist() == [[5.0, 0.0], [0.0, -1.0]]
    assert pool_map(maps, "mean")[0, 0].item() == pytest.approx(5.0 / 36)
    peaked = model(imaging="gaf", strategy=LinearProbe(C=1.0, features="multi", pooling="max")).fit(devices)
    mean = model(imaging="gaf", strategy=LinearProbe(C=1.0, features="multi")).fit(devices)
    assert peaked.net_.pooling == "max" and peaked.net_.block_dims == mean.net_.block_dims
    assert not np.allclose(peaked.embed(devices.X[:4]), mean.embed(devices.X[:4]))
    loaded = sigxfer.load(sigxfer.save(peaked, tmp_path / "max.sigx"))
    assert loaded.net_.pooling == "max"
    assert np.array_equal(loaded.predict_proba(devices), peaked.predict_proba(devices))


def test_multi_depth_needs_a_backbone_with_a_stage_chain():
    class Opaque(Backbone):
        def __init__(self):
            super().__init__(embedding_dim=3, n_classes=2)

        def forward_features(self, x):
            return x.mean(dim=(2, 3))

        def stages(self):
            return []

    X = np.zeros((2, 1, 64), dtype=np.float32)
    net = SignalNet(Imager("waveform", size=32).fit(X + np.arange(64, dtype=np.float32)), Opaque())
    with pytest.raises(ParameterError, match="does not expose intermediate stages; use features='last'"):
        net.set_features([0])


def test_block_scaling_gives_each_block_the_widest_blocks_variance():
    emb = np.random.default_rng(0).normal(size=(40, 12)) * np.arange(1, 13)
    mu, scale = block_scaling(emb, [2, 10])
    z = (emb - mu) / scale
    assert np.allclose(z[:, :2].var(axis=0).sum(), 10.0) and np.allclose(z[:, 2:].var(axis=0).sum(), 10.0)
    _, plain = block_scaling(emb, [12])
    assert np.allclose(plain, emb.std(axis=0))  # one block: the plain standardisation


def test_heads_fitted_in_the_span_of_the_cases_equal_the_full_fit():
    rng = np.random.default_rng(0)
    emb, y = rng.normal(size=(30, 200)), np.arange(30) % 3
    weight, bias = fit_head(emb, y, block_dims=[200], task="classification", value=0.1, n_outputs=3)
    mu, scale = block_scaling(emb, [200])
    coef, intercept, _ = fit_linear((emb - mu) / scale, y, task="classification", value=0.1, n_outputs=3)
    full_weight, full_bias = fold_into_head(coef, intercept, mu, scale)
    test = rng.normal(size=(10, 200))
    assert np.allclose(test @ weight.T + bias, test @ full_weight.T + full_bias, atol=1e-3)


def test_fine_tuning_can_start_from_a_linear_probe_head(devices):
    fitted = model(imaging="gaf", strategy=FineTune(head="probe", head_epochs=0, epochs=1)).fit(devices)
    assert [p["phase"] for p in fitted.history_["phases"]] == ["body"]
    assert fitted.predict_proba(devices).shape == (len(devices), 2)
    net = fitted.net_
    with pytest.raises(ParameterError, match="head='keep' but the network's head maps 16 features to 2 outputs"):
        FineTune(head="keep", epochs=1).fit(net, devices.X, np.zeros(len(devices), dtype=int), task="classification",
                                            n_outputs=3, random_state=0, progress=False)
