"""sigxfer.evaluation metrics and cross-validation: known answers, scikit-learn agreement, error paths."""

import math

import numpy as np
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

from sigxfer import DataError, ParameterError, SignalSet, make_devices
from sigxfer.data.splits import cv_splits
from sigxfer.evaluation import classification_summary, format_summary, wilson_interval
from sigxfer.evaluation.baselines import PixelNaiveBayes
from sigxfer.evaluation.cv import corrected_interval, cross_validate, format_cv, summarize_folds, task_of
from sigxfer.evaluation.io import to_csv_text, write_json
from sigxfer.evaluation.metrics import regression_summary


# -- intervals -----------------------------------------------------------------------------------
def test_wilson_interval_known_values():
    lo, hi = wilson_interval(30, 30)
    assert hi == 1.0 and 0.88 < lo < 0.89  # 30/30 is not "1.0 ± 0"
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and 0.27 < hi < 0.28
    lo, hi = wilson_interval(93, 100)
    assert lo < 0.93 < hi and abs((hi - lo) / 2 - 0.05) < 0.01
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_corrected_interval_matches_the_formula():
    scores = np.array([0.8, 0.9, 0.85, 0.95, 0.75, 0.9])
    lo, hi = corrected_interval(scores, n_train=80, n_test=20)
    from scipy.stats import t

    half = t.ppf(0.975, 5) * math.sqrt((1 / 6 + 20 / 80) * scores.var(ddof=1))
    assert lo == pytest.approx(scores.mean() - half) and hi == pytest.approx(scores.mean() + half)
    naive = t.ppf(0.975, 5) * scores.std(ddof=1) / math.sqrt(6)
    assert hi - lo > 2 * naive  # the correction widens the naive interval
    assert all(math.isnan(v) for v in corrected_interval([0.9], n_train=10, n_test=2))


def test_fold_summary_never_claims_certainty_from_identical_folds():
    folds = [{"n_train": 32, "n_test": 8, "accuracy": 1.0, "fit_seconds": 1.0, "predict_seconds": 0.1}] * 5
    s = summarize_folds("classification", folds, n_cases=40)
    lo, hi = s["accuracy"]["ci95"]
    assert hi == 1.0 and lo == pytest.approx(wilson_interval(40, 40)[0])
    assert s["accuracy"]["sd"] == 0.0


# -- classification --------------------------------------------------------------------------------
@pytest.fixture
def three_class():
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], 120)
    pred = np.where(rng.random(120) < 0.7, y, rng.choice(["a", "b", "c"], 120))
    return y, pred


def test_classification_summary_agrees_with_sklearn(three_class):
    y, pred = three_class
    s = classification_summary(y, pred, classes=["a", "b", "c"])
    assert s["accuracy"] == pytest.approx((y == pred).mean())
    assert s["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert s["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    np.testing.assert_allclose([c["precision"] for c in s["per_class"]], precision_score(y, pred, average=None))
    np.testing.assert_allclose([c["recall"] for c in s["per_class"]], recall_score(y, pred, average=None))
    assert np.sum(s["confusion_matrix"]) == 120 and [c["support"] for c in s["per_class"]] == \
        [int((y == c).sum()) for c in "abc"]
    assert len(s["misclassified"]) == int((y != pred).sum())
    assert s["roc_auc"] is None  # three classes


def test_bootstrap_intervals_bracket_the_estimate_and_are_seeded(three_class):
    y, pred = three_class
    s = classification_summary(y, pred, classes=["a", "b", "c"])
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        lo, hi = s[f"{key}_ci95_bootstrap" if key == "accuracy" else f"{key}_ci95"]
        assert lo < s[key] < hi and hi - lo < 0.25
    wilson, boot = s["accuracy_ci95"], s["accuracy_ci95_bootstrap"]
    assert abs(wilson[0] - boot[0]) < 0.04 and abs(wilson[1] - boot[1]) < 0.04
    again = classification_summary(y, pred, classes=["a", "b", "c"])
    assert again["macro_f1_ci95"] == s["macro_f1_ci95"]


def test_binary_roc_auc_with_ties_agrees_with_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 90)
    score = np.round(np.clip(0.3 * y + 0.8 * rng.random(90), 0, 1), 1)  # rounding makes many ties
    proba = np.c_[1 - score, score]
    s = classification_summary(y, (score > 0.5).astype(int), classes=[0, 1], proba=proba)
    assert s["roc_auc"] == pytest.approx(roc_auc_score(y, score))
    lo, hi = s["roc_auc_ci95"]
    assert lo < s["roc_auc"] < hi
    assert "ROC AUC" in format_summary(s)


def test_classification_summary_errors():
    with pytest.raises(DataError, match="not among the model's classes"):
        classification_summary(["a", "z"], ["a", "a"], classes=["a", "b"])
    with pytest.raises(DataError, match="one length"):
        classification_summary(["a", "b"], ["a"], classes=["a", "b"])


