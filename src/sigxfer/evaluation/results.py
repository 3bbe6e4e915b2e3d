"""The results of a comparison: one row per contender and imaging, as a table, CSV and JSON.

:class:`Comparison` is what :func:`sigxfer.evaluation.compare.compare` returns and what
``sigxfer compare -o DIR`` saves (``comparison.csv`` for a spreadsheet, ``comparison.json`` with
every detail); :func:`read_comparison` reads it back for the report.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from sigxfer.errors import DataError, OutputExistsError
from sigxfer.evaluation.io import to_csv_text, to_json_text
from sigxfer.evaluation.metrics import ESTIMATE_LABEL

#: Files ``Comparison.save`` writes into its folder.
RESULT_FILES = ("comparison.csv", "comparison.json")
#: The writer named in the manifest of a comparison folder.
OWNER = "compare"
CSV_COLUMNS = ["contender", "imaging", "metric", "score", "ci_low", "ci_high", "interval", "score_sd",
               "balanced_accuracy", "macro_f1", "roc_auc", "mae", "rmse", "fit_seconds", "predict_seconds",
               "predict_ms_per_case", "fit_cpu_seconds", "predict_cpu_seconds", "n_train", "n_test", "n_folds",
               "status"]
# Comparisons saved before the reference was recorded measured against this contender.
_DEFAULT_REFERENCE = "minirocket"


def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def imaging_text(row: dict) -> str:
    """How a row's imaging reads in a table: raw signal, the estimator's own, or the imaging's label.

    Examples
    --------
    >>> imaging_text({"imaging": "-"}), imaging_text({"imaging": ""}), imaging_text({"imaging": "mel"})
    ('raw signal', "estimator's own", 'mel')
    """
    imaging = row.get("imaging")
    if imaging == "-":
        return "raw signal"
    return imaging or "estimator's own"


@dataclasses.dataclass
class Comparison:
    """Results of :func:`~sigxfer.evaluation.compare.compare`.

    Attributes
    ----------
    rows : list of dict
        One per contender (and imaging): the columns of :data:`CSV_COLUMNS`, and
        ``training_cv`` (the mean over splits of the model's own cross-validation estimate from
        training) for contenders whose fitted models carry one.
    details : dict
        Per row key (``"linear/spectrogram"``; a caller's estimator: its label, with
        ``/imaging`` when it has one): the full summary (confusion matrix, per-class rates,
        misclassified cases) and, under cross-validation, the per-fold scores.
    config : dict
        Everything needed to rerun: data description, splits, settings, the caller's estimators
        and their parameters, the reference contender, versions, machine.

    Examples
    --------
    >>> rows = [{"contender": "linear", "imaging": "mel", "metric": "accuracy", "score": 0.9, "ci_low": 0.8,
    ...          "ci_high": 0.95, "interval": "wilson", "fit_seconds": 3.0, "predict_seconds": 0.1, "status": "ok"},
    ...         {"contender": "minirocket", "imaging": "-", "metric": "accuracy", "score": 0.85, "ci_low": 0.75,
    ...          "ci_high": 0.92, "interval": "wilson", "fit_seconds": 1.0, "predict_seconds": 0.2, "status": "ok"}]
    >>> result = Comparison(rows=rows, details={}, config={"reference": "minirocket"})
    >>> result.best()["contender"], round(result.difference(rows[0]), 3)
    ('linear', 0.05)
    """

    rows: list
    details: dict
    config: dict

    def to_dict(self) -> dict:
        """The comparison as plain values, as ``comparison.json`` holds it.

        Examples
        --------
        >>> Comparison(rows=[], details={}, config={}).to_dict()["format"]
        'sigxfer-comparison'
        """
        return {"format": "sigxfer-comparison", "format_version": 1, "config": self.config,
                "rows": self.rows, "details": self.details}

    @classmethod
    def from_dict(cls, data: dict) -> Comparison:
        """The comparison of :meth:`to_dict`'s values.

        Examples
        --------
        >>> Comparison.from_dict({"format": "sigxfer-comparison", "rows": []}).rows
        []
        """
        if not isinstance(data, dict) or data.get("format") != "sigxfer-comparison":
            raise DataError("this JSON is not a sigxfer comparison (written by `sigxfer compare`)")
        return cls(rows=data["rows"], details=data.get("details", {}), config=data.get("config", {}))

    @classmethod
    def read(cls, path) -> Comparison:
        """Read ``comparison.json`` (or the folder holding it).

        Examples
        --------
        >>> Comparison.read("results/cmp").format_table()  # doctest: +SKIP
        """
        path = Path(path)
        if path.is_dir():
            path = path / "comparison.json"
        if not path.exists():
            raise DataError(f"{path} does not exist; pass the folder written by `sigxfer compare -o DIR`")
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (ValueError, KeyError) as err:
            raise DataError(f"{path}: not a readable comparison ({err})") from None

    def to_csv(self) -> str:
        """The rows as CSV text with the columns of :data:`CSV_COLUMNS`.

        Examples
        --------
        >>> Comparison(rows=[], details={}, config={}).to_csv().split(",")[:3]
        ['contender', 'imaging', 'metric']
        """
        return to_csv_text(self.rows, CSV_COLUMNS)

    def best(self) -> dict:
        """The row with the highest score (accuracy and R² both grow with quality).

        Examples
        --------
        >>> Comparison(rows=[{"status": "ok", "score": 0.7}, {"status": "ok", "score": 0.8}],
        ...            details={}, config={}).best()["score"]
        0.8
        """
        ok = [r for r in self.rows if r["status"] == "ok" and _finite(r["score"])]
        if not ok:
            raise DataError("no contender produced a score; see the status column")
        return max(ok, key=lambda r: r["score"])

    def reference(self) -> dict | None:
        """The row every other is measured against (MiniRocket's), when it ran and scored; else None.

        Examples
        --------
        >>> Comparison(rows=[{"contender": "minirocket", "status": "ok", "score": 0.8}], details={},
        ...            config={}).reference()["score"]
        0.8
        """
        name = self.config.get("reference", _DEFAULT_REFERENCE)
        return next((r for r in self.rows if r["contender"] == name and r["status"] == "ok"
                     and _finite(r.get("score"))), None)

    def difference(self, row: dict) -> float | None:
        """``row``'s score minus the reference's (positive: better than MiniRocket), or None.

        Examples
        --------
        >>> result = Comparison(rows=[{"contender": "minirocket", "status": "ok", "score": 0.8}], details={},
        ...                     config={})
        >>> round(result.difference({"status": "ok", "score": 0.9}), 3)
        0.1
        """
        ref = self.reference()
        if ref is None or row.get("status") != "ok" or not _finite(row.get("score")):
            return None
        return row["score"] - ref["score"]

    def format_table(self) -> str:
        """The comparison as an aligned text table.

        Columns: contender, imaging, score (± sd of the folds under cross-validation), 95%
        interval, the difference to MiniRocket when it ran, the models' own cross-validation
        estimate from training when any carries one, fit and predict seconds.

        Examples
        --------
        >>> rows = [{"contender": "pixels-nb", "imaging": "spectrum", "metric": "accuracy", "score": 0.75,
        ...          "ci_low": 0.5, "ci_high": 0.9, "interval": "wilson", "fit_seconds": 0.4,
        ...          "predict_seconds": 0.05, "status": "ok"}]
        >>> print(Comparison(rows=rows, details={}, config={}).format_table())
        contender  imaging   accuracy  95% CI       fit s  predict s
        pixels-nb  spectrum  0.750     0.500-0.900    0.4       0.05
        (; interval: wilson)
        """
        cv = self.config.get("splits", {}).get("mode") == "cv"
        metric = self.rows[0]["metric"] if self.rows else "score"
        ref = self.reference()
        estimates = any(_finite(r.get("training_cv")) for r in self.rows)
        head = [("contender", "<"), ("imaging", "<"), (metric, "<"), ("95% CI", "<")]
        if ref is not None:
            head.append((f"vs {ref['contender']}", ">"))
        if estimates:
            head.append((ESTIMATE_LABEL, ">"))
        head += [("fit s", ">"), ("predict s", ">")]
        table = []
        for r in self.rows:
            if r["status"] != "ok":
                table.append([r["contender"], imaging_text(r), r["status"]] + [""] * (len(head) - 3))
                continue
            score = f"{r['score']:.3f}" + (f" ± {r['score_sd']:.3f}" if cv and _finite(r.get("score_sd")) else "")
            ci = (f"{r['ci_low']:.3f}-{r['ci_high']:.3f}" if _finite(r.get("ci_low")) and _finite(r.get("ci_high"))
                  else "n/a")
            cells = [r["contender"], imaging_text(r), score, ci]
            if ref is not None:
                cells.append("bar" if r is ref else f"{self.difference(r):+.3f}")
            if estimates:
                cells.append(f"{r['training_cv']:.3f}" if _finite(r.get("training_cv")) else "")
            cells += [f"{r['fit_seconds']:.1f}", f"{r['predict_seconds']:.2f}"]
            table.append(cells)
        widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, (h, _) in enumerate(head)]

        def line(cells):
            return "  ".join(f"{c:{a}{w}}" for c, (_, a), w in zip(cells, head, widths)).rstrip()

        lines = [line([h for h, _ in head]), *(line(row) for row in table)]
        splits = self.config.get("splits", {})
        lines.append(f"({splits.get('description', '')}; interval: {self.rows[0]['interval'] if self.rows else ''})")
        return "\n".join(lines)

    def save(self, out, *, overwrite: bool = False) -> list[Path]:
        """Write ``comparison.csv`` and ``comparison.json`` into the folder ``out``, atomically.

        Raises
        ------
        OutputExistsError
            ``out`` is not empty and ``overwrite`` is False, or holds files that are not a
            comparison's (``overwrite`` replaces only an earlier comparison: see
            :func:`sigxfer._atomic.check_output`).

        Examples
        --------
        >>> paths = result.save("results/cmp")  # doctest: +SKIP
        """
        import shutil

        from sigxfer._atomic import install_folder, new_staging_folder

        out = check_output_dir(out, overwrite=overwrite)
        tmp = new_staging_folder(out)
        try:
            (tmp / RESULT_FILES[0]).write_text(self.to_csv(), encoding="utf-8")
            (tmp / RESULT_FILES[1]).write_text(to_json_text(self.to_dict()), encoding="utf-8")
            install_folder(tmp, out, owner=OWNER)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return [out / name for name in RESULT_FILES]


def check_output_dir(out, *, overwrite: bool = False) -> Path:
    """Refuse (before any work) a results folder that sigxfer may not write, by the project's one
    output rule (:func:`sigxfer._atomic.check_output`).

    Examples
    --------
    >>> check_output_dir("a-folder-that-does-not-exist-yet").name
    'a-folder-that-does-not-exist-yet'
    """
    from sigxfer._atomic import check_output

    out = Path(out)
    check_output(out, overwrite=overwrite, kind="folder", owner=OWNER)
    return out


def read_comparison(path) -> Comparison:
    """A saved comparison (folder or ``comparison.json``), e.g. for :func:`~sigxfer.evaluation.report.build_report`.

    Examples
    --------
    >>> read_comparison("results/cmp").best()["contender"]  # doctest: +SKIP
    'linear'
    """
    return Comparison.read(path)
