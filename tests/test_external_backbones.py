"""Backbones from a user's file: TorchScript, ONNX and state_dict, through fit, save and load."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import sigxfer
from sigxfer.backbones import (
    create_backbone,
    get_backbone_config,
    list_backbones,
    register_backbone,
    register_file_backbone,
)
from sigxfer.backbones.external import file_backbone_spec, restore_file_backbone
from sigxfer.backbones.files import sniff_kind
from sigxfer.backbones.tiny import TinyNet
from sigxfer.deploy import read_config
from sigxfer.errors import ModelFileError, ParameterError
from sigxfer.learning.strategies import Strategy, list_strategies

SIZE = 32
FAST = {"name": "linear", "C": 1.0}  # no inner CV: these tests check plumbing, not accuracy


class SmallConv(nn.Module):
    """Two strided convolutions; feature maps (N, 12, 8, 8), or their average (N, 12) if ``pool``."""

    def __init__(self, pool: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x)
        return y.mean(dim=(2, 3)) if self.pool else y


class FixedSize(nn.Module):
    """Flattens before a Linear layer, so it only runs on 32x32 images."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * SIZE * SIZE, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A TorchScript file (feature maps), an ONNX file (pooled), a safetensors and a .pt state_dict."""
    root = tmp_path_factory.mktemp("backbone-files")
    example = torch.zeros(1, 3, SIZE, SIZE)
    out = {"root": root}
    out["torchscript"] = root / "conv.pt"
    torch.manual_seed(0)
    torch.jit.trace(SmallConv().eval(), example).save(str(out["torchscript"]))
    out["fixed"] = root / "fixed.pt"
    torch.jit.trace(FixedSize().eval(), example).save(str(out["fixed"]))
    out["onnx"] = root / "conv.onnx"
    torch.manual_seed(0)  # the same weights as the TorchScript file
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter announces its deprecation
        torch.onnx.export(SmallConv(pool=True).eval(), (example,), str(out["onnx"]), dynamo=False,
                          input_names=["images"], output_names=["embedding"],
                          dynamic_axes={"images": {0: "n"}, "embedding": {0: "n"}})
    out["safetensors"] = root / "tiny.safetensors"
    weights = TinyNet(n_classes=3).state_dict()  # another number of classes than tinynet's 10
    save_file(weights, str(out["safetensors"]))
    out["pth"] = root / "tiny.pth"
    torch.save({k: v for k, v in weights.items() if not k.startswith("classifier.")}, out["pth"])
    return out


@pytest.fixture(scope="module")
def signals():
    return sigxfer.make_devices(12, n_timepoints=256, sr=256.0, seed=0)


@pytest.fixture(scope="module")
def registered(files):
    names = {
        "ext_ts": dict(path=files["torchscript"], kind="torchscript", input_size=SIZE),
        "ext_onnx": dict(path=files["onnx"], kind="onnx"),
        "ext_sd": dict(path=files["safetensors"], kind="state_dict", architecture="tinynet"),
        "ext_pth": dict(path=files["pth"], kind="state_dict", architecture="tinynet"),
    }
    for name, kwargs in names.items():
        register_file_backbone(name, kwargs.pop("path"), overwrite=True, **kwargs)
    return list(names)


def _fit(signals, backbone, **kwargs):
    kwargs.setdefault("strategy", FAST)
    return sigxfer.TransferClassifier(backbone=backbone, imaging="spectrum", random_state=0,
                                      progress=False, **kwargs).fit(signals)


def test_sniff_kind_tells_files_apart(files):
    assert sniff_kind(files["torchscript"]) == "torchscript"
    assert sniff_kind(files["onnx"]) == "onnx"
    assert sniff_kind(files["safetensors"]) == "state_dict"
    assert sniff_kind(files["pth"]) == "state_dict"


def test_registration_measures_embedding_and_defaults(registered):
    ts, onnx_config = get_backbone_config("ext_ts"), get_backbone_config("ext_onnx")
    assert (ts.embedding_dim, ts.input_size, ts.trainable) == (12, SIZE, False)
    assert (onnx_config.embedding_dim, onnx_config.input_size) == (12, SIZE)  # size read from the graph
    assert ts.mean == (0.485, 0.456, 0.406)
    sd = get_backbone_config("ext_sd")
    tiny = get_backbone_config("tinynet")
    assert (sd.embedding_dim, sd.input_size, sd.mean, sd.trainable) == (16, 32, tiny.mean, True)


def test_state_dict_weights_reach_the_body(registered, files):
    model = create_backbone("ext_sd")
    reference = TinyNet(n_classes=3)
    reference.load_state_dict(load_file(str(files["safetensors"])))
    reference.eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(model.forward_features(x), reference.forward_features(x), atol=1e-6)
    random_init = create_backbone("ext_sd", pretrained=False)
    with torch.no_grad():
        assert not torch.allclose(random_init.forward_features(x), reference.forward_features(x))


