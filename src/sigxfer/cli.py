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

# Imaging parameters the CLI exposes by name; others go through --imaging-param KEY=VALUE.
_IMAGING_OPTIONS = {
    "n_fft": int, "hop_length": int, "win_length": int, "window": str, "n_mels": int,
    "fmin": float, "fmax": float,
}


def _parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _imaging_items(args) -> list[str]:
    """The named imaging options and --imaging-param items, as KEY=VALUE strings."""
    named = [f"{k}={json.dumps(getattr(args, k))}" for k in _IMAGING_OPTIONS if getattr(args, k, None) is not None]
    return named + [item.replace("-", "_", item.find("=")) if "=" in item else item
                    for item in (args.imaging_param or [])]


def _imaging(args, text: str | None = None):
    """``--imaging NAME[:KEY=VALUE,...]`` with the other imaging options: the ``imaging=`` value."""
    from sigxfer.imaging.resolve import parse_imaging

    name, items = text or args.imaging, _imaging_items(args)
    if name is None and not items:
        return None  # the strategy's choice (imaging=None): a spectrogram, or auto's candidate views
    return parse_imaging(name or "spectrogram", items).to_config()


# Strategies that train the network and take --epochs, --unfreeze, --lr and --augment.
_TRAINED_STRATEGIES = ("finetune", "scratch", "auto")


def _strategy(args):
    """``--strategy`` as a name, or as a dict when training options were given."""
    from sigxfer.errors import ParameterError

    params = {k: getattr(args, k) for k in ("epochs", "unfreeze", "lr") if getattr(args, k, None) is not None}
    if params.get("unfreeze") not in (None, "all"):
        try:
            params["unfreeze"] = int(params["unfreeze"])
        except ValueError:
            raise ParameterError(f"--unfreeze {params['unfreeze']!r} must be 'all' or a number of stages") from None
    for item in getattr(args, "augment", None) or []:
        if "=" not in item:
            raise ParameterError(f"--augment {item!r} must look like KEY=VALUE, e.g. snr_db=20")
        key, value = item.split("=", 1)
        params.setdefault("augment", {})[key.strip().replace("-", "_")] = _parse_value(value)
    if not params:
        return args.strategy
    if args.strategy not in _TRAINED_STRATEGIES:
        options = ", ".join("--" + k for k in params)
        raise ParameterError(f"{options} apply to --strategy {', '.join(_TRAINED_STRATEGIES)}, not {args.strategy!r}")
    return {"name": args.strategy, **params}


def _add_strategy_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("learning")
    g.add_argument("--strategy", default="linear", help="linear, finetune, scratch or auto (default: linear)")
    g.add_argument("--epochs", type=int, default=None, help="epochs of training (finetune, scratch, auto)")
    g.add_argument("--unfreeze", default=None, metavar="all|K", help="finetune: train all stages or the last K")
    g.add_argument("--lr", type=float, default=None, help="peak learning rate of the head")
    g.add_argument("--augment", action="append", metavar="KEY=VALUE",
                   help="training augmentation, e.g. snr_db=20, time_shift=0.1, time_mask=0.1 (repeatable)")


def _add_imaging_options(p: argparse.ArgumentParser, default: str = "spectrogram", *, multiple: bool = False) -> None:
    from sigxfer.imaging import list_transforms

    g = p.add_argument_group("imaging")
    if multiple:
        g.add_argument("--imaging", action="append", default=None, metavar="NAME[:KEY=VALUE,...]",
                       help=f"an imaging to compare, repeatable: one of {', '.join(list_transforms())}, "
                            f"optionally with its own parameters, e.g. mel:n_mels=64 (default: {default})")
    else:
        g.add_argument("--imaging", default=default, metavar="NAME[:KEY=VALUE,...]",
                       help=f"one of {', '.join(list_transforms())}, optionally with parameters, "
                            f"e.g. mel:n_mels=64 (default: "
                            f"{default or 'the strategy chooses: spectrogram, or auto its candidate views'})")
    for name, typ in _IMAGING_OPTIONS.items():
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, metavar=name.upper())
    g.add_argument("--imaging-param", action="append", metavar="KEY=VALUE",
                   help="any other imaging parameter (repeatable), e.g. n_mels=64")
    g.add_argument("--channel-mode", default="auto", help="auto, grey, rgb, mean or tile")
    g.add_argument("--image-size", type=int, default=None, help="image side in pixels (default: the backbone's)")


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sr", type=float, default=None, help="sample rate in Hz for .csv/.npy (else sigxfer.json)")
    p.add_argument("--length", type=int, default=None,
                   help="crop or zero-pad every signal to this many samples (default: the longest)")


