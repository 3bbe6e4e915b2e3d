"""Pretrained CNNs cut before their classifier: images ``(N, 3, H, W)`` -> embeddings ``(N, d)``.

``create_backbone(name)`` builds a registered network with its weights read from an installed
package, never downloaded. Built in: ``efficientnet_lite0`` (``lite1``, ``lite2`` with the
``sigxfer[lite]`` extra) and ``tinynet``, a tiny untrained network for tests. A user's own
network (TorchScript, ONNX, or a state_dict for a registered architecture) is added with
``register_file_backbone``, or named directly as ``backbone="file:PATH"``.
"""

from sigxfer.backbones.calibration import reestimate_batchnorm
from sigxfer.backbones.efficientnet_lite import LITE_CONFIGS
from sigxfer.backbones.external import register_file_backbone
from sigxfer.backbones.registry import (
    Backbone,
    BackboneConfig,
    create_backbone,
    get_backbone_config,
    list_backbones,
    register_backbone,
)
from sigxfer.backbones.tiny import TINYNET_CONFIG

for _config in (*LITE_CONFIGS, TINYNET_CONFIG):
    register_backbone(_config, overwrite=True)  # overwrite: importlib.reload must not fail
del _config

__all__ = [
    "Backbone",
    "BackboneConfig",
    "create_backbone",
    "get_backbone_config",
    "list_backbones",
    "register_backbone",
    "register_file_backbone",
    "reestimate_batchnorm",
]
