"""Several backbones read the same images side by side: ``"efficientnet_lite1+efficientnet_lite2"``.

A joint backbone runs each member on the image and concatenates what they give: the pooled
embeddings for the last layer, and at each stage the members' maps along channels, so
multi-depth features (``features="multi"``) and banded pooling work as for one network. The
head then reads both networks' features at once. Members must have the same chain of stages
with the same strides (EfficientNet-Lite1 and Lite2 do: 23 stages each; Lite0 has 18).

Any name with a ``+`` between registered backbone names is built on first use; the model file
stores the joint name, so loading rebuilds it the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import nn

from sigxfer.backbones.base import Backbone
from sigxfer.backbones.registry import (
    BackboneConfig,
    create_backbone,
    get_backbone_config,
    register_backbone,
    register_joint_resolver,
)
from sigxfer.errors import ParameterError

SEPARATOR = "+"


class JointBackbone(Backbone):
    """Members that read the same images; their features are concatenated, first member first.

    Parameters
    ----------
    members : sequence of nn.Module
        Built backbones (:func:`~sigxfer.backbones.create_backbone`) with the same number of stages.
        Their own classifiers and dropout are dropped: the joint's classifier reads all of them.
    names : sequence of str
        The members' registry names, for messages.
    drop_rate : float
        Dropout before the joint classifier.

    Examples
    --------
    >>> import torch
    >>> net = create_backbone("tinynet+tinynet")
    >>> net.forward_features(torch.zeros(2, 3, 32, 32)).shape, net.stage_channels()
    (torch.Size([2, 32]), [16, 32, 32])
    """

    sequential_stages = True  # stage i is every member's stage i; stage_features joins their maps

    def __init__(self, members: Sequence[nn.Module], names: Sequence[str], drop_rate: float = 0.2,
                 n_classes: int = 1000) -> None:
        members, names = list(members), [str(n) for n in names]
        if len(members) < 2 or len(members) != len(names):
            raise ParameterError(f"a joint backbone needs two or more members; got {names}")
        counts = [len(list(m.stages())) for m in members]
        if len(set(counts)) > 1 or not all(getattr(m, "sequential_stages", False) for m in members):
            listed = ", ".join(f"{n} has {c}" for n, c in zip(names, counts))
            raise ParameterError(
                f"backbones {' + '.join(names)} cannot be joined: members need the same chain of stages "
                f"({listed}); join networks of one family and depth, e.g. efficientnet_lite1+efficientnet_lite2"
            )
        super().__init__(sum(int(m.embedding_dim) for m in members), n_classes, drop_rate)
        for member in members:  # only the joint's classifier is used: no dead weights in model files
            member.classifier = nn.Identity()
            member.dropout = nn.Identity()
        self.members = nn.ModuleList(members)
        self.member_names = names

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, H, W)`` -> the members' embeddings side by side ``(N, embedding_dim)``."""
        self._check_images(x)
        return torch.cat([member.forward_features(x) for member in self.members], dim=1)

    def member_widths(self, taps: Sequence[int] | None = None) -> list[list[int]]:
        """Each member's share of a feature block, member by member: one list per tap of
        ``taps``, or one list for the last-layer embedding when ``taps`` is None.

        The columns of a joined block are the first member's, then the second's, so these widths
        cut it back into what each network gave (auto fits a head per member on them).

        Examples
        --------
        >>> create_backbone("tinynet+tinynet").member_widths([0, 2]), create_backbone("tinynet+tinynet").member_widths()
        ([[8, 8], [16, 16]], [[16, 16]])
        """
        if taps is None:
            return [[int(m.embedding_dim) for m in self.members]]
        channels = [m.stage_channels() for m in self.members]
        return [[int(c[t]) for c in channels] for t in taps]

    def stages(self) -> list[nn.Module]:
        """Stage i of every member, as one module per index (for unfreezing the last few)."""
        return [nn.ModuleList(group) for group in zip(*(member.stages() for member in self.members))]

    def stage_features(self, x: torch.Tensor, stages: list[int] | None = None) -> list[torch.Tensor]:
        """Each member's maps after ``stages``, joined along channels index by index."""
        self._check_images(x)
        parts = [member.stage_features(x, stages) for member in self.members]
        joined = []
        for group in zip(*parts):
            shapes = set() if torch.jit.is_tracing() else {tuple(int(d) for d in m.shape[2:]) for m in group}
            if len(shapes) > 1:
                raise ParameterError(
                    f"backbones {' + '.join(self.member_names)} give maps of different sizes {sorted(shapes)} "
                    "at one stage; join networks with the same strides"
                )
            joined.append(torch.cat(group, dim=1))
        return joined


def split_name(name: str) -> list[str]:
    """The member names of a joint name (``"a+b"`` -> ``["a", "b"]``).

    Examples
    --------
    >>> split_name("efficientnet_lite1+efficientnet_lite2")
    ['efficientnet_lite1', 'efficientnet_lite2']
    """
    parts = [part.strip() for part in str(name).split(SEPARATOR)]
    if len(parts) < 2 or not all(parts):
        raise ParameterError(f"backbone {name!r}: a joint name lists two or more backbones joined by '+'")
    return parts


def _weights_paths(configs: Sequence[BackboneConfig]) -> str:
    # Raises the member's own ParameterError when its weights package is missing.
    return " + ".join(config.weights_path() for config in configs if config.weights_path is not None)


def _load_members(names: Sequence[str], model: JointBackbone) -> None:
    for name, member in zip(names, model.members):
        loaded = create_backbone(name, pretrained=True)
        state = {k: v for k, v in loaded.state_dict().items() if not k.startswith(("classifier.", "dropout."))}
        member.load_state_dict(state, strict=True)


def _build(names: Sequence[str], drop_rate: float) -> JointBackbone:
    return JointBackbone([create_backbone(n, pretrained=False) for n in names], names, drop_rate=drop_rate)


def resolve(name: str) -> BackboneConfig:
    """Register the joint backbone ``name`` (members joined by ``+``) and return its config."""
    names = split_name(name)
    configs = [get_backbone_config(n) for n in names]
    for config in configs[1:]:
        if config.mean != configs[0].mean or config.std != configs[0].std:
            raise ParameterError(
                f"backbones {' + '.join(names)} cannot be joined: {config.name} normalises images "
                f"differently from {configs[0].name}; they read one image"
            )
    if not all(config.trainable for config in configs):
        raise ParameterError(f"backbone {name!r}: join networks sigxfer can build ({', '.join(names)} "
                             "include a frozen file); join registered architectures instead")
    with_weights = any(config.weights_path is not None for config in configs)
    config = BackboneConfig(
        name=name,
        input_size=max(config.input_size for config in configs),
        mean=configs[0].mean,
        std=configs[0].std,
        embedding_dim=sum(config.embedding_dim for config in configs),
        weights=" + ".join(config.weights for config in configs),
        licence=" + ".join(dict.fromkeys(config.licence for config in configs)),
        classifier="classifier",
        builder=partial(_build, names, 0.2),
        weights_path=partial(_weights_paths, configs) if with_weights else None,
        load_weights=partial(_load_members, names) if with_weights else None,
    )
    _build(names, 0.2)  # refuses members that cannot be joined before the name is registered
    register_backbone(config, overwrite=True)
    return config


register_joint_resolver(SEPARATOR, resolve)