def test_perfect_and_absent_class():
    s = classification_summary(["a", "a", "b"], ["a", "a", "b"], classes=["a", "b", "c"], n_bootstrap=50)
    assert s["accuracy"] == 1.0 and s["balanced_accuracy"] == 1.0 and s["macro_f1"] == 1.0
    assert s["per_class"][2]["recall"] is None and s["per_class"][2]["support"] == 0
    assert "misclassified: none" in format_summary(s)


# -- regression ------------------------------------------------------------------------------------
def test_regression_summary_agrees_with_sklearn():
    rng = np.random.default_rng(2)
    t = rng.normal(size=60)
    p = t + 0.4 * rng.normal(size=60)
    s = regression_summary(t, p)
    assert s["r2"] == pytest.approx(r2_score(t, p))
    assert s["mae"] == pytest.approx(mean_absolute_error(t, p))
    assert s["rmse"] == pytest.approx(np.sqrt(np.mean((t - p) ** 2)))
    for key in ("r2", "mae", "rmse"):
        lo, hi = s[key + "_ci95"]
        assert lo < s[key] < hi
    assert s["worst"][0]["error"] == pytest.approx(np.abs(t - p).max())
    assert len(s["true"]) == len(s["predicted"]) == 60
    text = format_summary(s)
    assert "R²" in text and "MAE" in text
    two = regression_summary(np.c_[t, 2 * t], np.c_[p, 2 * t])
    assert two["r2"] == pytest.approx(r2_score(np.c_[t, 2 * t], np.c_[p, 2 * t]))
    with pytest.raises(DataError, match="at least two"):
        regression_summary([1.0], [1.0])


def test_task_of():
    assert task_of(np.array(["a", "b"])) == "classification"
    assert task_of(np.array([0.0, 1.0, 2.0])) == "classification"
    assert task_of(np.array([0.5, 1.0])) == "regression"


# -- splits ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def devices():
    return make_devices(10, n_timepoints=256, sr=256.0, seed=0)


def test_cv_splits_stratified_repeated_and_seeded(devices):
    pairs = cv_splits(devices, n_splits=5, n_repeats=3, random_state=0)
    assert len(pairs) == 15
    for r in range(3):
        tested = np.concatenate([test for _, test in pairs[5 * r:5 * r + 5]])
        np.testing.assert_array_equal(np.sort(tested), np.arange(20))  # each case tested once per repeat
    for train, test in pairs:
        assert not set(train) & set(test)
        assert sorted(devices.y[test].tolist()) == ["high", "high", "low", "low"]  # stratified
    assert any(not np.array_equal(pairs[i][1], pairs[i + 5][1]) for i in range(5))  # reshuffled
    again = cv_splits(devices, n_splits=5, n_repeats=3, random_state=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(pairs, again))


def test_cv_splits_keep_groups_together(devices):
    groups = np.repeat(np.arange(10), 2)  # e.g. two windows of each recording
    for train, test in cv_splits(devices, n_splits=5, n_repeats=2, random_state=3, groups=groups):
        assert not set(groups[train]) & set(groups[test])
    targets = SignalSet(devices.X, sr=devices.sr, y=np.linspace(0, 1, 20))
    for train, test in cv_splits(targets, n_splits=4, groups=groups, random_state=0):
        assert not set(groups[train]) & set(groups[test])


def test_cv_splits_errors(devices):
    with pytest.raises(DataError, match="n_splits=10 or fewer"):
        cv_splits(devices, n_splits=11)
    with pytest.raises(DataError, match="3 groups cannot fill 5 folds"):
        cv_splits(devices, n_splits=5, groups=np.arange(20) % 3)
    with pytest.raises(ParameterError, match="n_splits=1"):
        cv_splits(devices, n_splits=1)
    with pytest.raises(ParameterError, match="one group id per case"):
        cv_splits(devices, n_splits=2, groups=[1, 2])


def test_cross_validate_gives_mean_spread_and_pooled_confusion(devices):
    est = PixelNaiveBayes(imaging="spectrum", image_size=16)
    lines = []
    result = cross_validate(est, devices, cv=4, repeats=2, random_state=0, echo=lines.append)
    assert len(result["folds"]) == 8 and len(lines) == 8
    s = result["summary"]["accuracy"]
    lo, hi = s["ci95"]
    assert 0 <= lo <= s["mean"] <= hi <= 1 and s["sd"] >= 0
    assert np.sum(result["pooled"]["confusion_matrix"]) == 20  # every case once (first repeat)
    assert not hasattr(est, "model_")  # the original stays unfitted
    assert "2 x 4-fold" in format_cv(result)


# -- io --------------------------------------------------------------------------------------------
def test_write_json_is_strict_and_refuses_to_overwrite(tmp_path):
    path = write_json({"a": float("nan"), "b": np.float32(1.5), "c": np.arange(2)}, tmp_path / "m.json")
    assert path.read_text().replace(" ", "").replace("\n", "") == '{"a":null,"b":1.5,"c":[0,1]}'
    from sigxfer import OutputExistsError

    with pytest.raises(OutputExistsError, match="overwrite"):
        write_json({}, path)
    write_json({}, path, overwrite=True)
    assert to_csv_text([{"x": 1.0, "y": None}], ["x", "y"]) == "x,y\n1,\n"