def _add_targets_options(p: argparse.ArgumentParser, *, task: bool) -> None:
    g = p.add_argument_group("regression (a table of numbers instead of class folders)")
    g.add_argument("--targets", default=None, metavar="CSV",
                   help="CSV of file,target rows, paths relative to its folder; the files must lie in DATA")
    g.add_argument("--target", default=None, metavar="COLUMN", help="target column to use (default: the second)")
    if task:
        g.add_argument("--task", choices=["classification", "regression"], default=None,
                       help="default: regression with --targets, else classification")


def _add_group_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("groups (keep windows or copies of one recording on one side of every split)")
    g.add_argument("--groups", default=None, metavar="CSV", help="CSV of case name (or file path), group")
    g.add_argument("--group-pattern", default=None, metavar="REGEX",
                   help="group = first capture group of REGEX in each case's path, e.g. '(.+)_win\\d+'")


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
    from sigxfer.estimators import TransferClassifier, TransferRegressor
    from sigxfer.evaluation import classification_summary, format_summary, regression_summary

    if Path(args.output).exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} exists; pass --overwrite or choose another -o")
    imaging = _imaging(args)  # a wrong name fails before any data is read
    task = _train_task(args)
    if task == "regression":
        signals = _load_targets_under(args.data, args.targets, sr=args.sr, length=args.length, target=args.target)
    else:
        signals = load_signals(args.data, sr=args.sr, length=args.length)
        signals.check_classification()
    estimator = TransferRegressor if task == "regression" else TransferClassifier
    model = estimator(imaging=imaging,
                      backbone=args.backbone, pretrained=not args.no_pretrained,
                      strategy=_strategy(args), image_size=args.image_size,
                      channel_mode=args.channel_mode, batch_size=args.batch_size,
                      random_state=args.seed, progress=not args.quiet)
    if args.test_size > 0:
        # Regression is not stratified: whole-number targets (ages, counts) are numbers, not classes.
        train, test = train_test_split_signals(signals, test_size=args.test_size, random_state=args.seed,
                                               stratify=task == "classification")
        model.fit(train)
        if task == "regression":
            summary = regression_summary(test.y, model.predict(test), names=test.names)
        else:
            proba = model.predict_proba(test)
            pred = model.classes_[np.argmax(proba, axis=1)]
            summary = classification_summary(test.y, pred, classes=model.classes_, proba=proba,
                                             names=test.names)
        model.metrics_ = {"test": summary, "test_size": args.test_size}
        print(format_summary(summary, title=f"held-out test ({len(test)} of {len(signals)} signals)"))
    else:
        model.fit(signals)
        print(f"trained on all {len(signals)} signals (no held-out test: --test-size 0)")
    save(model, args.output, overwrite=args.overwrite)
    print(f"saved {args.output}")
    return 0


def _train_task(args) -> str:
    """``--task``, or regression when ``--targets`` gives a table of numbers."""
    from sigxfer.errors import ParameterError

    task = args.task or ("regression" if args.targets else "classification")
    if task == "regression" and not args.targets:
        raise ParameterError("--task regression needs --targets CSV, a table of file,target rows")
    if task == "classification" and args.targets:
        raise ParameterError("--targets gives numbers to regress; drop --task classification (labels are class folders)")
    return task


