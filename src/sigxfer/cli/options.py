"""The option groups the commands share, and their reading into the API's parameter values.

An option's ``dest`` is the name of the Python parameter it mirrors (``--seed`` is
``random_state``, ``--no-pretrained`` is ``pretrained=False``, ``-q`` is ``progress=False``), so
:mod:`sigxfer.cli.messages` can name the option wherever the library names the parameter.
"""

from __future__ import annotations

import argparse
import json

from sigxfer.errors import ParameterError

# Imaging parameters the CLI exposes by name; others go through --imaging-param KEY=VALUE.
IMAGING_OPTIONS = {
    "n_fft": int, "hop_length": int, "win_length": int, "window": str, "n_mels": int,
    "fmin": float, "fmax": float,
}
# Strategies that train the network and take --epochs, --unfreeze, --lr and --augment.
TRAINED_STRATEGIES = ("finetune", "scratch", "auto")


def parse_value(text: str):
    """A command-line value as JSON where it parses (``5``, ``[-3, 3]``, ``true``), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def imaging_from_args(args, text: str | None = None) -> dict:
    """``--imaging NAME[:KEY=VALUE,...]`` with the other imaging options: the ``imaging=`` value."""
    from sigxfer.imaging.resolve import parse_imaging

    named = [f"{k}={json.dumps(getattr(args, k))}" for k in IMAGING_OPTIONS if getattr(args, k, None) is not None]
    extra = [item.replace("-", "_", item.find("=")) if "=" in item else item for item in (args.imaging_param or [])]
    return parse_imaging(text or args.imaging, named + extra).to_config()


def views_from_args(args):
    """``train``'s repeatable ``--imaging``: None (the strategy chooses), one imaging, or a list of
    views read by one head (a multi-view model)."""
    named = [k for k in IMAGING_OPTIONS if getattr(args, k, None) is not None]
    values = args.imaging or []
    if not values and not named and not args.imaging_param:
        return None
    views = [imaging_from_args(args, item) for item in values or ["spectrogram"]]
    return views[0] if len(views) == 1 else views


def parse_duration(text: str) -> float | None:
    """``--time-budget`` in seconds: ``600``, ``90s``, ``10m``, ``1.5h``; ``none`` for no limit.

    Examples
    --------
    >>> parse_duration("10m"), parse_duration("90s"), parse_duration("1.5h"), parse_duration("none")
    (600.0, 90.0, 5400.0, None)
    """
    value = text.strip().lower()
    if value in ("none", "inf", "unlimited"):
        return None
    unit = {"s": 1.0, "m": 60.0, "h": 3600.0}.get(value[-1:], None)
    try:
        seconds = float(value[:-1] if unit else value) * (unit or 1.0)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ParameterError(f"--time-budget {text!r} must be a positive duration such as 600, 90s, 10m or 1h, "
                             "or none")
    return seconds


def _pair(item: str, option: str, example: str) -> tuple[str, object]:
    """``KEY=VALUE`` of ``option`` as ``(key, value)``: the key with ``-`` as ``_``, the value by
    :func:`parse_value`; a pair without ``=`` or without a key is refused in the option's words."""
    key, sep, value = item.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise ParameterError(f"{option} {item!r} must look like KEY=VALUE, e.g. {example}")
    return key, parse_value(value)


def strategy_from_args(args):
    """``--strategy`` as a name, or as a dict when training options were given."""
    params = {k: getattr(args, k) for k in ("epochs", "unfreeze", "lr", "batchnorm") if getattr(args, k, None) is not None}
    budget = getattr(args, "time_budget", None)
    if budget is not None:
        if args.strategy != "auto":
            raise ParameterError(f"--time-budget applies to --strategy auto, not {args.strategy!r}")
        params["time_budget"] = parse_duration(budget)
    if params.get("unfreeze") not in (None, "all"):
        try:
            params["unfreeze"] = int(params["unfreeze"])
        except ValueError:
            raise ParameterError(f"--unfreeze {params['unfreeze']!r} must be 'all' or a number of stages") from None
    for item in getattr(args, "augment", None) or []:
        key, value = _pair(item, "--augment", "snr_db=20")
        params.setdefault("augment", {})[key] = value
    if params and args.strategy not in TRAINED_STRATEGIES:
        options = ", ".join("--" + k for k in params)
        raise ParameterError(f"{options} apply to --strategy {', '.join(TRAINED_STRATEGIES)}, not {args.strategy!r}")
    for item in getattr(args, "strategy_param", None) or []:
        key, value = _pair(item, "--strategy-param", "derivative=false")
        if key in params:
            raise ParameterError(f"--strategy-param gives {key} a second time; give it once")
        params[key] = value
    if not params:
        return args.strategy
    return {"name": args.strategy, **params}


def contender_params_from_args(items) -> dict:
    """``--contender-param NAME.KEY=VALUE`` items as ``contender_params={NAME: {KEY: VALUE}}``."""
    out: dict = {}
    for item in items or []:
        head, sep, value = item.partition("=")
        name, dot, key = head.partition(".")
        if not sep or not dot or not name or not key:
            raise ParameterError(f"--contender-param {item!r} must look like NAME.KEY=VALUE, e.g. finetune.epochs=5")
        out.setdefault(name.strip(), {})[key.strip().replace("-", "_")] = parse_value(value)
    return out


