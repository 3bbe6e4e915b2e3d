"""Deployment commands: ``predict`` (windows of recordings), ``export`` (ONNX), ``stream`` (live),
and ``demo stream``. Each parses, calls one public function of :mod:`sigxfer.deploy`, prints."""

from __future__ import annotations

import sys

from sigxfer.cli.options import add_quiet_option


def cmd_predict(args, echo=print) -> int:
    from sigxfer.deploy.predict import predict_files, write_predictions

    rows = predict_files(args.model, args.files, window=args.window, hop=args.hop, proba=args.proba, sr=args.sr,
                         batch_size=args.batch_size, progress=args.progress)
    errors = write_predictions(rows, args.output, format=args.format, overwrite=args.overwrite,
                               on_error=lambda row: print(f"sigxfer: error: {row['error']}", file=sys.stderr))
    if args.output:
        echo(f"wrote {args.output}")
    return 1 if errors else 0


def cmd_export(args, echo=print) -> int:
    from sigxfer.deploy.onnx import export_onnx

    path = export_onnx(args.model, args.output, embeddings=args.embeddings, overwrite=args.overwrite,
                       opset=args.opset)
    echo(f"wrote {path} (input 'signals'; run it with onnxruntime, see examples/onnx_predict.py)")
    return 0


def cmd_stream(args, echo=print) -> int:
    from sigxfer.deploy.stream import stream

    stream(args.model, args.source, hop=args.hop, smooth=args.smooth, threshold=args.threshold,
           background=args.background, json_lines=args.json_lines, timestamps=args.timestamps, realtime=args.realtime,
           speed=args.speed, poll=args.poll, idle_timeout=args.idle_timeout,
           echo=lambda text: print(text, flush=True))
    return 0


def cmd_demo_stream(args, echo=print) -> int:
    from sigxfer.deploy.stream_demo import run_stream_demo

    run_stream_demo(args.out, duration_s=args.duration_s, seed=args.seed, backbone=args.backbone,
                    n_per_class=args.n_per_class or 40, realtime=args.realtime, speed=args.speed,
                    overwrite=args.overwrite, progress=args.progress)
    return 0


def add_deploy_commands(sub) -> None:
    """``predict``, ``export`` and ``stream`` on the sub-command parser ``sub``."""
    p = sub.add_parser("predict", help="predict every window of recordings (files or folders) with a saved model")
    p.add_argument("model")
    p.add_argument("files", nargs="+", help="signal files and folders")
    p.add_argument("--window", type=float, default=None, metavar="S",
                   help="window in seconds (default: the model's input length)")
    p.add_argument("--hop", type=float, default=None, metavar="S", help="seconds between windows (default: --window)")
    p.add_argument("--proba", action="store_true", help="add a probability column per class")
    p.add_argument("--sr", type=float, default=None, help="sample rate of .csv/.npy files (default: the model's)")
    p.add_argument("--batch-size", type=int, default=None, help="windows per forward pass (default: the model's)")
    p.add_argument("--format", choices=["csv", "jsonl", "json"], default="csv")
    p.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    p.add_argument("--overwrite", action="store_true")
    add_quiet_option(p, default=None)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="write a saved model as ONNX that takes the raw signal")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write, e.g. model.onnx")
    p.add_argument("--embeddings", action="store_true", help="output backbone embeddings instead")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset, 14-20 (default: 17)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("stream", help="classify a live signal; print class events as they happen")
    p.add_argument("model")
    p.add_argument("--source", default="stdin", metavar="stdin|FILE|serial:PORT[@BAUD]|wav:FILE",
                   help="comma-separated samples on stdin or appended to FILE, a serial port, or a WAV file")
    p.add_argument("--hop", type=float, default=None, metavar="S", help="seconds between predictions")
    p.add_argument("--smooth", type=int, default=1, metavar="K", help="average the last K windows")
    p.add_argument("--threshold", type=float, default=None, metavar="P", help="least probability for a class to hold")
    p.add_argument("--background", default=None, metavar="CLASS", help="class that holds no events, e.g. idle")
    p.add_argument("--json", "--json-lines", dest="json_lines", action="store_true",
                   help="events, notices and the summary as JSON lines")
    p.add_argument("--timestamps", action="store_true", help="text sources: the first column is time in seconds")
    p.add_argument("--realtime", action="store_true", help="wav: play at real time (default: as fast as possible)")
    p.add_argument("--speed", type=float, default=1.0, help="wav: real-time factor with --realtime")
    p.add_argument("--poll", type=float, default=0.1, metavar="S", help="FILE: seconds between looks for new lines")
    p.add_argument("--idle-timeout", type=float, default=None, metavar="S",
                   help="FILE: stop after S seconds without new lines")
    p.set_defaults(func=cmd_stream)
