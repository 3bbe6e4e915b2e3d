"""Pretrained CNNs cut before their classifier: images ``(N, 3, H, W)`` -> embeddings ``(N, d)``.

``create_backbone(name)`` builds a registered network with its weights read from an installed
package, never downloaded. Built in: ``efficientnet_lite0``, ``lite1`` and ``lite2`` (their
weights packages are installed with sigxfer) and ``tinynet``, a tiny untrained network for tests. A user's own
network (TorchScript, ONNX, or a state_dict for a registered architecture) is added with
``register_file_backbone``, or named directly as ``backbone="file:PATH"``. Names joined by ``+``
(``"efficientnet_lite1+efficientnet_lite2"``) read each image with both networks, side by side.

Each network's module registers it when imported; this package imports them all, so importing
any part of :mod:`sigxfer.backbones` fills the registry.
"""

# Imported for their registrations: each module adds its networks (or its name scheme) itself.
from sigxfer.backbones import efficientnet_lite, joint, tiny  # noqa: F401
from sigxfer.backbones.calibration import reestimate_batchnorm
from sigxfer.backbones.external import register_file_backbone
from sigxfer.backbones.base import Backbone
from sigxfer.backbones.registry import (
    BackboneConfig,
    create_backbone,
    get_backbone_config,
    list_backbones,
    register_backbone,
    weights_available,
)

__all__ = [
    "Backbone",
    "BackboneConfig",
    "create_backbone",
    "get_backbone_config",
    "list_backbones",
    "register_backbone",
    "register_file_backbone",
    "reestimate_batchnorm",
    "weights_available",
]