def add_imaging_options(p: argparse.ArgumentParser, default: str | None = "spectrogram", *, multiple: bool = False,
                        views: bool = False) -> None:
    from sigxfer.imaging import list_transforms

    g = p.add_argument_group("imaging")
    names = ", ".join(list_transforms())
    if views:
        g.add_argument("--imaging", action="append", default=None, metavar="NAME[:KEY=VALUE,...]",
                       help=f"one of {names}, optionally with parameters, e.g. mel:n_mels=64; repeat it for a "
                            "multi-view model (one head on every view's embedding). Default: the strategy "
                            "chooses (a spectrogram; auto: its candidate views)")
    elif multiple:
        g.add_argument("--imaging", action="append", default=None, metavar="NAME[:KEY=VALUE,...]",
                       help=f"an imaging to compare, repeatable: one of {names}, optionally with its own "
                            f"parameters, e.g. mel:n_mels=64 (default: {default})")
    else:
        g.add_argument("--imaging", default=default, metavar="NAME[:KEY=VALUE,...]",
                       help=f"one of {names}, optionally with parameters, e.g. mel:n_mels=64 (default: {default})")
    for name, typ in IMAGING_OPTIONS.items():
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, metavar=name.upper())
    g.add_argument("--imaging-param", action="append", metavar="KEY=VALUE",
                   help="any other imaging parameter (repeatable), e.g. n_mels=64")
    g.add_argument("--channel-mode", default="auto",
                   help="auto, grey, rgb, mean, tile, or groups (each group of three channels its own view)")
    g.add_argument("--image-size", type=int, default=None, help="image side in pixels (default: the backbone's)")


def add_strategy_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("learning")
    g.add_argument("--strategy", default="linear", help="linear, finetune, scratch or auto (default: linear)")
    g.add_argument("--time-budget", default=None, metavar="DURATION",
                   help="auto: seconds for the whole fit, e.g. 600, 90s, 10m, 1h or none (default: 10m)")
    g.add_argument("--epochs", type=int, default=None, help="epochs of training (finetune, scratch, auto)")
    g.add_argument("--unfreeze", default=None, metavar="all|K", help="finetune: train all stages or the last K")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate of the head")
    g.add_argument("--batchnorm", choices=("frozen", "train"), default=None,
                   help="finetune, auto: BatchNorm layers that learn keep the pretrained statistics (frozen, "
                        "the default) or take each batch's (train, as scratch does)")
    g.add_argument("--augment", action="append", metavar="KEY=VALUE",
                   help="training augmentation, e.g. snr_db=20, time_shift=0.1, time_mask=0.1 (repeatable)")
    g.add_argument("--strategy-param", action="append", metavar="KEY=VALUE",
                   help="any other parameter of the strategy (repeatable; values as JSON), e.g. "
                        "derivative=false or blend=true for auto, features=multi for linear")


def add_input_options(p: argparse.ArgumentParser, *, length: bool = True) -> None:
    p.add_argument("--sr", type=float, default=None, help="sample rate in Hz for .csv/.npy (else sigxfer.json)")
    if length:
        p.add_argument("--length", type=int, default=None,
                       help="crop or zero-pad every signal to this many samples (default: the longest)")


def add_targets_options(p: argparse.ArgumentParser, *, task: bool) -> None:
    g = p.add_argument_group("regression (a table of numbers instead of class folders)")
    g.add_argument("--targets", default=None, metavar="CSV",
                   help="CSV of file,target rows, paths relative to its folder; the files must lie in DATA")
    g.add_argument("--target", default=None, metavar="COLUMN", help="target column to use (default: the second)")
    if task:
        g.add_argument("--task", choices=["classification", "regression"], default=None,
                       help="default: regression with --targets, else classification")


def add_group_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("groups (keep windows or copies of one recording on one side of every split)")
    g.add_argument("--groups", default=None, metavar="CSV", help="CSV of case name (or file path), group")
    g.add_argument("--group-pattern", default=None, metavar="REGEX",
                   help="group = first capture group of REGEX in each case's path, e.g. '(.+)_win\\d+'")


def add_stratify_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-stratify", dest="stratify", action="store_false",
                   help="split at random instead of keeping the class proportions on every side")


def add_output_options(p: argparse.ArgumentParser, *, help: str, required: bool = True,
                       overwrite_help: str = "replace what sigxfer wrote there before") -> None:
    p.add_argument("-o", "--output", required=required, help=help)
    p.add_argument("--overwrite", action="store_true", help=overwrite_help)


def add_run_options(p: argparse.ArgumentParser, *, seed: int | None = 0, progress: bool | None = True) -> None:
    """``--seed`` (``random_state``) and ``-q`` (:func:`add_quiet_option`)."""
    p.add_argument("--seed", dest="random_state", type=int, default=seed, help=f"random seed (default: {seed})")
    add_quiet_option(p, default=progress)


def add_quiet_option(p: argparse.ArgumentParser, *, default: bool | None = True) -> None:
    """``-q`` (``progress=False``); ``default=None``: without it, a saved model's own setting."""
    p.add_argument("-q", "--quiet", dest="progress", action="store_false", default=default,
                   help="no progress bars" + (" (default: the model's setting)" if default is None else ""))