def _load_targets_under(data: str, table: str, *, sr=None, length=None, target=None):
    """Signals and targets from ``table``; every file it lists must lie in the folder ``data``."""
    from sigxfer.data.targets import load_targets, read_targets_table
    from sigxfer.errors import DataError

    root = Path(data)
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; give the folder that holds the files {table} lists")
    files, columns, rows = read_targets_table(table)
    for path, (lineno, cells) in zip(files, rows):
        if not path.resolve().is_relative_to(root.resolve()):
            raise DataError(
                f"{table}: row {lineno} lists {cells[0]}, which is outside {root}; give the folder that "
                "holds every listed file as DATA, or fix the row"
            )
    signals = load_targets(table, sr=sr, length=length, target=target)
    if len(columns) > 2:
        print(f"target column {target or columns[1]!r} (of {', '.join(columns[1:])}; choose with --target)")
    return signals


def _load_data(spec: str, *, sr=None, length=None, split: str | None = None):
    """(train, test) from DATA: a folder of class folders (test None) or ``ucr:NAME`` (official splits)."""
    from sigxfer.data import load_signals

    if spec.startswith("ucr:"):
        from sigxfer.data.ucr import load_ucr

        train, test = load_ucr(spec[4:], split="train"), load_ucr(spec[4:], split="test")
        if sr is not None:
            train.sr = test.sr = float(sr)
        return train, test
    return load_signals(spec, sr=sr, length=length), None


def _concat(a, b):
    import numpy as np

    from sigxfer.data.signals import SignalSet

    return SignalSet(np.concatenate([a.X, b.X]), sr=a.sr, y=np.concatenate([a.y, b.y]), names=a.names + b.names)


def _groups(args, signals, root: str):
    """Group id per case from --groups CSV (case name/path, group) or --group-pattern REGEX, else None."""
    import re

    from sigxfer.errors import DataError

    if getattr(args, "groups", None) is None and getattr(args, "group_pattern", None) is None:
        return None
    rel = [str(Path(n).relative_to(root)) if Path(n).is_relative_to(root) else n for n in signals.names]
    if args.group_pattern is not None:
        try:
            pattern = re.compile(args.group_pattern)
        except re.error as err:
            raise SigxferError(f"--group-pattern {args.group_pattern!r} is not a regular expression ({err})") from None
        out = []
        for name in rel:
            match = pattern.search(name)
            if match is None:
                raise DataError(f"{name}: --group-pattern {args.group_pattern!r} does not match this case's name")
            out.append(match.group(1) if pattern.groups else match.group(0))
        return out
    with open(args.groups, newline="") as fh:
        table = [row for row in csv.reader(fh) if row and not row[0].startswith("#")]
    lookup = {}
    for row in table:
        if len(row) < 2:
            raise DataError(f"{args.groups}: line {row!r} needs two columns, case name and group")
        lookup[row[0].strip()] = row[1].strip()
    out = []
    for name, full in zip(rel, signals.names):
        for key in (name, full, Path(name).name, Path(name).stem):
            if key in lookup:
                out.append(lookup[key])
                break
        else:
            raise DataError(f"{name}: no group in {args.groups}; add a line '{name},GROUP'")
    return out


def _model_and_data(args, verb: str):
    """Load the model, then its data in the layout it was trained on (class folders or targets)."""
    from sigxfer.deploy import load

    model = load(args.model)
    if hasattr(model, "classes_") == bool(args.targets):
        raise SigxferError(f"{args.model} is a {type(model).__name__}: " + (
            f"it is {verb} on class folders; drop --targets" if args.targets
            else f"it is {verb} on a targets table; pass --targets CSV"))
    if args.targets:
        train, test = _load_targets_under(args.data, args.targets, sr=args.sr or model.sr_,
                                          length=model.n_timepoints_, target=args.target), None
    else:
        train, test = _load_data(args.data, sr=args.sr or model.sr_, length=model.n_timepoints_)
    return model, train, test


