"""``sigxfer predict``: a saved model's predictions of files, as CSV or JSON on standard output."""

from __future__ import annotations

import csv
import json
import sys


def cmd_predict(args, echo=print) -> int:
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