@pytest.mark.parametrize("name", ["ext_ts", "ext_onnx", "ext_sd", "ext_pth"])
def test_fit_predict_save_load(registered, signals, name, tmp_path):
    model = _fit(signals, name)
    proba = model.predict_proba(signals)
    assert proba.shape == (len(signals), 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert model.score(signals, signals.y) > 0.5
    path = sigxfer.save(model, tmp_path / "model.sigx")
    record = read_config(path)["backbone"]["file"]
    assert record["name"] == name and len(record["sha256"]) == 64
    keys = set(sigxfer.load(path).net_.state_dict())
    if name in ("ext_ts", "ext_onnx"):  # the frozen body stays in its own file
        assert not any(".body." in k for k in keys)
    np.testing.assert_allclose(sigxfer.load(path).predict_proba(signals), proba, rtol=1e-6, atol=1e-7)


def test_body_of_a_model_file_starts_another(registered, signals, tmp_path):
    """A sigxfer model file is a state_dict too: its backbone can be the next model's body."""
    first = _fit(signals, "ext_sd")
    path = sigxfer.save(first, tmp_path / "first.sigx")
    register_file_backbone("ext_chain", path, kind="state_dict", architecture="tinynet", overwrite=True)
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(create_backbone("ext_chain").forward_features(x),
                                   first.net_.backbone.forward_features(x))


def test_torchscript_and_onnx_of_one_network_agree(files, registered):
    x = torch.rand(3, 3, SIZE, SIZE)
    ts = create_backbone("ext_ts").forward_features(x)
    onnx_emb = create_backbone("ext_onnx").forward_features(x)
    torch.manual_seed(0)
    expected = SmallConv(pool=True).eval()(x).detach()  # same seed as the files' network
    torch.testing.assert_close(ts, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(onnx_emb, expected, rtol=1e-4, atol=1e-5)


def test_file_spec_string_is_a_backbone(files, signals):
    spec = f"file:{files['onnx']}"
    model = _fit(signals, spec)
    assert spec in list_backbones()
    assert model.get_params()["backbone"] == spec
    assert model.predict(signals).shape == (len(signals),)


def test_file_spec_defaults(files):
    config = get_backbone_config(f"file:{files['torchscript']}")  # the graph fixes no size
    assert (config.input_size, config.embedding_dim, config.std) == (224, 12, (0.229, 0.224, 0.225))


def test_file_spec_refuses_state_dict(files):
    with pytest.raises(ParameterError, match="architecture"):
        get_backbone_config(f"file:{files['safetensors']}")


def test_missing_file():
    with pytest.raises(ModelFileError, match="nowhere.onnx: no such onnx backbone file"):
        register_file_backbone("ext_missing", "nowhere.onnx", kind="onnx")


@pytest.mark.parametrize("source, kind, match", [
    ("torchscript", "onnx", "holds a TorchScript module, not kind='onnx'"),
    ("onnx", "torchscript", "holds an ONNX model, not kind='torchscript'"),
    ("safetensors", "torchscript", "holds a state_dict.*architecture="),
])
def test_wrong_kind(files, source, kind, match):
    with pytest.raises(ModelFileError, match=match):
        register_file_backbone("ext_wrong", files[source], kind=kind, input_size=SIZE)


def test_unknown_kind_and_missing_arguments(files):
    with pytest.raises(ParameterError, match="kind='keras' is not known"):
        register_file_backbone("ext_x", files["onnx"], kind="keras")
    with pytest.raises(ParameterError, match="pass input_size="):
        register_file_backbone("ext_x", files["torchscript"])
    with pytest.raises(ParameterError, match="needs architecture="):
        register_file_backbone("ext_x", files["safetensors"], kind="state_dict")


def test_shape_mismatches(files):
    with pytest.raises(ParameterError, match=r"takes 32x32 images, not input_size=48; pass input_size=32"):
        register_file_backbone("ext_x", files["onnx"], kind="onnx", input_size=48)
    with pytest.raises(ParameterError, match=r"fixed.pt: running it on a \(2, 3, 48, 48\) batch failed"):
        register_file_backbone("ext_x", files["fixed"], input_size=48)
    with pytest.raises(ParameterError, match="returns 12-long embeddings, not embedding_dim=64"):
        register_file_backbone("ext_x", files["torchscript"], input_size=SIZE, embedding_dim=64)
    with pytest.raises(ModelFileError, match="tiny.safetensors does not fit backbone 'ext_x'"):
        register_file_backbone("ext_x", files["safetensors"], kind="state_dict", architecture="efficientnet_lite0")
    assert "ext_x" not in list_backbones()


def test_name_taken_unless_same_file_or_overwrite(files, registered):
    register_file_backbone("ext_ts", files["torchscript"], input_size=SIZE)  # same again: fine
    with pytest.raises(ParameterError, match="already registered"):
        register_file_backbone("ext_ts", files["torchscript"], input_size=24)


def test_the_registry_entry_is_the_only_record_of_a_file(files, registered):
    """The spec lives on the registered config: replacing the entry forgets the file."""
    config = register_file_backbone("ext_replaced", files["torchscript"], input_size=SIZE, overwrite=True)
    spec = file_backbone_spec("ext_replaced")
    assert config.origin == spec and spec.kind == "torchscript"
    assert file_backbone_spec(create_backbone("ext_replaced")) == spec
    register_backbone(dataclasses.replace(get_backbone_config("tinynet"), name="ext_replaced"), overwrite=True)
    assert file_backbone_spec("ext_replaced") is None
    with pytest.raises(ModelFileError, match="registered in this session as another backbone"):
        restore_file_backbone(spec.to_record(), model_path="m.sigx")
    assert file_backbone_spec("file:never/registered.onnx") is None  # asking registers nothing
    assert "file:never/registered.onnx" not in list_backbones()


@dataclasses.dataclass
class _TrainsBody(Strategy):
    """Stands for any strategy that trains the backbone (finetune, scratch)."""

    name = "test-trains-body"
    frozen = False


@pytest.mark.parametrize("backbone", ["ext_onnx", "ext_ts"])
def test_frozen_file_refuses_training_the_body(registered, signals, backbone):
    with pytest.raises(ParameterError, match="frozen file and cannot learn.*use strategy='linear'"):
        _fit(signals, backbone, strategy=_TrainsBody())
    with pytest.raises(ParameterError, match="pretrained=False does not apply"):
        _fit(signals, backbone, pretrained=False)
    for name in {"finetune", "scratch"} & set(list_strategies()):
        with pytest.raises(ParameterError, match="frozen file"):
            _fit(signals, backbone, strategy=name)
    with pytest.raises(ParameterError, match="no trainable stages"):
        create_backbone(backbone).stages()


def test_state_dict_backbone_can_train(registered):
    body = create_backbone("ext_sd")
    assert len(body.stages()) == 3 and get_backbone_config("ext_sd").trainable


def test_model_file_refuses_missing_or_changed_backbone_file(files, signals, tmp_path):
    onnx_copy = tmp_path / "copy.onnx"
    shutil.copy(files["onnx"], onnx_copy)
    register_file_backbone("ext_copy", onnx_copy, kind="onnx")
    path = sigxfer.save(_fit(signals, "ext_copy"), tmp_path / "model.sigx")
    onnx_copy.write_bytes(onnx_copy.read_bytes() + b"\0")
    with pytest.raises(ModelFileError, match="copy.onnx changed since backbone 'ext_copy' was registered"):
        sigxfer.load(path)
    onnx_copy.unlink()
    with pytest.raises(ModelFileError, match="copy.onnx.*missing"):
        sigxfer.load(path)


def test_fresh_session_loads_and_checks_the_file(files, signals, tmp_path):
    """A new process knows none of the names: load registers them from the model file's record."""
    onnx_copy = tmp_path / "fresh.onnx"
    shutil.copy(files["onnx"], onnx_copy)
    register_file_backbone("ext_fresh", onnx_copy, kind="onnx")
    model = _fit(signals, "ext_fresh")
    sigxfer.save(model, tmp_path / "onnx.sigx")
    sigxfer.save(_fit(signals, "ext_sd"), tmp_path / "sd.sigx")
    np.save(tmp_path / "x.npy", signals.X)
    script = (
        "import json, sys, numpy as np, sigxfer\n"
        "x = np.load(sys.argv[1] + '/x.npy')\n"
        "out = {k: sigxfer.load(sys.argv[1] + f'/{k}.sigx').predict_proba(x).tolist() for k in ('onnx', 'sd')}\n"
        "print(json.dumps(out))\n"
    )
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    np.testing.assert_allclose(got["onnx"], model.predict_proba(signals), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["sd"], sigxfer.load(tmp_path / "sd.sigx").predict_proba(signals), rtol=1e-5, atol=1e-6)


def test_restore_in_a_fresh_session_checks_the_file(files, tmp_path):
    """What load does when the name is not registered yet: the recorded file must be there, unchanged."""
    onnx_copy = tmp_path / "restore.onnx"
    shutil.copy(files["onnx"], onnx_copy)
    register_file_backbone("ext_record", onnx_copy, kind="onnx", overwrite=True)
    record = dict(file_backbone_spec("ext_record").to_record(), name="ext_never_registered")
    onnx_copy.write_bytes(onnx_copy.read_bytes() + b"\0")
    with pytest.raises(ModelFileError, match=r"m.sigx was trained with .*restore.onnx \(sha256 .*has changed"):
        restore_file_backbone(record, model_path="m.sigx")
    onnx_copy.unlink()
    with pytest.raises(ModelFileError, match=r"m.sigx needs its onnx backbone file .*restore.onnx, which is missing"):
        restore_file_backbone(record, model_path="m.sigx")
    assert "ext_never_registered" not in list_backbones()
    with pytest.raises(ModelFileError, match="record is damaged"):
        restore_file_backbone({"name": "x"}, model_path="m.sigx")


def test_onnx_backbone_survives_deepcopy(registered):
    import copy

    body = create_backbone("ext_onnx")
    twin = copy.deepcopy(body)
    x = torch.rand(2, 3, SIZE, SIZE)
    torch.testing.assert_close(twin.forward_features(x), body.forward_features(x))