def _cmd_evaluate(args) -> int:
    from sigxfer.evaluation import classification_summary, format_summary, regression_summary

    model, train, test = _model_and_data(args, "evaluated")
    signals = test if test is not None else train
    if args.cv is not None:
        from sklearn.base import clone

        from sigxfer.evaluation.cv import cross_validate, format_cv

        if test is not None:
            signals = _concat(train, test)
        estimator = clone(model).set_params(progress=False)
        result = cross_validate(estimator, signals, cv=args.cv, repeats=args.repeats, random_state=args.seed,
                                groups=_groups(args, signals, args.data), echo=print)
        print(format_cv(result, title=f"{args.model}'s settings, refitted on folds of {args.data}"))
        summary = result
    elif hasattr(model, "classes_"):
        proba = model.predict_proba(signals)
        pred = model.classes_[proba.argmax(axis=1)]
        summary = classification_summary(signals.y, pred, classes=model.classes_, proba=proba, names=signals.names)
        print(format_summary(summary, title=f"{args.model} on {args.data}"))
    else:
        summary = regression_summary(signals.y, model.predict(signals), names=signals.names)
        print(format_summary(summary, title=f"{args.model} on {args.data}"))
    if args.json:
        from sigxfer.evaluation.io import write_json

        write_json(summary, args.json, overwrite=args.overwrite)
        print(f"wrote {args.json}")
    return 0


def _contender_params(items) -> dict:
    out: dict = {}
    for item in items or []:
        head, sep, value = item.partition("=")
        name, dot, key = head.partition(".")
        if not sep or not dot or not name or not key:
            raise SigxferError(f"--contender-param {item!r} must look like NAME.KEY=VALUE, e.g. finetune.epochs=5")
        out.setdefault(name.strip(), {})[key.strip().replace("-", "_")] = _parse_value(value)
    return out


def _cmd_compare(args) -> int:
    from sigxfer.evaluation.compare import check_output_dir, compare

    check_output_dir(args.output, overwrite=args.overwrite)  # before any loading or training
    imagings = [_imaging(args, item) for item in args.imaging or ["spectrogram"]]
    if args.targets:
        if args.test is not None:
            raise SigxferError("--targets with --test is not supported; split DATA with --test-size or --cv")
        train, test = _load_targets_under(args.data, args.targets, sr=args.sr, length=args.length,
                                          target=args.target), None
    else:
        train, test = _load_data(args.data, sr=args.sr, length=args.length)
    if args.test is not None:
        if test is not None:
            raise SigxferError("ucr: data comes with its official test split; drop --test")
        test, _ = _load_data(args.test, sr=args.sr or train.sr, length=train.n_timepoints)
    if args.cv is not None and test is not None:
        if args.test is not None:
            raise SigxferError("give either --test or --cv: cross-validation splits DATA itself")
        train, test = _concat(train, test), None  # ucr: data cross-validated on both official halves
    root = args.data if not args.data.startswith("ucr:") else ""
    result = compare(train, test, contenders=args.contenders, imaging=imagings, sr=args.sr, backbone=args.backbone,
                     image_size=args.image_size, channel_mode=args.channel_mode,
                     contender_params=_contender_params(args.contender_param), test_size=args.test_size,
                     cv=args.cv, repeats=args.repeats, groups=_groups(args, train, root),
                     batch_size=args.batch_size, random_state=args.seed, progress=not args.quiet,
                     out=args.output, overwrite=args.overwrite, echo=None if args.quiet else print)
    print(result.format_table())
    print(f"wrote {Path(args.output) / 'comparison.csv'} and comparison.json")
    return 0


