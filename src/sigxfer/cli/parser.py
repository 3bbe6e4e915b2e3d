"""The ``sigxfer`` argument parser: one sub-command per public call, options named as its parameters."""

from __future__ import annotations

import argparse

from sigxfer.cli import commands
from sigxfer.cli.options import (
    add_group_options,
    add_imaging_options,
    add_input_options,
    add_output_options,
    add_quiet_option,
    add_run_options,
    add_strategy_options,
    add_stratify_option,
    add_targets_options,
)
from sigxfer.cli.predict import add_deploy_commands

_BACKBONE = "efficientnet_lite0"


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``sigxfer`` command; each sets ``func(args, echo) -> exit status``."""
    from sigxfer._version import __version__

    parser = argparse.ArgumentParser(prog="sigxfer", description="Transfer learning for signals.")
    parser.add_argument("--version", action="version", version=f"sigxfer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="synthesise device signals, train, evaluate, save, predict "
                                     "(`demo stream`: count gestures in a live accelerometer stream)")
    p.add_argument("kind", nargs="?", choices=["devices", "stream"], default="devices",
                   help="devices (default): seed 000's device signals; stream: live gesture counting")
    p.add_argument("--out", default=None,
                   help="output folder (default: demo-output; `demo stream` writes nothing without it)")
    p.add_argument("--n-per-class", type=int, default=None, help="signals per class (default: 60; stream: 40)")
    p.add_argument("--duration", "--duration-s", dest="duration_s", type=float, default=120.0,
                   help="stream: seconds of signal (default: 120)")
    p.add_argument("--realtime", action="store_true", help="stream: play the signal at real time")
    p.add_argument("--speed", type=float, default=1.0, help="stream: real-time factor with --realtime")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", default=_BACKBONE)
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier demo's output in the folder (never other files)")
    p.add_argument("-q", "--quiet", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=commands.cmd_demo)

    p = sub.add_parser("synth", help="write synthetic signals, one file per signal (devices, spectra, digits)")
    what = p.add_subparsers(dest="what", required=True, metavar="KIND")
    q = what.add_parser("devices", help="seed 000's device signals: class folders low/ and high/")
    q.add_argument("out", help="output folder (must not exist or be empty)")
    q.add_argument("--n-per-class", type=int, default=50)
    q.add_argument("--n-timepoints", type=int, default=1024)
    q.add_argument("--sr", type=float, default=1024.0)
    q.add_argument("--seed", type=int, default=None)
    q.add_argument("--format", choices=["npy", "csv"], default="npy")
    q.add_argument("--overwrite", action="store_true")
    q = what.add_parser("spectra", help="absorption spectra and targets.csv of their disorder (regression)")
    q.add_argument("out", help="output folder (must not exist or be empty)")
    q.add_argument("--n", type=int, default=200, help="spectra of each kind (default: 200)")
    q.add_argument("--kind", choices=["simulated", "experimental", "both"], default="simulated",
                   help="both: also simulated.csv and experimental.csv, to train on one and evaluate on the other")
    q.add_argument("--n-points", type=int, default=512)
    q.add_argument("--seed", type=int, default=None)
    q.add_argument("--format", choices=["npy", "csv"], default="npy")
    q.add_argument("--overwrite", action="store_true")
    q = what.add_parser("digits", help="spoken-digit-like clips: class folders zero/ ... nine/ of wav files")
    q.add_argument("out", help="output folder (must not exist or be empty)")
    q.add_argument("--n-per-class", type=int, default=20)
    q.add_argument("--sr", type=float, default=8000.0)
    q.add_argument("--duration", type=float, default=1.0, help="seconds per clip")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--format", choices=["wav", "npy"], default="wav")
    q.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=commands.cmd_synth)

    p = sub.add_parser("train", help="fit a classifier on class folders (or a regressor on --targets) and save it")
    p.add_argument("data", help="folder holding one folder of signals (.wav/.csv/.npy) per class "
                                "(with --targets: the folder holding the listed files), or ucr:NAME[:train|test]")
    add_output_options(p, help="model file to write (e.g. model.sigx)", overwrite_help="replace an existing model file")
    add_targets_options(p, task=True)
    add_imaging_options(p, views=True)
    add_input_options(p)
    p.add_argument("--backbone", default=None,
                   help=f"default: {_BACKBONE}; with --strategy auto, Lite1+Lite2 joined, else the largest "
                        "EfficientNet-Lite its time budget allows")
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false",
                   help="random weights (the no-transfer baseline)")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from this model file (its imaging and fitted scale, weights, head) instead of "
                        "ImageNet: a later stage, e.g. simulation -> real; the file records every stage")
    add_strategy_options(p)
    p.add_argument("--test-size", type=float, default=0.25,
                   help="fraction held out to report honest metrics (0: train on everything)")
    add_stratify_option(p)
    p.add_argument("--batch-size", type=int, default=None,
                   help="signals per pass (default: the engine calibration's choice; 32 for training)")
    p.add_argument("--engine", choices=("auto", "torch", "compile", "onnxruntime"), default="auto",
                   help="what runs the frozen passes (default auto: the fastest measured within tolerance)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="of the frozen passes (default auto: bf16 only where the CPU has bf16 units and "
                        "the features stay within cosine 0.999)")
    add_run_options(p)
    p.set_defaults(func=commands.cmd_train)

    p = sub.add_parser("evaluate", help="score a saved model on a labelled folder")
    p.add_argument("model")
    p.add_argument("data", help="folder of class folders, or ucr:NAME (its official test split)")
    add_input_options(p, length=False)
    p.add_argument("--json", default=None, help="also write the metrics to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--cv", type=int, default=None, metavar="K",
                   help="instead: refit the model's settings in K-fold cross-validation on DATA")
    p.add_argument("--repeats", type=int, default=1, help="repeats of --cv, each reshuffled (default: 1)")
    add_group_options(p)
    add_targets_options(p, task=False)
    add_run_options(p, progress=None)  # without -q: the model's own setting
    p.set_defaults(func=commands.cmd_evaluate)

    p = sub.add_parser("compare", help="transfer against scratch, raw pixels, frozen features and MiniRocket")
    p.add_argument("data", help="folder of class folders, or ucr:NAME (official train/test split)")
    add_output_options(p, help="folder for comparison.csv and comparison.json",
                       overwrite_help="replace an earlier comparison in the folder (never other files)")
    p.add_argument("--test", default=None, help="a separate labelled test folder (else DATA is split)")
    p.add_argument("--test-size", type=float, default=0.25, help="held-out fraction without --test or --cv")
    p.add_argument("--cv", type=int, default=None, metavar="K", help="repeated K-fold cross-validation instead")
    p.add_argument("--repeats", type=int, default=1, help="repeats of --cv (default: 1)")
    add_group_options(p)
    add_stratify_option(p)
    p.add_argument("--contenders", default=None,
                   help="comma-separated (default: all available; see `sigxfer list`)")
    p.add_argument("--contender-param", action="append", metavar="NAME.KEY=VALUE",
                   help="a contender's own option, repeatable: finetune.epochs=5, finetune.image_size=128")
    add_imaging_options(p, multiple=True)
    add_input_options(p)
    add_targets_options(p, task=False)
    p.add_argument("--backbone", default=_BACKBONE)
    p.add_argument("--batch-size", type=int, default=32)
    add_run_options(p)
    p.set_defaults(func=commands.cmd_compare)

    p = sub.add_parser("report", help="one self-contained HTML report of a model on labelled data")
    p.add_argument("model")
    p.add_argument("data", help="labelled folder the model did not train on, or ucr:NAME (its test split)")
    add_output_options(p, help="HTML file to write, e.g. report.html", overwrite_help="replace an existing file")
    p.add_argument("--comparison", default=None, help="folder (or comparison.json) written by `sigxfer compare`")
    add_input_options(p, length=False)
    p.add_argument("--per-class", type=int, default=4, help="example images per class")
    p.add_argument("--max-gallery", type=int, default=60, help="most misclassified cases shown with images")
    add_targets_options(p, task=False)
    add_quiet_option(p, default=None)
    p.set_defaults(func=commands.cmd_report)

    add_deploy_commands(sub)

    p = sub.add_parser("render", help="write the images the network would see as PNG files")
    p.add_argument("data", help="folder of class folders, or ucr:NAME")
    p.add_argument("out", help="folder for the pictures: new, empty, or an earlier render's (with --overwrite)")
    add_imaging_options(p)
    add_input_options(p)
    p.add_argument("--backbone", default=_BACKBONE, help="sets image size and normalisation")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the pictures of an earlier render in OUT (never other files)")
    p.set_defaults(func=commands.cmd_render)

    p = sub.add_parser("info", help="show what a model file holds")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print the whole config as JSON")
    p.set_defaults(func=commands.cmd_info)

    p = sub.add_parser("list", help="list imagings, strategies and backbones")
    p.set_defaults(func=commands.cmd_list)
    return parser
