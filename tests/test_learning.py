"""Strategies, the training loop, augmentation and the embedding cache (learning/)."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open

import sigxfer
from sigxfer import OutputExistsError, ParameterError, TransferClassifier, TransferRegressor, make_devices
from sigxfer.backbones import create_backbone, get_backbone_config
from sigxfer.cli import build_parser, main
from sigxfer.cli.options import strategy_from_args
from sigxfer.imaging import Imager
from sigxfer.learning import cache as cache_module
from sigxfer.learning.augment import Augmenter, add_noise, gain, mask_freq, mask_time, mixup, time_shift
from sigxfer.learning.callbacks import Callback
from sigxfer.learning.domain import DOMAIN_THRESHOLD, domain_distance
from sigxfer.learning.loop import lr_factor
from sigxfer.learning.objectives import class_weights, make_loss, validation_split
from sigxfer.learning.network import SignalNet
from sigxfer.learning import Auto, FineTune, LinearProbe, Scratch, list_strategies, resolve_strategy

FAST = dict(backbone="tinynet", image_size=32, imaging="spectrum", random_state=0, progress=False)


@pytest.fixture(scope="module")
def devices():
    return make_devices(16, n_timepoints=256, sr=256.0, seed=0)


pytestmark = pytest.mark.usefixtures("module_one_thread")


@pytest.fixture(autouse=True)
def _no_env_cache(monkeypatch):
    monkeypatch.delenv(cache_module.ENV_VAR, raising=False)


def make_net(X, *, pretrained=True):
    """tinynet with a fitted spectrum imager: what the estimator builds, without the estimator."""
    config = get_backbone_config("tinynet")
    imager = Imager("spectrum", sr=256.0, size=32, mean=config.mean, std=config.std).fit(X)
    return SignalNet(imager, create_backbone("tinynet", pretrained=pretrained))


def labels(signals):
    return np.unique(signals.y, return_inverse=True)[1]


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, after, prefix):
    keys = [k for k in before if k.startswith(prefix) and before[k].is_floating_point()]
    assert keys, prefix
    return any(not torch.equal(before[k], after[k]) for k in keys)


def unchanged(before, after, prefix):
    keys = [k for k in before if k.startswith(prefix)]
    assert keys, prefix
    return all(torch.equal(before[k], after[k]) for k in keys)


def fit(strategy, signals, net=None, task="classification", y=None, n_outputs=2, random_state=0):
    net = net or make_net(signals.X)
    y = labels(signals) if y is None else y
    history = strategy.fit(net, signals.X, y, task=task, n_outputs=n_outputs, random_state=random_state,
                           batch_size=16, progress=False)
    return net, history


# ----------------------------------------------------------------------------- registry, parameters
def test_strategies_resolve_by_name_dict_and_object():
    assert {"linear", "finetune", "scratch", "auto"} <= set(list_strategies())
    assert isinstance(resolve_strategy("finetune"), FineTune)
    assert isinstance(resolve_strategy("scratch"), Scratch)
    assert isinstance(resolve_strategy("auto"), Auto)
    ft = resolve_strategy({"name": "finetune", "epochs": 3, "unfreeze": 2, "augment": {"snr_db": 20}})
    assert (ft.epochs, ft.unfreeze) == (3, 2)
    config = ft.get_config()
    assert json.loads(json.dumps(config)) == config  # travels in the model file
    assert "callbacks" not in config
    assert resolve_strategy(config) == ft


@pytest.mark.parametrize("params, match", [
    ({"unfreeze": 0}, "unfreeze"), ({"unfreeze": "some"}, "unfreeze"), ({"epochs": -1}, "epochs"),
    ({"epochs": 0, "head_epochs": 0}, "nothing would train"), ({"lr": 0}, "lr"), ({"val_size": 1.0}, "val_size"),
    ({"patience": 0}, "patience"), ({"augment": {"pitch": 2}}, "pitch"), ({"augment": {"time_mask": 1.5}}, "time_mask"),
    ({"class_weight": "equal"}, "class_weight"), ({"loss": "hinge"}, "loss"), ({"resume": True}, "checkpoint_dir"),
    ({"colour": 1}, "colour"),
])
def test_finetune_rejects_bad_parameters(params, match):
    with pytest.raises(ParameterError, match=match):
        resolve_strategy({"name": "finetune", **params})


def test_every_strategy_words_a_bad_parameter_alike():
    cases = [({"name": "finetune", "epochs": -1}, "strategy 'finetune': epochs=-1 must be an integer >= 0"),
             ({"name": "scratch", "unfreeze": 2}, "strategy 'scratch': unfreeze=2 must be 'all'"),
             ({"name": "auto", "epochs": -1}, "strategy 'auto': epochs=-1 must be an integer >= 0"),
             ({"name": "auto", "unfreeze": "all"}, "strategy 'auto': unfreeze='all' must be None or an integer >= 1"),
             ({"name": "linear", "cv": 1}, "strategy 'linear': cv=1 must be an integer >= 2"),
             ({"name": "linear", "C": 0}, "strategy 'linear': C=0 must be None or a number > 0")]
    for config, message in cases:
        with pytest.raises(ParameterError) as err:
            resolve_strategy(config)
        assert str(err.value) == message


def test_parameters_are_checked_again_when_fitting(devices):
    strategy = LinearProbe()
    strategy.max_iter = 0  # set after construction: the table is read again by fit
    with pytest.raises(ParameterError, match="max_iter=0 must be an integer >= 1"):
        fit(strategy, devices)


def test_auto_holds_a_finetune_and_stores_a_flat_config():
    auto = Auto(epochs=5, time_budget=60, augment={"snr_db": 20})
    assert not isinstance(auto, FineTune)
    assert auto.finetune == FineTune(epochs=5, augment={"snr_db": 20}, patience=None, average_last=3)
    assert Auto(finetune=FineTune(epochs=5, augment={"snr_db": 20}, patience=None, average_last=3), time_budget=60) == auto
    assert Auto(finetune={"epochs": 5, "augment": {"snr_db": 20}}, time_budget=60) == auto
    config = auto.get_config()
    assert "finetune" not in config and config["epochs"] == 5 and config["time_budget"] == 60
    assert json.loads(json.dumps(config)) == config and resolve_strategy(config) == auto
    with pytest.raises(ParameterError, match="either inside finetune= or directly"):
        Auto(finetune=FineTune(), epochs=3)
    with pytest.raises(ParameterError, match=r"auto chooses the stages.*Auto\(unfreeze=2\)"):
        Auto(finetune=FineTune(unfreeze=2))
    with pytest.raises(ParameterError, match="must be a FineTune, not Scratch"):
        Auto(finetune=Scratch())
    with pytest.raises(ParameterError, match="features=\\['deep'\\] must list some of 'last', 'multi'"):
        Auto(features=["deep"])
    with pytest.raises(ParameterError, match="time_budget=0 must be None or a number > 0"):
        Auto(time_budget=0)
    with pytest.raises(ParameterError, match="unexpected keyword argument 'colour'"):
        resolve_strategy({"name": "auto", "colour": 1})


def test_auto_config_of_an_earlier_model_file_still_loads():
    # What model files wrote while Auto was a fixed rule of data size and domain distance.
    stored = {"name": "auto", "unfreeze": 4, "epochs": 6, "head_epochs": 1, "lr": 0.002, "body_lr_factor": 0.1,
              "weight_decay": 0.01, "warmup_epochs": 1, "patience": 3, "val_size": 0.2, "augment": None,
              "class_weight": "balanced", "mixup": 0.0, "loss": None, "checkpoint_dir": None, "resume": False,
              "tensorboard_dir": None, "small_n": 100, "large_n": 1000, "distance_threshold": 0.22, "n_images": 32}
    auto = resolve_strategy(stored)
    assert auto.unfreeze == 4 and auto.large_n == 1000
    # What the file stored is kept; average_last, newer than the file, takes auto's default.
    assert auto.finetune == FineTune(epochs=6, head_epochs=1, lr=0.002, class_weight="balanced", average_last=3)
    assert resolve_strategy(auto.get_config()) == auto
    assert not {"small_n", "distance_threshold", "n_images"} & set(auto.get_config())


def test_scratch_trains_every_stage_and_unfreeze_beyond_the_stages_is_refused(devices):
    with pytest.raises(ParameterError, match="'all'"):
        Scratch(unfreeze=2)
    with pytest.raises(ParameterError, match="3 stages"):
        fit(FineTune(unfreeze=5, epochs=1, head_epochs=0), devices)
    with pytest.raises(ParameterError, match="does not fit regression"):
        fit(FineTune(loss="cross_entropy", epochs=1), devices, task="regression",
            y=np.zeros((len(devices), 1)), n_outputs=1)


# ----------------------------------------------------------------------------- freezing
def test_partial_finetune_trains_only_the_unfrozen_stages(devices):
    net = make_net(devices.X)
    before = snapshot(net.backbone)
    fit(FineTune(unfreeze=1, epochs=2, head_epochs=1, lr=1e-2, val_size=0.0, batchnorm="train"), devices, net=net)
    after = snapshot(net.backbone)
    # Frozen stages: weights and BatchNorm running statistics (eval mode) untouched.
    assert unchanged(before, after, "layers.0.") and unchanged(before, after, "layers.1.")
    assert changed(before, after, "layers.2.0.")  # conv of the unfrozen stage
    assert not torch.equal(before["layers.2.1.running_mean"], after["layers.2.1.running_mean"])
    assert after["classifier.weight"].shape == (2, 16)
    assert all(p.requires_grad for p in net.parameters())  # left as create_backbone made it


def test_frozen_batchnorm_keeps_running_statistics_and_learns_scale_and_shift(devices):
    net = make_net(devices.X)
    before = snapshot(net.backbone)
    strategy = FineTune(unfreeze=1, epochs=2, head_epochs=1, lr=1e-2, val_size=0.0)
    assert strategy.batchnorm == "frozen"  # the default for a pretrained body
    fit(strategy, devices, net=net)
    after = snapshot(net.backbone)
    assert changed(before, after, "layers.2.0.")  # the unfrozen stage's conv learns
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(before[f"layers.2.1.{key}"], after[f"layers.2.1.{key}"]), key
    assert not torch.equal(before["layers.2.1.weight"], after["layers.2.1.weight"])  # its scale learns
    assert not torch.equal(before["layers.2.1.bias"], after["layers.2.1.bias"])


def test_frozen_batchnorm_normalises_training_batches_as_the_network_will_predict(devices):
    # In training mode a BatchNorm layer normalises by the batch's own statistics; frozen, by
    # the running ones: the loss a training step sees is the loss of the model as it predicts.
    from sigxfer.learning.loop import Phase, _set_modes

    net = make_net(devices.X)
    images = net.images(torch.as_tensor(devices.X[:8]))
    net.eval()
    with torch.no_grad():
        predicting = net.forward_images(images)
    for frozen, same in ((True, True), (False, False)):
        _set_modes(net, Phase("body", 1, [([net.backbone], 1e-3)], frozen_norm=frozen))
        assert net.backbone.training  # the modules that learn are in training mode either way
        with torch.no_grad():
            training = net.forward_images(images)
        assert torch.allclose(training, predicting, atol=1e-5) is same


def test_batchnorm_option_is_checked_and_scratch_trains_its_statistics(devices):
    with pytest.raises(ParameterError, match="batchnorm"):
        FineTune(batchnorm="fixed")
    with pytest.raises(ParameterError, match="batchnorm='frozen' must be 'train'"):
        Scratch(batchnorm="frozen")
    assert Scratch().batchnorm == "train"
    assert resolve_strategy({"name": "finetune", "batchnorm": "train"}).batchnorm == "train"
    assert Auto(batchnorm="train").finetune.batchnorm == "train"
    assert Auto().get_config()["batchnorm"] == "frozen"  # auto's LP-FT keeps them too


def test_model_files_from_before_the_batchnorm_option_say_they_trained_it(tmp_path, devices):
    from safetensors.torch import save_file

    model = TransferClassifier(strategy=FineTune(epochs=1, head_epochs=0, val_size=0.0), **FAST).fit(devices)
    assert model.strategy_.batchnorm == "frozen"
    path = sigxfer.save(model, tmp_path / "new.sigx")
    assert sigxfer.load(path).strategy_.batchnorm == "frozen"
    # A file written before the option: its strategy config has no batchnorm, and no digest
    # (files of that time may lack one; they load after the checks for sense).
    with safe_open(str(path), framework="pt") as f:
        config, tensors = json.loads(f.metadata()["sigxfer"]), {k: f.get_tensor(k) for k in f.keys()}
    assert config["strategy"]["batchnorm"] == "frozen"
    del config["strategy"]["batchnorm"]
    save_file(tensors, str(tmp_path / "old.sigx"), metadata={"sigxfer": json.dumps(config)})
    old = sigxfer.load(tmp_path / "old.sigx")
    assert old.strategy_.batchnorm == "train"  # how that file's model was trained
    np.testing.assert_allclose(old.predict_proba(devices.X), model.predict_proba(devices.X), atol=1e-6)


def test_head_phase_leaves_the_body_untouched(devices):
    net = make_net(devices.X)
    before = snapshot(net.backbone)
    _, history = fit(FineTune(epochs=0, head_epochs=2, lr=1e-2), devices, net=net)
    after = snapshot(net.backbone)
    assert unchanged(before, after, "layers.")
    assert [r["phase"] for r in history["epochs"]] == ["head", "head"]


def test_unfreeze_all_trains_the_first_stage_at_the_lower_rate(devices):
    net = make_net(devices.X)
    before = snapshot(net.backbone)
    _, history = fit(FineTune(unfreeze="all", epochs=2, head_epochs=1, lr=1e-2, body_lr_factor=0.1,
                              warmup_epochs=0, val_size=0.0), devices, net=net)
    assert changed(before, snapshot(net.backbone), "layers.0.")
    record = history["epochs"][1]
    assert record["phase"] == "body" and record["body_lr"] == pytest.approx(record["lr"] * 0.1)
    assert history["unfrozen_stages"] == history["n_stages"] == 3


# ----------------------------------------------------------------------------- schedule, early stopping
def test_warmup_then_cosine_schedule():
    total, warmup = 20, 4
    factors = [lr_factor(s, total, warmup) for s in range(total)]
    assert factors[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factors[4] == pytest.approx(1.0)
    assert factors[4 + 8] == pytest.approx(0.5)  # half way through the cosine
    assert all(a >= b for a, b in zip(factors[4:], factors[5:]))
    assert 0 < factors[-1] < 0.01
    assert lr_factor(0, 10, 0) == 1.0


def test_history_records_the_schedule_per_epoch(devices):
    _, history = fit(FineTune(epochs=3, head_epochs=2, lr=0.01, warmup_epochs=1, patience=None), devices)
    records = history["epochs"]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5]
    assert [r["phase"] for r in records] == ["head", "head", "body", "body", "body"]
    for r in records:
        assert {"train_loss", "val_loss", "val_metric", "lr"} <= set(r)
    assert records[0]["lr"] == pytest.approx(0.01)  # end of the warm-up epoch: the peak
    assert records[2]["lr"] == pytest.approx(0.01)  # the body phase warms up again
    assert records[4]["lr"] < records[3]["lr"] < records[2]["lr"]
    assert history["n_val"] == 6 and history["stopped_early"] is False


class Snapshots(Callback):
    def __init__(self):
        self.states = {}

    def on_epoch_end(self, state, record):
        self.states[record["epoch"]] = snapshot(state.net)


def test_early_stopping_stops_and_restores_the_best_weights(devices):
    snaps = Snapshots()
    # A rate far too high: the validation loss soon rises and the phase must stop.
    net, history = fit(FineTune(epochs=12, head_epochs=0, lr=0.5, body_lr_factor=1.0, warmup_epochs=0,
                                patience=2, callbacks=[snaps]), devices)
    val = [r["val_loss"] for r in history["epochs"]]
    assert history["stopped_early"] is True and len(val) < 12
    assert history["best_epoch"] == 1 + int(np.argmin(val)) < len(val)
    best = snaps.states[history["best_epoch"]]
    assert all(torch.equal(v, best[k]) for k, v in net.state_dict().items())


def test_validation_split_is_stratified_and_taken_from_training_data():
    y = np.array([0] * 30 + [1] * 10)
    train_idx, val_idx, note = validation_split(y, 0.2, task="classification", seed=0)
    assert note is None and len(val_idx) == 8
    assert set(train_idx) | set(val_idx) == set(range(40)) and not set(train_idx) & set(val_idx)
    assert np.bincount(y[val_idx]).tolist() == [6, 2]
    _, val_idx, note = validation_split(np.array([0, 0, 0, 1]), 0.2, task="classification", seed=0)
    assert len(val_idx) == 0 and "too few" in note


# ----------------------------------------------------------------------------- checkpoints
class Interrupt(Callback):
    def __init__(self, at):
        self.at = at

    def on_epoch_end(self, state, record):
        if record["epoch"] == self.at:
            raise KeyboardInterrupt


def _without_timing(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


PARAMS = dict(epochs=3, head_epochs=2, lr=0.02, augment={"time_shift": 0.1, "snr_db": 20}, mixup=0.2)


@pytest.fixture(scope="module")
def uninterrupted(devices):
    net, history = fit(FineTune(**PARAMS), devices)
    return net.state_dict(), history


def test_checkpoint_resume_gives_the_uninterrupted_result(devices, tmp_path, uninterrupted):
    params = PARAMS
    ref_state, ref_history = uninterrupted
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        fit(FineTune(**params, checkpoint_dir=ckpt, callbacks=[Interrupt(at=3)]), devices)
    path = ckpt / "checkpoint.safetensors"
    with open(path, "rb") as fh:  # safetensors: 8-byte header length, then a JSON header; no pickle
        header_len = int.from_bytes(fh.read(8), "little")
        assert fh.read(1) == b"{" and header_len > 0
    with safe_open(str(path), framework="pt") as f:
        keys = list(f.keys())
        meta = json.loads(f.metadata()["sigxfer-checkpoint"])
    assert any(k.startswith("net/") for k in keys) and any(k.startswith("best/") for k in keys)
    assert any(k.startswith("optimizer/") for k in keys)
    assert meta["state"]["epoch"] == 3 and meta["state"]["phase_index"] == 1
    assert json.loads((ckpt / "checkpoint.json").read_text())["state"]["epoch"] == 3
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint.json", "checkpoint.safetensors"]

    with pytest.raises(OutputExistsError, match="resume=True"):
        fit(FineTune(**params, checkpoint_dir=ckpt), devices)
    with pytest.raises(ParameterError, match="another run"):
        fit(FineTune(**{**params, "lr": 0.03}, checkpoint_dir=ckpt, resume=True), devices)

    resumed, history = fit(FineTune(**params, checkpoint_dir=ckpt, resume=True), devices)
    assert history["resumed_from_epoch"] == 3
    assert _without_timing(history["epochs"]) == _without_timing(ref_history["epochs"])
    assert history["best_epoch"] == ref_history["best_epoch"]
    assert all(torch.equal(v, ref_state[k]) for k, v in resumed.state_dict().items())

    # Resuming a finished run trains nothing and gives its final weights back.
    again, history = fit(FineTune(**params, checkpoint_dir=ckpt, resume=True), devices)
    assert history["resumed_from_epoch"] == 5 and len(history["epochs"]) == 5
    assert all(torch.equal(v, ref_state[k]) for k, v in again.state_dict().items())


@pytest.mark.parametrize("at", [2, 4])  # at the end of the head phase; in the middle of the body phase
def test_resume_from_any_epoch(devices, tmp_path, uninterrupted, at):
    ref_state, ref_history = uninterrupted
    with pytest.raises(KeyboardInterrupt):
        fit(FineTune(**PARAMS, checkpoint_dir=tmp_path, callbacks=[Interrupt(at=at)]), devices)
    resumed, history = fit(FineTune(**PARAMS, checkpoint_dir=tmp_path, resume=True), devices)
    assert history["resumed_from_epoch"] == at
    assert _without_timing(history["epochs"]) == _without_timing(ref_history["epochs"])
    assert all(torch.equal(v, ref_state[k]) for k, v in resumed.state_dict().items())


# ----------------------------------------------------------------------------- scratch, determinism
class FirstWeights(Callback):
    def on_train_begin(self, state):
        self.weight = state.net.backbone.layers[0][0].weight.detach().clone()


def test_scratch_starts_random_and_finetune_starts_pretrained(devices):
    pretrained = create_backbone("tinynet", pretrained=True).layers[0][0].weight
    seen = {}
    for name, cls in (("scratch", Scratch), ("finetune", FineTune)):
        probe = FirstWeights()
        TransferClassifier(**{**FAST, "random_state": 1},
                           strategy=cls(epochs=1, head_epochs=0, callbacks=[probe])).fit(devices)
        seen[name] = probe.weight
    assert not torch.equal(seen["scratch"], pretrained)
    assert torch.equal(seen["finetune"], pretrained)


def test_same_random_state_same_finetuned_predictions(devices):
    strategy = {"name": "finetune", "epochs": 2, "head_epochs": 1, "augment": {"gain_db": 6}}
    a = TransferClassifier(**FAST, strategy=strategy).fit(devices)
    b = TransferClassifier(**FAST, strategy=strategy).fit(devices)
    np.testing.assert_array_equal(a.predict_proba(devices), b.predict_proba(devices))


def test_finetuned_model_round_trips_through_the_model_file(devices, tmp_path):
    model = TransferClassifier(**FAST, strategy=FineTune(epochs=2, head_epochs=1, lr=0.02, class_weight="balanced",
                                                         augment={"time_mask": 0.1})).fit(devices)
    path = sigxfer.save(model, tmp_path / "model.sigx")
    loaded = sigxfer.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(devices), model.predict_proba(devices))
    assert isinstance(loaded.strategy_, FineTune) and loaded.strategy_ == model.strategy_
    assert loaded.history_["epochs"][0]["phase"] == "head"


# ----------------------------------------------------------------------------- regression, class weights
def test_regression_finetune_reduces_training_loss(devices):
    rng = np.random.default_rng(0)
    y = (labels(devices) + 0.1 * rng.standard_normal(len(devices)))[:, None]
    y = (y - y.mean()) / y.std()
    for loss in ("mse", "huber"):
        _, history = fit(FineTune(epochs=6, head_epochs=0, lr=0.02, body_lr_factor=1.0, loss=loss,
                                  val_size=0.0), devices, task="regression", y=y, n_outputs=1)
        losses = [r["train_loss"] for r in history["epochs"]]
        assert losses[-1] < 0.7 * losses[0], (loss, losses)
        assert history["loss"] == loss and history["val_metric_name"] == "r2"
    model = TransferRegressor(**FAST, strategy={"name": "finetune", "epochs": 1, "head_epochs": 1}).fit(
        devices, np.arange(len(devices), dtype=float))
    assert model.predict(devices).shape == (len(devices),)


def test_balanced_class_weights():
    y = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(class_weights(y, 2, "balanced"), [4 / 6, 4 / 2])
    assert class_weights(y, 2, None) is None
    with pytest.raises(ParameterError, match="one per class"):
        class_weights(y, 2, [1.0])
    logits, target = torch.randn(4, 2), torch.as_tensor(y)
    loss = make_loss("classification", "cross_entropy", class_weights(y, 2, "balanced"))(logits, target)
    per_case = F.cross_entropy(logits, target, reduction="none")
    w = torch.tensor([4 / 6, 4 / 6, 4 / 6, 2.0])
    assert float(loss) == pytest.approx(float((w * per_case).sum() / w.sum()), rel=1e-5)


def test_class_weights_reach_the_history_on_imbalanced_data(devices):
    keep = np.r_[0:16, 16:22]  # 16 "low", 6 "high"
    subset = devices[keep]
    _, history = fit(FineTune(epochs=1, head_epochs=0, class_weight="balanced"), subset)
    counts = np.bincount(labels(subset))
    n_fit = history["n_train"] - history["n_val"]
    assert history["class_weights"][0] > history["class_weights"][1]  # "high" (0) is the rare class
    assert counts[0] < counts[1] and n_fit > 0


# ----------------------------------------------------------------------------- domain distance
def _photo_crops(n, size, seed=0):
    from sklearn.datasets import load_sample_image

    rng = np.random.default_rng(seed)
    crops = []
    for name in ("china.jpg", "flower.jpg"):
        photo = torch.tensor(load_sample_image(name)).permute(2, 0, 1).float() / 255
        for _ in range(n // 2):
            side = int(rng.integers(200, 427))
            top, left = int(rng.integers(0, 427 - side + 1)), int(rng.integers(0, 640 - side + 1))
            crop = photo[None, :, top:top + side, left:left + side]
            crops.append(F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True))
    return torch.cat(crops)


def test_domain_distance_photos_close_noise_far():
    config = get_backbone_config("efficientnet_lite0")
    backbone = create_backbone("efficientnet_lite0", pretrained=True)
    mean, std = torch.tensor(config.mean).view(1, 3, 1, 1), torch.tensor(config.std).view(1, 3, 1, 1)
    size = config.input_size
    photos = domain_distance(backbone, (_photo_crops(8, size) - mean) / std)
    pixels = torch.rand(8, 3, size, size, generator=torch.Generator().manual_seed(0))
    noise = domain_distance(backbone, (pixels - mean) / std)
    assert photos < DOMAIN_THRESHOLD <= noise
    assert noise > 3 * photos


def test_auto_prints_its_plan_and_choice_and_the_model_file_keeps_them(devices, capsys, tmp_path):
    model = TransferClassifier(**{**FAST, "progress": True}, strategy="auto").fit(devices)
    selection = model.history_["selection"]
    assert selection["chosen"] in [r["candidate"] for r in selection["table"] if r["status"] == "scored"]
    err = capsys.readouterr().err
    assert "auto: 32 training cases" in err and f"auto chose {selection['chosen']}" in err
    loaded = sigxfer.load(sigxfer.save(model, tmp_path / "auto.sigx"))
    assert isinstance(loaded.strategy_, Auto) and loaded.strategy_ == model.strategy_
    assert loaded.history_["selection"]["chosen"] == selection["chosen"]
    TransferClassifier(**FAST, strategy="auto").fit(devices)
    assert "auto" not in capsys.readouterr().err  # progress=False: quiet


# ----------------------------------------------------------------------------- augmentation
def _signals(n=6, c=2, t=512, seed=0):
    rng = np.random.default_rng(seed)
    tt = np.arange(t) / t
    x = np.sin(2 * np.pi * rng.uniform(5, 40, (n, c, 1)) * tt) + 0.2 * rng.standard_normal((n, c, t))
    return torch.as_tensor(x, dtype=torch.float32)


def test_noise_reaches_the_asked_snr():
    x = _signals()
    for snr in (0.0, 10.0, 20.0, 35.0):
        noisy = add_noise(x, (snr, snr), np.random.default_rng(1))
        achieved = 10 * torch.log10(x.pow(2).mean(-1) / (noisy - x).pow(2).mean(-1))
        assert noisy.shape == x.shape
        assert torch.all((achieved - snr).abs() < 0.5)
    ranged = add_noise(x, (10.0, 20.0), np.random.default_rng(2))
    achieved = 10 * torch.log10(x.pow(2).mean(-1) / (ranged - x).pow(2).mean(-1))
    assert torch.all((achieved > 9.5) & (achieved < 20.5))


def test_time_shift_circular_and_zero_padded():
    x = _signals(t=100)
    circ = time_shift(x, 0.1, np.random.default_rng(0), mode="circular")
    for i in range(len(x)):
        shifts = [s for s in range(-10, 11) if torch.equal(torch.roll(x[i], s, dims=-1), circ[i])]
        assert len(shifts) == 1
    padded = time_shift(x, 0.1, np.random.default_rng(0), mode="zeros")  # same draws, same shifts
    for i in range(len(x)):
        s = [s for s in range(-10, 11) if torch.equal(torch.roll(x[i], s, dims=-1), circ[i])][0]
        zeros = (padded[i] == 0).all(dim=0).sum().item()
        assert zeros == abs(s)
    with pytest.raises(ParameterError, match="shift_mode"):
        time_shift(x, 0.1, np.random.default_rng(0), mode="reflect")


def test_gain_is_one_factor_per_case_within_range():
    x = _signals()
    y = gain(x, (-6.0, 6.0), np.random.default_rng(0))
    ratio = y / x
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio), rtol=1e-5)
    db = 20 * torch.log10(ratio[:, 0, 0])
    assert torch.all(db.abs() <= 6.0 + 1e-4) and db.std() > 0


def test_masks_blank_the_asked_fraction():
    images = torch.rand(5, 3, 40, 50) + 0.5  # no zeros of its own
    rng = np.random.default_rng(0)
    timed = mask_time(images, 0.1, rng, fill=0.0)
    assert timed.shape == images.shape
    assert torch.all((timed == 0).all(dim=(1, 2)).sum(dim=1) == 5)  # 10 % of 50 columns
    assert (timed == 0).float().mean().item() == pytest.approx(0.1)
    freq = mask_freq(images, 0.25, rng, fill=0.0)
    assert torch.all((freq == 0).all(dim=(1, 3)).sum(dim=1) == 10)  # 25 % of 40 rows
    assert (freq == 0).float().mean().item() == pytest.approx(0.25)
    fill = torch.tensor([-1.0, -2.0, -3.0]).view(1, 3, 1, 1)
    filled = mask_time(images, 0.2, np.random.default_rng(0), fill=fill)
    assert (filled == -2.0).all(dim=2)[:, 1].sum().item() == 5 * 10


def test_augmentation_is_seeded_and_keeps_shapes():
    aug = Augmenter.from_config({"time_shift": 0.1, "gain_db": 6, "snr_db": 20, "time_mask": 0.1, "freq_mask": 0.1})
    x, images = _signals(), torch.rand(6, 3, 32, 32)
    a = aug.signals(x, np.random.default_rng(5)), aug.images(images, np.random.default_rng(5))
    b = aug.signals(x, np.random.default_rng(5)), aug.images(images, np.random.default_rng(5))
    c = aug.signals(x, np.random.default_rng(6))
    assert a[0].shape == x.shape and a[1].shape == images.shape
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[0], c)
    with pytest.raises(ParameterError, match="gain_db"):
        Augmenter.from_config({"gain_db": [3, -3]})
    with pytest.raises(ParameterError, match="must be a dict"):
        Augmenter.from_config("snr_db=20")


def test_mixup_mixes_inputs_and_targets_alike():
    inputs = torch.randn(8, 3, 4, 4)
    targets = F.one_hot(torch.arange(8) % 2, 2).float()
    mixed, mixed_targets, lam = mixup(inputs, targets, 0.4, np.random.default_rng(0))
    assert 0 <= lam <= 1 and mixed.shape == inputs.shape
    torch.testing.assert_close(mixed_targets.sum(dim=1), torch.ones(8))
    again = mixup(inputs, targets, 0.4, np.random.default_rng(0))
    assert torch.equal(mixed, again[0]) and again[2] == lam


# ----------------------------------------------------------------------------- embedding cache
def test_embedding_cache_hit_skips_extraction_and_imager_change_misses(devices, tmp_path, monkeypatch):
    calls = []
    real = cache_module.extract_embeddings

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_module, "extract_embeddings", counting)
    first = TransferClassifier(**FAST, strategy=LinearProbe(C=1.0, cache_dir=str(tmp_path))).fit(devices)
    assert len(calls) == 1 and first.history_["embedding_cache"] == "miss"
    entries = list((tmp_path / "embeddings").glob("*.npy"))
    assert len(entries) == 1
    stored = np.load(entries[0], allow_pickle=False)
    np.testing.assert_array_equal(stored, first.embed(devices))

    second = TransferClassifier(**FAST, strategy=LinearProbe(C=0.1, cache_dir=str(tmp_path))).fit(devices)
    assert len(calls) == 1 and second.history_["embedding_cache"] == "hit"  # another head, no extraction

    monkeypatch.setenv(cache_module.ENV_VAR, str(tmp_path))  # the default cache folder
    other = TransferClassifier(**{**FAST, "imaging": {"name": "spectrum", "fmax": 100.0}}, strategy=LinearProbe(C=1.0)).fit(devices)
    assert len(calls) == 2 and other.history_["embedding_cache"] == "miss"

    entries[0].write_bytes(b"damaged")  # a damaged entry is a miss, and is rewritten
    third = TransferClassifier(**FAST, strategy=LinearProbe(C=1.0, cache_dir=str(tmp_path))).fit(devices)
    assert len(calls) == 3 and third.history_["embedding_cache"] == "miss"
    np.testing.assert_array_equal(np.load(entries[0], allow_pickle=False), stored)


def test_cache_key_follows_weights_and_data(devices):
    net = make_net(devices.X)
    key = cache_module.embedding_key(net, devices.X)
    assert cache_module.embedding_key(make_net(devices.X), devices.X) == key
    assert cache_module.embedding_key(net, devices.X[:-1]) != key
    net.backbone.reset_classifier(5)  # the head does not touch embeddings
    assert cache_module.embedding_key(net, devices.X) == key
    with torch.no_grad():
        net.backbone.layers[0][0].weight.mul_(2)
    assert cache_module.embedding_key(net, devices.X) != key


# ----------------------------------------------------------------------------- tensorboard, cli
def test_tensorboard_logs_or_says_what_to_install(devices, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    fit(FineTune(epochs=1, head_epochs=1, tensorboard_dir=str(tmp_path / "tb")), devices)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    monkeypatch.setitem(__import__("sys").modules, "torch.utils.tensorboard", None)
    with pytest.raises(ParameterError, match="pip install tensorboard"):
        fit(FineTune(epochs=1, tensorboard_dir=str(tmp_path / "tb2")), devices)


def test_cli_builds_the_strategy_from_options(tmp_path):
    parser = build_parser()
    args = parser.parse_args(["train", "data", "-o", "m.sigx", "--strategy", "finetune", "--epochs", "3",
                              "--unfreeze", "2", "--lr", "0.01", "--augment", "snr_db=20",
                              "--augment", "gain_db=[-3, 3]"])
    assert strategy_from_args(args) == {"name": "finetune", "epochs": 3, "unfreeze": 2, "lr": 0.01,
                                        "augment": {"snr_db": 20, "gain_db": [-3, 3]}}
    assert strategy_from_args(parser.parse_args(["train", "d", "-o", "m", "--unfreeze", "all",
                                                 "--strategy", "auto"]))["unfreeze"] == "all"
    assert strategy_from_args(parser.parse_args(["train", "d", "-o", "m"])) == "linear"
    assert strategy_from_args(parser.parse_args(["train", "d", "-o", "m", "--strategy", "finetune",
                                                 "--batchnorm", "train"])) == {"name": "finetune", "batchnorm": "train"}
    with pytest.raises(SystemExit):  # argparse names the choices
        parser.parse_args(["train", "d", "-o", "m", "--batchnorm", "fixed"])
    with pytest.raises(ParameterError, match="--batchnorm"):
        strategy_from_args(parser.parse_args(["train", "d", "-o", "m", "--batchnorm", "train"]))
    with pytest.raises(ParameterError, match="--epochs"):
        strategy_from_args(parser.parse_args(["train", "d", "-o", "m", "--epochs", "2"]))


def test_cli_reaches_any_strategy_parameter_and_refuses_malformed_or_repeated_ones():
    parser = build_parser()

    def strategy(*options):
        return strategy_from_args(parser.parse_args(["train", "d", "-o", "m", *options]))

    assert strategy("--strategy-param", "features=multi") == {"name": "linear", "features": "multi"}
    assert strategy("--strategy", "auto", "--time-budget", "90s", "--strategy-param", "derivative=false",
                    "--strategy-param", "max-views=2") == {"name": "auto", "time_budget": 90.0,
                                                           "derivative": False, "max_views": 2}
    with pytest.raises(ParameterError, match="must look like KEY=VALUE"):
        strategy("--strategy-param", "derivative")
    with pytest.raises(ParameterError, match="gives epochs a second time"):
        strategy("--strategy", "finetune", "--epochs", "2", "--strategy-param", "epochs=3")


def test_cli_trains_auto_without_the_difference_views_and_names_a_wrong_parameter(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "model.sigx"
    assert main(["synth", "devices", str(data), "--n-per-class", "8", "--n-timepoints", "128", "--seed", "2"]) == 0
    # 128 samples: the shape views lead, where auto would offer difference views.
    common = ["train", str(data), "--backbone", "tinynet", "--image-size", "32", "-q", "--strategy", "auto"]
    assert main([*common, "-o", str(out), "--strategy-param", "derivative=false",
                 "--strategy-param", "features=[\"last\"]"]) == 0
    model = sigxfer.load(out)
    assert model.strategy_.derivative is False and model.strategy_.features == ["last"]
    labels = " ".join(r["candidate"] for r in model.history_["selection"]["table"])
    assert "waveform" in labels and "derivative" not in labels
    capsys.readouterr()
    assert main([*common, "-o", str(tmp_path / "x.sigx"), "--strategy-param", "derivatives=false"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'derivatives'" in err and not (tmp_path / "x.sigx").exists()


def test_cli_trains_a_finetuned_model(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "model.sigx"
    assert main(["synth", "devices", str(data), "--n-per-class", "10", "--n-timepoints", "256", "--sr", "256"]) == 0
    assert main(["train", str(data), "-o", str(out), "--backbone", "tinynet", "--image-size", "32",
                 "--imaging", "spectrum", "-q", "--strategy", "finetune", "--epochs", "1",
                 "--augment", "time_mask=0.1"]) == 0
    config = sigxfer.deploy.read_config(out)
    assert config["strategy"]["name"] == "finetune" and config["strategy"]["augment"] == {"time_mask": 0.1}
    assert main(["train", str(data), "-o", str(tmp_path / "x.sigx"), "--backbone", "tinynet",
                 "--epochs", "2", "-q"]) == 1
    assert "--epochs" in capsys.readouterr().err
