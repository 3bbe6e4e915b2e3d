"""What a model file holds and what a backbone starts from, in words: ``sigxfer info``."""

from __future__ import annotations

__all__ = ["describe_model", "describe_weights"]


def describe_weights(backbone: str, *, pretrained: bool = True) -> str:
    """A short label of the weights ``backbone`` starts from, read from its registered config.

    Parameters
    ----------
    backbone : str
        A registered backbone name (or ``file:PATH``).
    pretrained : bool
        Whether the model asked for the pretrained weights.

    Returns
    -------
    str
        ``"random init"`` without ``pretrained``; the source of the weights (``"ImageNet-1k"``,
        ``"onnx file net.onnx"``) from the config's ``weights`` field; or, for a backbone that
        has none, ``"fixed init, no pretrained weights"``.

    Examples
    --------
    >>> describe_weights("tinynet")
    'fixed init, no pretrained weights'
    >>> describe_weights("efficientnet_lite0", pretrained=False)
    'random init'
    """
    from sigxfer.backbones import get_backbone_config
    from sigxfer.errors import SigxferError

    if not pretrained:
        return "random init"
    try:
        weights = get_backbone_config(backbone).weights.strip()
    except SigxferError:  # a file backbone whose file is not here: its config cannot be read
        return "pretrained weights"
    if not weights or weights.lower().startswith("none"):
        return "fixed init, no pretrained weights"
    return weights.split(" (")[0]


def describe_model(path) -> str:
    """A few lines saying what the model file ``path`` holds: input, imaging, backbone, scores.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sigxfer.data import make_devices
    >>> from sigxfer.deploy import save
    >>> from sigxfer.estimators import TransferClassifier
    >>> model = TransferClassifier(backbone="tinynet", image_size=32).fit(make_devices(4, n_timepoints=128))
    >>> text = describe_model(save(model, Path(tempfile.mkdtemp()) / "m.sigx"))
    >>> "tinynet (fixed init, no pretrained weights)" in text
    True
    """
    from sigxfer.deploy import read_config

    config = read_config(path)
    im = config["imager"]
    lines = [
        f"{path}: {config['estimator']} written by sigxfer {config['sigxfer_version']} on {config['created_utc']}",
        f"  input     {config['n_channels']} channel(s) x {config['n_timepoints']} samples, sr={config['sr']}",
        *[f"  imaging   {v['transform']} {v['params']} -> {v['size'][0]}x{v['size'][1]}, scale {v['scale']}"
          for v in config.get("imagers") or [im]],
        f"  backbone  {config['backbone']['name']} "
        f"({describe_weights(config['backbone']['name'], pretrained=config['backbone']['pretrained'])})",
        f"  strategy  {config['strategy']}",
    ]
    shift = (config.get("network") or {}).get("shift") or 0
    if shift:
        lines.append(f"  shift     each series also read {shift:.0%} of its length later and earlier, "
                     "its features averaged over the three")
    power = (config.get("network") or {}).get("power", 1.0)
    if power != 1.0:
        lines.append(f"  power     features read through a signed power of {power:g}"
                     + (" (square root)" if power == 0.5 else ""))
    if "classes" in config:
        lines.append(f"  classes   {config['classes']}")
    test = (config.get("metrics") or {}).get("test")
    if test and "r2" in test:  # a regressor's held-out scores
        lines.append(f"  test      R² {test['r2']:.3f}, MAE {test['mae']:.4g}, RMSE {test['rmse']:.4g} (n={test['n']})")
    elif test:
        lo, hi = test["accuracy_ci95"]
        lines.append(f"  test      accuracy {test['accuracy']:.3f} (95% CI {lo:.3f}-{hi:.3f}, n={test['n']})")
    return "\n".join(lines)
