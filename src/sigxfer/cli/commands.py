"""The commands: each reads its options, calls one public function, and prints.

``echo`` is the CLI's own print, which speaks in options (see :mod:`sigxfer.cli.messages`); the
workflows report through it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sigxfer.cli.options import contender_params_from_args, imaging_from_args, strategy_from_args, views_from_args


def cmd_demo(args, echo=print) -> int:
    from sigxfer.demo import run_demo

    if args.kind == "stream":
        from sigxfer.cli.predict import cmd_demo_stream

        return cmd_demo_stream(args, echo)
    run_demo(args.out or "demo-output", n_per_class=args.n_per_class or 60, seed=args.seed,
             backbone=args.backbone, overwrite=args.overwrite, progress=args.progress, echo=echo)
    return 0


def cmd_synth(args, echo=print) -> int:
    from sigxfer.data import make_devices, make_digits, write_signals
    from sigxfer.data.synth import write_spectra

    if args.what == "spectra":
        table = write_spectra(args.out, n=args.n, kind=args.kind, n_points=args.n_points, seed=args.seed,
                              format=args.format, overwrite=args.overwrite)
        if args.kind == "both":
            echo(f"wrote {args.n} simulated and {args.n} experimental spectra ({args.format}) to {args.out}; "
                 f"train on --targets {table.parent / 'simulated.csv'}, "
                 f"evaluate on --targets {table.parent / 'experimental.csv'}")
        else:
            echo(f"wrote {args.n} {args.kind} spectra ({args.format}) to {args.out}; "
                 f"train with: sigxfer train {args.out} --targets {table}")
        return 0
    if args.what == "digits":
        signals = make_digits(args.n_per_class, sr=args.sr, duration=args.duration, seed=args.seed)
    else:
        signals = make_devices(args.n_per_class, n_timepoints=args.n_timepoints, sr=args.sr, seed=args.seed)
    out = write_signals(signals, args.out, format=args.format, overwrite=args.overwrite)
    echo(f"wrote {len(signals)} signals ({args.n_per_class} per class, {args.format}) to {out}")
    return 0


def cmd_train(args, echo=print) -> int:
    from sigxfer.workflows import train_and_report

    train_and_report(args.data, args.output, targets=args.targets, target=args.target, task=args.task,
                     sr=args.sr, length=args.length, imaging=views_from_args(args), backbone=args.backbone, init=args.init,
                     pretrained=args.pretrained, strategy=strategy_from_args(args), image_size=args.image_size,
                     channel_mode=args.channel_mode, batch_size=args.batch_size, engine=args.engine,
                     precision=args.precision, test_size=args.test_size,
                     stratify=args.stratify, random_state=args.random_state, progress=args.progress,
                     overwrite=args.overwrite, echo=echo)
    return 0


def cmd_evaluate(args, echo=print) -> int:
    from sigxfer.workflows import evaluate_model

    evaluate_model(args.model, args.data, targets=args.targets, target=args.target, sr=args.sr, cv=args.cv,
                   repeats=args.repeats, groups=args.groups, group_pattern=args.group_pattern,
                   random_state=args.random_state, json=args.json, overwrite=args.overwrite, echo=echo,
                   progress=args.progress)
    return 0


def cmd_compare(args, echo=print) -> int:
    from sigxfer.workflows import compare_data

    result = compare_data(args.data, output=args.output, test=args.test, targets=args.targets, target=args.target,
                          contenders=args.contenders, contender_params=contender_params_from_args(args.contender_param),
                          imaging=[imaging_from_args(args, item) for item in args.imaging or ["spectrogram"]],
                          sr=args.sr, length=args.length, backbone=args.backbone, image_size=args.image_size,
                          channel_mode=args.channel_mode, test_size=args.test_size, cv=args.cv,
                          repeats=args.repeats, groups=args.groups, group_pattern=args.group_pattern,
                          stratify=args.stratify, batch_size=args.batch_size, random_state=args.random_state, progress=args.progress,
                          overwrite=args.overwrite, echo=echo if args.progress else None)
    print(result.format_table())
    print(f"wrote {Path(args.output) / 'comparison.csv'} and comparison.json")
    return 0


def cmd_report(args, echo=print) -> int:
    from sigxfer.workflows import report_model

    command = "sigxfer " + " ".join(sys.argv[1:]) if sys.argv and Path(sys.argv[0]).name == "sigxfer" else None
    report_model(args.model, args.data, args.output, comparison=args.comparison, targets=args.targets,
                 target=args.target, sr=args.sr, per_class=args.per_class, max_gallery=args.max_gallery,
                 command=command, overwrite=args.overwrite, echo=echo, progress=args.progress)
    return 0


def cmd_render(args, echo=print) -> int:
    from sigxfer.imaging.resolve import ImagingSpec
    from sigxfer.workflows import render_signals

    imaging = imaging_from_args(args)
    paths, imager = render_signals(args.data, args.out, imaging=imaging, sr=args.sr,
                                   length=args.length, backbone=args.backbone, image_size=args.image_size,
                                   channel_mode=args.channel_mode, overwrite=args.overwrite, echo=echo)
    label = ImagingSpec(imaging.pop("name"), imaging).label
    print(f"wrote {len(paths)} {label} images to {args.out} (scale {imager.scale.tolist()})")
    return 0


def cmd_info(args, echo=print) -> int:
    from sigxfer.deploy import read_config
    from sigxfer.workflows import describe_model

    if args.json:
        json.dump(read_config(args.model), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(describe_model(args.model))
    return 0


def cmd_list(args, echo=print) -> int:
    from sigxfer.backbones import get_backbone_config, list_backbones
    from sigxfer.evaluation.compare import list_contenders
    from sigxfer.imaging import list_transforms
    from sigxfer.learning.strategies import list_strategies

    print("imagings:    " + ", ".join(list_transforms()))
    print("  (of the series' first difference with derivative=1, e.g. --imaging waveform:derivative=1)")
    print("strategies:  " + ", ".join(list_strategies()))
    print("contenders:  " + ", ".join(list_contenders()) + "  (sigxfer compare)")
    print("backbones:")
    for name in list_backbones():
        c = get_backbone_config(name)
        print(f"  {name:<20} {c.input_size}px  d={c.embedding_dim}  weights: {c.weights}")
    print("  (join two with '+', e.g. efficientnet_lite1+efficientnet_lite2: both read each image)")
    return 0