def _cmd_report(args) -> int:
    from sigxfer.deploy import read_config
    from sigxfer.errors import OutputExistsError
    from sigxfer.evaluation.report import read_comparison, write_report

    if Path(args.output).exists() and not args.overwrite:
        raise OutputExistsError(f"{args.output} exists; pass --overwrite or choose another -o")
    model, train, test = _model_and_data(args, "reported")
    comparison = read_comparison(args.comparison) if args.comparison else None
    command = "sigxfer " + " ".join(sys.argv[1:]) if sys.argv and Path(sys.argv[0]).name == "sigxfer" else None
    write_report(model, test if test is not None else train, args.output, overwrite=args.overwrite,
                 comparison=comparison, config=read_config(args.model), data_name=args.data,
                 model_name=Path(args.model).name, per_class=args.per_class, max_gallery=args.max_gallery,
                 command=command)
    print(f"wrote {args.output}")
    return 0


def _cmd_predict(args) -> int:
    from sigxfer.data import load_files
    from sigxfer.deploy import load

    model = load(args.model)
    signals = load_files(args.files, sr=args.sr or model.sr_, length=model.n_timepoints_)
    if not hasattr(model, "classes_"):
        return _print_predictions(model, signals, args.format)
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


def _print_predictions(model, signals, fmt: str) -> int:
    """A regressor's predictions on stdout: CSV ``file,prediction`` (one column per target) or JSON."""
    pred = model.predict(signals)
    values = pred.reshape(len(pred), -1)
    columns = ["prediction"] if values.shape[1] == 1 else [f"prediction_{i}" for i in range(values.shape[1])]
    if fmt == "json":
        rows = [{"file": n, "prediction": row[0] if len(row) == 1 else row}
                for n, row in zip(signals.names, values.tolist())]
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["file", *columns])
        for n, row in zip(signals.names, values):
            writer.writerow([n, *[f"{v:.6g}" for v in row]])
    return 0


def _cmd_render(args) -> int:
    import numpy as np

    from sigxfer.backbones import get_backbone_config
    from sigxfer.data import load_signals
    from sigxfer.imaging.render import save_pictures
    from sigxfer.imaging.resolve import build_imager, resolve_imaging

    spec = resolve_imaging(_imaging(args))[0]
    signals = load_signals(args.data, sr=args.sr, length=args.length)
    config = get_backbone_config(args.backbone)
    imager = build_imager(spec, sr=signals.sr, n_timepoints=signals.n_timepoints,
                          size=args.image_size or config.input_size, channel_mode=args.channel_mode,
                          mean=config.mean, std=config.std, sr_flag="--sr").fit(signals.X)
    names = [str(Path(n).with_suffix("")) for n in signals.names]
    common = Path(*Path(names[0]).parts[:-2]) if len(Path(names[0]).parts) > 2 else None
    if common is not None:
        names = [str(Path(n).relative_to(common)) if Path(n).is_relative_to(common) else n for n in names]
    paths = save_pictures(imager, np.asarray(signals.X), names, args.out, overwrite=args.overwrite)
    print(f"wrote {len(paths)} {spec.label} images to {args.out} (scale {imager.scale.tolist()})")
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
    if test and "r2" in test:  # a regressor's held-out scores
        print(f"  test      R² {test['r2']:.3f}, MAE {test['mae']:.4g}, RMSE {test['rmse']:.4g} (n={test['n']})")
    elif test:
        lo, hi = test["accuracy_ci95"]
        print(f"  test      accuracy {test['accuracy']:.3f} (95% CI {lo:.3f}-{hi:.3f}, n={test['n']})")
    return 0


