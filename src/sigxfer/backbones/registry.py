"""Registry of backbones: a name maps to a small config that says how to build and load the network.

Modelled on timm's ``create_model``: the registry knows the input size, normalisation, where the
weights come from and their licence, so the rest of sigxfer never hard-codes a network.

The registry imports none of the networks: each module that defines one registers it
(:func:`register_backbone`), and a module that builds backbones from a name pattern, such as
``"file:PATH"``, adds its scheme with :func:`register_scheme`; the factory then builds such a name
on first use.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from sigxfer.errors import ModelFileError, ParameterError

#: Seed of the fixed initialisation a backbone without weights gets when ``pretrained=True``.
FIXED_INIT_SEED = 0

# What create_backbone needs from a module it did not build from a Backbone subclass.
_REQUIRED_MEMBERS = ("forward_features", "stages", "reset_classifier", "classifier", "embedding_dim")


@dataclass(frozen=True)
class BackboneConfig:
    """Everything sigxfer needs to know about one backbone.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"efficientnet_lite0"``.
    input_size : int
        Side in pixels of the square image the weights were trained at.
    mean, std : tuple of 3 floats
        Per-channel normalisation ``(x - mean) / std`` applied to images with values in [0, 1].
    embedding_dim : int
        Length of the vector ``forward_features`` returns.
    weights : str
        Where the pretrained weights come from, for people to read.
    licence : str
        Licence of the pretrained weights.
    classifier : str
        Attribute name of the classifier layer (an ``nn.Linear``) on the built module.
    builder : callable
        ``builder() -> nn.Module``: the architecture with random initialisation.
    weights_path : callable or None
        ``weights_path() -> str``: local path of the pretrained ``state_dict``. ``None`` means the
        backbone has no pretrained weights; ``pretrained=True`` then gives a fixed initialisation
        drawn with seed :data:`FIXED_INIT_SEED`, identical in every process.
    trainable : bool
        False for a body that cannot learn (an ONNX graph, a frozen TorchScript file): only
        strategies that keep the backbone frozen apply, and there is no random initialisation.
    load_weights : callable, optional
        ``load_weights(module)`` puts the pretrained weights into a built module itself, for a
        network whose weights lie in several files (a joint backbone's members); ``weights_path``
        then only says where they are and raises when one is missing.
    origin : object, optional
        What the module that registered this entry built it from (for a user's file, its
        :class:`~sigxfer.backbones.filespec.FileBackboneSpec`), for that module to read back; the
        registry itself never reads it.

    Examples
    --------
    >>> from torch import nn
    >>> config = BackboneConfig(name="mine", input_size=64, mean=(0.5,) * 3, std=(0.5,) * 3,
    ...                         embedding_dim=16, weights="none", licence="MIT", classifier="classifier",
    ...                         builder=lambda: MyNet())  # MyNet: a Backbone subclass
    >>> register_backbone(config)  # doctest: +SKIP
    """

    name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    embedding_dim: int
    weights: str
    licence: str
    classifier: str
    builder: Callable[[], nn.Module] = field(repr=False, compare=False)
    weights_path: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    trainable: bool = True
    load_weights: Callable[[nn.Module], None] | None = field(default=None, repr=False, compare=False)
    origin: object = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name != self.name.strip():
            raise ParameterError(f"backbone name {self.name!r} must be a non-empty string without surrounding spaces")
        for label, value in (("input_size", self.input_size), ("embedding_dim", self.embedding_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ParameterError(f"backbone {self.name!r}: {label}={value!r} must be a positive integer")
        for label, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != 3 or not all(math.isfinite(v) for v in values):
                raise ParameterError(
                    f"backbone {self.name!r}: {label}={values!r} must be 3 finite floats, one per channel"
                )
        if min(self.std) <= 0:
            raise ParameterError(f"backbone {self.name!r}: std={self.std!r} must be positive in every channel")
        if not callable(self.builder):
            raise ParameterError(f"backbone {self.name!r}: builder must be a callable returning an nn.Module")
        if self.weights_path is not None and not callable(self.weights_path):
            raise ParameterError(f"backbone {self.name!r}: weights_path must be a callable returning a path, or None")
        if self.load_weights is not None and not callable(self.load_weights):
            raise ParameterError(f"backbone {self.name!r}: load_weights must be a callable taking the module, or None")
        if not isinstance(self.trainable, bool):
            raise ParameterError(f"backbone {self.name!r}: trainable={self.trainable!r} must be True or False")


_REGISTRY: dict[str, BackboneConfig] = {}
# Name prefixes ("file" for "file:PATH") and the function that registers such a name on first use.
_SCHEMES: dict[str, Callable[[str], BackboneConfig]] = {}
# The separator of joint names ("a+b") and the function that registers such a name on first use.
_JOINT: tuple[str, Callable[[str], BackboneConfig]] | None = None


def register_backbone(config: BackboneConfig, *, overwrite: bool = False) -> None:
    """Add ``config`` to the registry under ``config.name``.

    Raises
    ------
    ParameterError
        If the name is taken and ``overwrite`` is False.

    Examples
    --------
    >>> from sigxfer.backbones.tiny import TINYNET_CONFIG
    >>> import dataclasses
    >>> register_backbone(dataclasses.replace(TINYNET_CONFIG, name="tinynet_copy"))
    >>> "tinynet_copy" in list_backbones()
    True
    """
    if not isinstance(config, BackboneConfig):
        raise ParameterError(f"register_backbone needs a BackboneConfig; got {type(config).__name__}")
    if config.name in _REGISTRY and not overwrite:
        raise ParameterError(f"backbone {config.name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[config.name] = config


def register_scheme(scheme: str, resolve: Callable[[str], BackboneConfig]) -> None:
    """Let names ``"<scheme>:..."`` be built on first use: ``resolve(name)`` registers ``name``.

    Called by the module that owns the scheme, when it is imported (``file`` is
    :mod:`sigxfer.backbones.external`'s). Registering a scheme again replaces its resolver.

    Examples
    --------
    >>> import dataclasses
    >>> from sigxfer.backbones.tiny import TINYNET_CONFIG
    >>> def tiny_at(name):  # "tiny:48" -> tinynet at 48 pixels
    ...     config = dataclasses.replace(TINYNET_CONFIG, name=name, input_size=int(name.split(":")[1]))
    ...     register_backbone(config)
    ...     return config
    >>> register_scheme("tiny", tiny_at)
    >>> get_backbone_config("tiny:48").input_size
    48
    """
    if not isinstance(scheme, str) or not scheme.isidentifier():
        raise ParameterError(f"scheme={scheme!r} must be a word such as 'file'")
    if not callable(resolve):
        raise ParameterError(f"the resolver of scheme {scheme!r} must be callable")
    _SCHEMES[scheme] = resolve


def register_joint_resolver(separator: str, resolve: Callable[[str], BackboneConfig]) -> None:
    """Let names that join registered names with ``separator`` (``"a+b"``) be built on first use.

    Called by :mod:`sigxfer.backbones.joint` when it is imported; a second call replaces the first.
    """
    global _JOINT
    _JOINT = (separator, resolve)


def list_backbones() -> list[str]:
    """Names of the registered backbones, sorted.

    Examples
    --------
    >>> "tinynet" in list_backbones()
    True
    """
    return sorted(_REGISTRY)


def weights_available(name: str) -> bool:
    """Whether ``create_backbone(name)`` finds its pretrained weights here (True for a backbone
    without any, which gets its fixed initialisation).

    Examples
    --------
    >>> weights_available("tinynet")
    True
    """
    config = get_backbone_config(name)
    if config.weights_path is None:
        return True
    try:
        config.weights_path()
    except ParameterError:  # its weights package is not installed
        return False
    return True


def get_backbone_config(name: str) -> BackboneConfig:
    """Config registered under ``name``; unknown names raise :class:`ParameterError` listing the known ones.

    A name ``"<scheme>:..."`` of a registered scheme (``"file:PATH"``: an ``.onnx`` or TorchScript
    file, see :func:`sigxfer.backbones.register_file_backbone`) is registered on first use.

    Examples
    --------
    >>> get_backbone_config("efficientnet_lite0").input_size
    224
    """
    if name not in _REGISTRY and isinstance(name, str):
        scheme, colon, _ = name.partition(":")
        if colon and scheme in _SCHEMES:
            _SCHEMES[scheme](name)
        elif not colon and _JOINT is not None and _JOINT[0] in name:
            _JOINT[1](name)
    if name not in _REGISTRY:
        close = difflib.get_close_matches(str(name), list(_REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ParameterError(
            f"unknown backbone {name!r}; {hint}known backbones: {', '.join(list_backbones())} "
            "(or add yours with register_backbone)"
        )
    return _REGISTRY[name]


def create_backbone(name: str, *, pretrained: bool = True) -> nn.Module:
    """Build the backbone ``name``, with its pretrained weights if ``pretrained``.

    Weights are read from a locally installed file, never downloaded, and loaded strictly. A backbone
    without pretrained weights gets a fixed initialisation (seed :data:`FIXED_INIT_SEED`) when
    ``pretrained`` is True, so two runs, in any process, start from the same network.

    Returns
    -------
    nn.Module
        In eval mode, every parameter with ``requires_grad=True`` (freezing is the caller's choice),
        with ``config``, ``embedding_dim``, ``classifier``, ``forward_features``, ``stages`` and
        ``reset_classifier``.

    Raises
    ------
    ParameterError
        Unknown name, or the package holding the weights is not installed.
    ModelFileError
        The weights file is missing, unreadable, or does not fit the architecture.

    Examples
    --------
    >>> import torch
    >>> net = create_backbone("tinynet")
    >>> net.forward_features(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 16])
    """
    config = get_backbone_config(name)
    if not isinstance(pretrained, bool):
        raise ParameterError(f"pretrained={pretrained!r} must be True or False")
    if pretrained and config.weights_path is None:
        # fork_rng leaves the caller's random stream untouched by our fixed seed.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(FIXED_INIT_SEED)
            model = config.builder()
    else:
        model = config.builder()
    _check_interface(model, config)
    if pretrained and config.load_weights is not None:
        config.weights_path()  # raises, naming the package, when a part of the weights is missing
        config.load_weights(model)
    elif pretrained and config.weights_path is not None:
        _load_weights(model, config.weights_path(), name)
    model.config = config
    model.requires_grad_(True)
    return model.eval()


def _check_interface(model: object, config: BackboneConfig) -> None:
    missing = [member for member in _REQUIRED_MEMBERS if not hasattr(model, member)]
    if not isinstance(model, nn.Module) or missing:
        raise ParameterError(
            f"builder of backbone {config.name!r} must return an nn.Module with {', '.join(_REQUIRED_MEMBERS)}; "
            f"missing: {', '.join(missing) or 'nn.Module'}"
        )
    if model.embedding_dim != config.embedding_dim:
        raise ParameterError(
            f"backbone {config.name!r}: its module has embedding_dim={model.embedding_dim} but its config says "
            f"{config.embedding_dim}; make them agree"
        )


def _load_weights(model: nn.Module, path: str, name: str) -> None:
    try:
        if str(path).endswith((".safetensors", ".sigx")):  # .sigx: a sigxfer model file is safetensors
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            # weights_only: a weights file must never run code when read.
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise ModelFileError(
            f"weights file {path} of backbone {name!r} is missing: reinstall the package that provides it"
        ) from err
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise ModelFileError(
            f"weights file {path} of backbone {name!r} is not a readable state_dict ({type(err).__name__}): reinstall it"
        ) from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"weights file {path} of backbone {name!r} does not hold a state_dict of tensors")
    translate = getattr(model, "translate_state_dict", dict)
    try:
        model.load_state_dict(translate(state), strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0:2]
        raise ModelFileError(f"weights file {path} does not fit backbone {name!r}: {' '.join(first)}") from err
