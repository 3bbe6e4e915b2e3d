"""Command-line interface: one command per public call, options named as the API's parameters.

Every error sigxfer can explain is printed as one line (``sigxfer: error: ...``) with exit status 1;
usage errors exit with 2, as argparse does.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from sigxfer.errors import SigxferError

# Transform parameters the CLI exposes by name; others go through --transform-param KEY=VALUE.
_TRANSFORM_OPTIONS = {
    "n_fft": int, "hop_length": int, "win_length": int, "window": str, "n_mels": int,
    "fmin": float, "fmax": float,
}


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _transform_params(args) -> dict:
    params = {k: getattr(args, k) for k in _TRANSFORM_OPTIONS if getattr(args, k, None) is not None}
    for item in args.transform_param or []:
        if "=" not in item:
            raise SigxferError(f"--transform-param {item!r} must look like KEY=VALUE, e.g. n_mels=64")
        key, value = item.split("=", 1)
        params[key.strip().replace("-", "_")] = _parse_value(value)
    return params


def _check_transform(name: str) -> None:
    """Fail before reading any data when the transform name is wrong."""
    from sigxfer.errors import ParameterError
    from sigxfer.imaging import list_transforms

    if name not in list_transforms():
        raise ParameterError(f"--transform {name!r} is not known; use one of {', '.join(list_transforms())}")


def _add_transform_options(p: argparse.ArgumentParser, default: str = "spectrogram") -> None:
    from sigxfer.imaging import list_transforms

    g = p.add_argument_group("imaging")
    g.add_argument("--transform", default=default, help=f"one of {', '.join(list_transforms())} (default: {default})")
    for name, typ in _TRANSFORM_OPTIONS.items():
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, metavar=name.upper())
    g.add_argument("--transform-param", action="append", metavar="KEY=VALUE",
                   help="any other transform parameter (repeatable)")
    g.add_argument("--channel-mode", default="auto", help="auto, grey, rgb, mean or tile")
    g.add_argument("--image-size", type=int, default=None, help="image side in pixels (default: the backbone's)")


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sr", type=float, default=None, help="sample rate in Hz for .csv/.npy (else sigxfer.json)")
    p.add_argument("--length", type=int, default=None,
                   help="crop or zero-pad every signal to this many samples (default: the longest)")


def _cmd_demo(args) -> int:
    from sigxfer.demo import run_demo

    run_demo(args.out, n_per_class=args.n_per_class, seed=args.seed, backbone=args.backbone,
             overwrite=args.overwrite, progress=not args.quiet)
    return 0


def _cmd_synth(args) -> int:
    from sigxfer.data import make_devices, write_signals

    signals = make_devices(args.n_per_class, n_timepoints=args.n_timepoints, sr=args.sr, seed=args.seed)
    out = write_signals(signals, args.out, format=args.format, overwrite=args.overwrite)
    print(f"wrote {len(signals)} signals ({args.n_per_class} per class, {args.format}) to {out}")
    return 0


def _cmd_train(args) -> int:
    import numpy as np

    from sigxfer.data import load_signals, train_test_split_signals
    from sigxfer.deploy import save
    from sigxfer.errors import OutputExistsError
    from sigxfer.estimators import TransferClassifier
    from sigxfer.evaluation import classification_summary, format_summary

    if Path(args.output).exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} exists; pass --overwrite or choose another -o")
    _check_transform(args.transform)
    signals = load_signals(args.data, sr=args.sr, length=args.length)
    signals.check_classification()
    model = TransferClassifier(transform=args.transform, transform_params=_transform_params(args),
                               backbone=args.backbone, pretrained=not args.no_pretrained,
                               strategy=args.strategy, image_size=args.image_size,
                               channel_mode=args.channel_mode, batch_size=args.batch_size,
                               random_state=args.seed, progress=not args.quiet)
    if args.test_size > 0:
        train, test = train_test_split_signals(signals, test_size=args.test_size, random_state=args.seed)
        model.fit(train)
        proba = model.predict_proba(test)
        pred = model.classes_[np.argmax(proba, axis=1)]
        summary = classification_summary(test.y, pred, classes=model.classes_, proba=proba, names=test.names)
        model.metrics_ = {"test": summary, "test_size": args.test_size}
        print(format_summary(summary, title=f"held-out test ({len(test)} of {len(signals)} signals)"))
    else:
        model.fit(signals)
        print(f"trained on all {len(signals)} signals (no held-out test: --test-size 0)")
    save(model, args.output, overwrite=args.overwrite)
    print(f"saved {args.output}")
    return 0


def _cmd_evaluate(args) -> int:
    from sigxfer.data import load_signals
    from sigxfer.deploy import load
    from sigxfer.evaluation import classification_summary, format_summary

    model = load(args.model)
    signals = load_signals(args.data, sr=args.sr or model.sr_, length=model.n_timepoints_)
    proba = model.predict_proba(signals)
    pred = model.classes_[proba.argmax(axis=1)]
    summary = classification_summary(signals.y, pred, classes=model.classes_, proba=proba, names=signals.names)
    print(format_summary(summary, title=f"{args.model} on {args.data}"))
    if args.json:
        from sigxfer.evaluation.io import write_json

        write_json(summary, args.json, overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0


def _cmd_predict(args) -> int:
    from sigxfer.data import load_files
    from sigxfer.deploy import load

    model = load(args.model)
    signals = load_files(args.files, sr=args.sr or model.sr_, length=model.n_timepoints_)
    proba = model.predict_proba(signals)
    classes = [str(c) for c in model.classes_]
    pred = [classes[i] for i in proba.argmax(axis=1)]
    if args.format == "json":
        rows = [{"file": n, "predicted": p, "probability": dict(zip(classes, map(float, row)))}
                for n, p, row in zip(signals.names, pred, proba)]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["file", "predicted", *[f"p_{c}" for c in classes]])
        for n, p, row in zip(signals.names, pred, proba):
            writer.writerow([n, p, *[f"{v:.6f}" for v in row]])
    return 0


def _cmd_render(args) -> int:
    import numpy as np

    from sigxfer.backbones import get_backbone_config
    from sigxfer.data import load_signals
    from sigxfer.imaging import Imager
    from sigxfer.imaging.render import save_pictures

    _check_transform(args.transform)
    signals = load_signals(args.data, sr=args.sr, length=args.length)
    config = get_backbone_config(args.backbone)
    imager = Imager(args.transform, sr=signals.sr, size=args.image_size or config.input_size,
                    channel_mode=args.channel_mode, mean=config.mean, std=config.std,
                    **_transform_params(args)).fit(signals.X)
    names = [str(Path(n).with_suffix("")) for n in signals.names]
    common = Path(*Path(names[0]).parts[:-2]) if len(Path(names[0]).parts) > 2 else None
    if common is not None:
        names = [str(Path(n).relative_to(common)) if Path(n).is_relative_to(common) else n for n in names]
    paths = save_pictures(imager, np.asarray(signals.X), names, args.out, overwrite=args.overwrite)
    print(f"wrote {len(paths)} {args.transform} images to {args.out} (scale {imager.scale.tolist()})")
    return 0


def _cmd_info(args) -> int:
    from sigxfer.deploy import read_config

    config = read_config(args.model)
    if args.json:
        json.dump(config, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    im = config["imager"]
    print(f"{args.model}: {config['estimator']} written by sigxfer {config['sigxfer_version']} "
          f"on {config['created_utc']}")
    print(f"  input     {config['n_channels']} channel(s) x {config['n_timepoints']} samples, sr={config['sr']}")
    print(f"  imaging   {im['transform']} {im['params']} -> {im['size'][0]}x{im['size'][1]}, scale {im['scale']}")
    print(f"  backbone  {config['backbone']['name']} ({'ImageNet' if config['backbone']['pretrained'] else 'random init'})")
    print(f"  strategy  {config['strategy']}")
    if "classes" in config:
        print(f"  classes   {config['classes']}")
    test = (config.get("metrics") or {}).get("test")
    if test:
        lo, hi = test["accuracy_ci95"]
        print(f"  test      accuracy {test['accuracy']:.3f} (95% CI {lo:.3f}-{hi:.3f}, n={test['n']})")
    return 0


def _cmd_list(args) -> int:
    from sigxfer.backbones import get_backbone_config, list_backbones
    from sigxfer.imaging import list_transforms
    from sigxfer.learning.strategies import list_strategies

    print("transforms:  " + ", ".join(list_transforms()))
    print("strategies:  " + ", ".join(list_strategies()))
    print("backbones:")
    for name in list_backbones():
        c = get_backbone_config(name)
        print(f"  {name:<20} {c.input_size}px  d={c.embedding_dim}  weights: {c.weights}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from sigxfer import __version__

    parser = argparse.ArgumentParser(prog="sigxfer", description="Transfer learning for signals.")
    parser.add_argument("--version", action="version", version=f"sigxfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="synthesise device signals, train, evaluate, save, predict")
    p.add_argument("--out", default="demo-output", help="output folder (default: demo-output)")
    p.add_argument("--n-per-class", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("synth", help="write synthetic signals, one file per signal, a folder per class")
    p.add_argument("kind", choices=["devices"], help="what to synthesise (seed 000's device signals)")
    p.add_argument("out", help="output folder (must not exist or be empty)")
    p.add_argument("--n-per-class", type=int, default=50)
    p.add_argument("--n-timepoints", type=int, default=1024)
    p.add_argument("--sr", type=float, default=1024.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--format", choices=["npy", "csv"], default="npy")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("train", help="fit a classifier on a folder of class folders and save it")
    p.add_argument("data", help="folder holding one folder of signals (.wav/.csv/.npy) per class")
    p.add_argument("-o", "--output", required=True, help="model file to write (e.g. model.sigx)")
    _add_transform_options(p)
    _add_input_options(p)
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--no-pretrained", action="store_true", help="random weights (the no-transfer baseline)")
    p.add_argument("--strategy", default="linear")
    p.add_argument("--test-size", type=float, default=0.25,
                   help="fraction held out to report honest metrics (0: train on everything)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a saved model on a labelled folder")
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("--sr", type=float, default=None)
    p.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("predict", help="predict files with a saved model (CSV or JSON on stdout)")
    p.add_argument("model")
    p.add_argument("files", nargs="+")
    p.add_argument("--sr", type=float, default=None)
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("render", help="write the images the network would see as PNG files")
    p.add_argument("data")
    p.add_argument("out")
    _add_transform_options(p)
    _add_input_options(p)
    p.add_argument("--backbone", default="efficientnet_lite0", help="sets image size and normalisation")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser("info", help="show what a model file holds")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print the whole config as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("list", help="list transforms, strategies and backbones")
    p.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SigxferError as err:
        print(f"sigxfer: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sigxfer: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