def _cmd_list(args) -> int:
    from sigxfer.backbones import get_backbone_config, list_backbones
    from sigxfer.imaging import list_transforms
    from sigxfer.learning.strategies import list_strategies

    print("imagings:    " + ", ".join(list_transforms()))
    print("strategies:  " + ", ".join(list_strategies()))
    from sigxfer.evaluation.compare import list_contenders

    print("contenders:  " + ", ".join(list_contenders()) + "  (sigxfer compare)")
    print("backbones:")
    for name in list_backbones():
        c = get_backbone_config(name)
        print(f"  {name:<20} {c.input_size}px  d={c.embedding_dim}  weights: {c.weights}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from sigxfer._version import __version__

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

    p = sub.add_parser("train", help="fit a classifier on class folders (or a regressor on --targets) and save it")
    p.add_argument("data", help="folder holding one folder of signals (.wav/.csv/.npy) per class "
                                "(with --targets: the folder holding the listed files)")
    p.add_argument("-o", "--output", required=True, help="model file to write (e.g. model.sigx)")
    _add_targets_options(p, task=True)
    _add_imaging_options(p, default=None)
    _add_input_options(p)
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--no-pretrained", action="store_true", help="random weights (the no-transfer baseline)")
    _add_strategy_options(p)
    p.add_argument("--test-size", type=float, default=0.25,
                   help="fraction held out to report honest metrics (0: train on everything)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="score a saved model on a labelled folder")
    p.add_argument("model")
    p.add_argument("data", help="folder of class folders, or ucr:NAME (its official test split)")
    p.add_argument("--sr", type=float, default=None)
    p.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    p.add_argument("--cv", type=int, default=None, metavar="K",
                   help="instead: refit the model's settings in K-fold cross-validation on DATA")
    p.add_argument("--repeats", type=int, default=1, help="repeats of --cv, each reshuffled (default: 1)")
    _add_group_options(p)
    _add_targets_options(p, task=False)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("compare", help="transfer against scratch, raw pixels, frozen features and MiniRocket")
    p.add_argument("data", help="folder of class folders, or ucr:NAME (official train/test split)")
    p.add_argument("-o", "--output", required=True, help="folder for comparison.csv and comparison.json")
    p.add_argument("--test", default=None, help="a separate labelled test folder (else DATA is split)")
    p.add_argument("--test-size", type=float, default=0.25, help="held-out fraction without --test or --cv")
    p.add_argument("--cv", type=int, default=None, metavar="K", help="repeated K-fold cross-validation instead")
    p.add_argument("--repeats", type=int, default=1, help="repeats of --cv (default: 1)")
    _add_group_options(p)
    p.add_argument("--contenders", default=None,
                   help="comma-separated (default: all available; see `sigxfer list`)")
    p.add_argument("--contender-param", action="append", metavar="NAME.KEY=VALUE",
                   help="a contender's own option, repeatable: finetune.epochs=5, finetune.image_size=128")
    _add_imaging_options(p, multiple=True)
    _add_input_options(p)
    _add_targets_options(p, task=False)
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace results already in the folder")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("report", help="one self-contained HTML report of a model on labelled data")
    p.add_argument("model")
    p.add_argument("data", help="labelled folder the model did not train on, or ucr:NAME (its test split)")
    p.add_argument("-o", "--output", required=True, help="HTML file to write, e.g. report.html")
    p.add_argument("--comparison", default=None, help="folder (or comparison.json) written by `sigxfer compare`")
    p.add_argument("--sr", type=float, default=None)
    p.add_argument("--per-class", type=int, default=4, help="example images per class")
    p.add_argument("--max-gallery", type=int, default=60, help="most misclassified cases shown with images")
    _add_targets_options(p, task=False)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("predict", help="predict files with a saved model (CSV or JSON on stdout)")
    p.add_argument("model")
    p.add_argument("files", nargs="+")
    p.add_argument("--sr", type=float, default=None)
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("render", help="write the images the network would see as PNG files")
    p.add_argument("data")
    p.add_argument("out")
    _add_imaging_options(p)
    _add_input_options(p)
    p.add_argument("--backbone", default="efficientnet_lite0", help="sets image size and normalisation")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser("info", help="show what a model file holds")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print the whole config as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("list", help="list imagings, strategies and backbones")
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