def test_cli_evaluate_cross_validates_a_models_settings(devices, tmp_path, capsys):
    from sigxfer import TransferClassifier, save
    from sigxfer.cli import main
    from sigxfer.data import write_signals

    model = TransferClassifier(backbone="tinynet", image_size=32, imaging="spectrum",
                               strategy={"name": "linear", "C": 1.0}, random_state=0, progress=False)
    save(model.fit(devices), tmp_path / "m.sigx")
    data = write_signals(devices, tmp_path / "data")
    assert main(["evaluate", str(tmp_path / "m.sigx"), str(data), "--cv", "3", "--repeats", "2",
                 "--json", str(tmp_path / "cv.json")]) == 0
    out = capsys.readouterr().out
    assert "2 x 3-fold cross-validation on 20 cases" in out and "accuracy" in out and "±" in out
    import json

    result = json.loads((tmp_path / "cv.json").read_text())
    assert len(result["folds"]) == 6 and result["summary"]["accuracy"]["ci95"][0] is not None


# -- the model's own estimate beside the test score --------------------------------------------------
def test_training_estimate_reads_the_selection_record_first():
    from sigxfer.evaluation.scoring import training_estimate

    selection = {"cv_score": 0.8, "cv_ci": [0.7, 0.9], "table": [{"strategy": "linear"}], "metric": "accuracy"}
    history = {"selection": selection, "cv": {"score": 0.5}, "auto": {"cv_score": 0.4}}
    assert training_estimate(history) == {"score": 0.8, "ci95": [0.7, 0.9], "metric": "accuracy",
                                          "source": "selection"}
    assert training_estimate({"cv": {"score": 0.5, "ci95": [0.4, float("nan")]}}) == {
        "score": 0.5, "ci95": None, "metric": None, "source": "cv"}
    assert training_estimate({"cv": 5, "auto": {"chosen": "linear", "cv_score": 0.75}})["source"] == "auto"
    # Records with no finite score are not estimates: a linear probe's log-loss, a NaN, a flag.
    for history in (None, {}, {"C": 1.0, "cv_folds": 5, "cv_log_loss": 0.3}, {"selection": {"cv_score": float("nan")}},
                    {"selection": {"cv_score": True}}, {"auto": {"chosen": "linear"}}):
        assert training_estimate(history) is None


def test_evaluate_shows_the_training_estimate_next_to_the_test_score(devices):
    from sigxfer.evaluation import evaluate
    from sigxfer.evaluation.baselines import PixelRidge

    train, test = devices[::2], devices[1::2]
    model = PixelNaiveBayes(imaging="spectrum", image_size=16).fit(train, train.y)
    plain = evaluate(model, test, n_bootstrap=50)
    assert "training_estimate" not in plain and "CV estimate" not in format_summary(plain)
    assert plain["accuracy"] == pytest.approx(np.mean(model.predict(test) == test.y))
    model.history_ = {"selection": {"cv_score": 0.875, "cv_ci": [0.75, 0.95], "table": []}}
    summary = evaluate(model, test, n_bootstrap=50)
    assert summary["training_estimate"]["score"] == 0.875
    lines = format_summary(summary).splitlines()
    assert lines[0].lstrip().startswith("accuracy") and "CV estimate (training) 0.875 (95% CI 0.750-0.950)" in lines[1]
    assert {k: v for k, v in summary.items() if k != "training_estimate"}.keys() == plain.keys()

    rng = np.random.default_rng(0)
    y = rng.normal(size=len(devices))
    reg = PixelRidge(imaging="spectrum", image_size=16).fit(devices[::2], y[::2])
    reg.history_ = {"selection": {"cv_score": 0.42, "metric": "r2"}}
    text = format_summary(evaluate(reg, SignalSet(test.X, sr=test.sr, y=y[1::2]), n_bootstrap=50))
    assert text.splitlines()[0].lstrip().startswith("R²") and "CV estimate (training) r2 0.420" in text.splitlines()[1]
    with pytest.raises(DataError, match="labelled data"):
        evaluate(model, SignalSet(test.X, sr=test.sr))
    with pytest.raises(ParameterError, match="must be a SignalSet"):
        evaluate(model, test.X)


# -- documentation ---------------------------------------------------------------------------------
_DOCTESTED = ("baselines", "compare", "contenders", "cv", "figures", "io", "metrics", "report", "report_sections",
              "results", "scoring")


@pytest.mark.parametrize("name", _DOCTESTED)
def test_docstring_examples_run(name, one_thread):
    import doctest
    import importlib

    module = importlib.import_module(f"sigxfer.evaluation.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_every_public_function_of_evaluation_has_examples():
    import importlib
    import inspect
    import pkgutil

    import sigxfer.evaluation as package

    missing = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"sigxfer.evaluation.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and "Examples" not in (obj.__doc__ or ""):
                missing.append(f"{module.__name__}.{name}")
    from sigxfer.evaluation.results import Comparison

    missing += [f"Comparison.{name}" for name, f in vars(Comparison).items() if not name.startswith("_")
                and inspect.isfunction(getattr(f, "__func__", f)) and "Examples" not in (f.__doc__ or "")]
    assert missing == []
