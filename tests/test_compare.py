"""sigxfer.evaluation.compare and `sigxfer compare`: identical splits, estimators as contenders, outputs, refusals."""

import csv
import importlib
import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from sigxfer import DataError, OutputExistsError, ParameterError, TransferClassifier, make_devices
from sigxfer.cli import main
from sigxfer.data import write_signals
from sigxfer.evaluation.baselines import MiniRocket, PixelNaiveBayes, PixelRidge
from sigxfer.evaluation.compare import compare
from sigxfer.evaluation.contenders import Contender, list_contenders, register_contender, resolve_contenders
from sigxfer.evaluation.results import CSV_COLUMNS, Comparison

contenders_module = importlib.import_module("sigxfer.evaluation.contenders")
FAST = dict(backbone="tinynet", image_size=32, progress=False, n_bootstrap=200)
# A fixed C skips the linear probe's inner cross-validation, the slowest part of a tinynet fit.
QUICK_PARAMS = {"linear": {"C": 1.0}, "random-linear": {"C": 1.0}, "finetune": {"epochs": 2, "head_epochs": 1},
                "scratch": {"epochs": 2}, "embeddings-rf": {"n_estimators": 20}, "minirocket": {"n_kernels": 84 * 3}}


def _transfer(**params):
    """A tinynet TransferClassifier: the one place tests build an estimator of sigxfer's."""
    settings = dict(backbone="tinynet", image_size=32, imaging="spectrum", strategy={"name": "linear", "C": 1.0},
                    random_state=0, progress=False)
    return TransferClassifier(**{**settings, **params})


@pytest.fixture(scope="module")
def devices():
    return make_devices(12, n_timepoints=256, sr=256.0, seed=0)


class _Log(list):
    """A shared record: scikit-learn's clone deep-copies parameters, and every clone must write here."""

    def __deepcopy__(self, memo):
        return self


class _Spy(ClassifierMixin, BaseEstimator):
    """Predicts the majority class and records which cases it saw (and, with ``ids``, which object fitted)."""

    def __init__(self, log=None, fail=False, ids=None, estimate=None):
        self.log = log
        self.fail = fail
        self.ids = ids
        self.estimate = estimate

    def fit(self, X, y):
        if self.fail:
            raise RuntimeError("spy told to fail")
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[np.argmax(counts)]
        self.log.append(("fit", tuple(X.names)))
        if self.ids is not None:
            self.ids.append(id(self))
        if self.estimate is not None:
            # As automatic selection records it: the cross-validation estimate on the training data.
            self.history_ = {"selection": {"cv_score": self.estimate + 0.01 * len(X), "cv_ci": [0.5, 1.0],
                                           "table": []}}
        return self

    def predict_proba(self, X):
        self.log.append(("predict", tuple(X.names)))
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, list(self.classes_).index(self.majority_)] = 1.0
        return proba


@pytest.fixture
def spies(monkeypatch):
    logs = {"spy-a": _Log(), "spy-b": _Log()}
    for name, log in logs.items():
        # monkeypatch restores the registry after the test
        monkeypatch.setitem(contenders_module._CONTENDERS, name,
                            Contender(name, "records its cases", lambda setup, log=log: _Spy(log=log)))
    return logs


def test_every_contender_sees_identical_splits(devices, spies):
    result = compare(devices, contenders=["spy-a", "spy-b"], imaging=["spectrum", "spectrogram"],
                     cv=3, repeats=2, random_state=5, **FAST)
    a, b = spies["spy-a"], spies["spy-b"]
    assert len(a) == 2 * 2 * 6  # two transforms x (fit + predict) x six folds
    assert a == b
    first = a[:12]
    assert first == a[12:]  # second transform: same folds
    tested = [names for kind, names in first if kind == "predict"]
    assert sorted(sum(map(list, tested[:3]), [])) == sorted(devices.names)  # a repeat covers every case
    assert [r["n_folds"] for r in result.rows] == [6] * 4
    assert all(r["interval"].startswith("corrected-t") for r in result.rows)


def test_groups_never_span_train_and_test(devices, spies):
    groups = [name.split("-")[1] for name in devices.names]
    groups = np.array([int(g) // 2 for g in groups])  # pairs of cases share a group
    compare(devices, contenders=["spy-a"], groups=groups, cv=3, **FAST)
    compare(devices, contenders=["spy-b"], groups=groups, test_size=0.25, **FAST)
    group_of = dict(zip(devices.names, groups))
    for log in spies.values():
        for (kind_fit, fit_names), (kind_pred, test_names) in zip(log[::2], log[1::2]):
            assert (kind_fit, kind_pred) == ("fit", "predict")
            assert not {group_of[n] for n in fit_names} & {group_of[n] for n in test_names}


def test_compare_all_available_contenders_holdout(devices, tmp_path):
    lines = []
    result = compare(devices, imaging=["spectrum", {"name": "spectrogram", "n_fft": 64}],
                     contender_params={k: v for k, v in QUICK_PARAMS.items() if k in list_contenders()},
                     out=tmp_path / "cmp", echo=lines.append, **FAST)
    names = {r["contender"] for r in result.rows}
    assert {"linear", "random-linear", "pixels-nb", "embeddings-rf"} <= names
    assert "pixels-ridge" not in names  # regression only
    assert {"minirocket"} <= names or "aeon" not in str(list_contenders(available=False))
    for r in result.rows:
        assert r["status"] == "ok", r
        assert 0 <= r["ci_low"] <= r["score"] <= r["ci_high"] <= 1
        assert r["fit_seconds"] > 0 and r["predict_seconds"] >= 0
        assert r["interval"] == "wilson"
    transforms = {r["imaging"] for r in result.rows}
    assert {"spectrum", "spectrogram:n_fft=64"} <= transforms
    assert [r["imaging"] for r in result.rows if r["contender"] == "minirocket"] in ([], ["-"])
    table = result.format_table()
    assert "contender" in table and "95% CI" in table and "held-out split" in table

    with open(tmp_path / "cmp" / "comparison.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == CSV_COLUMNS and len(rows) == 1 + len(result.rows)
    data = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert data["config"]["splits"]["mode"] == "holdout" and data["config"]["machine"]["cpu_count"]
    back = Comparison.read(tmp_path / "cmp")
    assert [r["contender"] for r in back.rows] == [r["contender"] for r in result.rows]
    assert back.best()["score"] == max(r["score"] for r in result.rows)
    key = f"linear/{result.rows[0]['imaging']}"
    assert "confusion_matrix" in data["details"][key]["summary"]

    # An existing folder with results is refused before any work, and kept intact.
    before = (tmp_path / "cmp" / "comparison.csv").read_text()
    with pytest.raises(OutputExistsError, match="overwrite"):
        compare(devices, contenders=["nonexistent"], out=tmp_path / "cmp", **FAST)
    assert (tmp_path / "cmp" / "comparison.csv").read_text() == before


def test_given_test_set_and_failure_isolation(devices):
    train, test = devices[::2], devices[1::2]
    result = compare(train, test, contenders=["pixels-nb", ("broken", _Spy(log=_Log(), fail=True))],
                     imaging="spectrum", **FAST)
    ok, broken = result.rows
    assert ok["status"] == "ok" and ok["n_train"] == len(train) and ok["n_test"] == len(test)
    assert broken["status"].startswith("failed: RuntimeError: spy told to fail")
    assert "failed" in result.format_table()
    assert result.config["splits"]["test_names"] == list(test.names)


def test_regression_comparison(devices):
    from sigxfer import SignalSet

    rng = np.random.default_rng(0)
    targets = SignalSet(devices.X, sr=devices.sr, y=rng.normal(size=len(devices)) + (devices.y == "high"))
    result = compare(targets, contenders=["linear", "pixels-ridge"], imaging="spectrum", **FAST)
    # (ridge heads choose alpha by efficient leave-one-out: fast enough without a fixed value)
    assert [r["metric"] for r in result.rows] == ["r2", "r2"]
    assert all(r["status"] == "ok" and r["mae"] > 0 and r["rmse"] >= r["mae"] for r in result.rows)
    with pytest.raises(ParameterError, match="does not do regression"):
        compare(targets, contenders=["pixels-nb"], **FAST)


def test_registry_and_argument_errors(devices):
    assert list_contenders()[0] == "linear"
    with pytest.raises(ParameterError, match="registered already"):
        register_contender(Contender("linear", "dup", lambda s: None))
    with pytest.raises(ParameterError, match="not known"):
        compare(devices, contenders=["nope"], **FAST)
    with pytest.raises(ParameterError, match="either a test set or cv"):
        compare(devices[::2], devices[1::2], cv=3, contenders="pixels-nb", **FAST)
    with pytest.raises(ParameterError, match="not among the contenders"):
        compare(devices, contenders="pixels-nb", contender_params={"linear": {"C": 1}}, **FAST)
    with pytest.raises(ParameterError, match="repeats a view"):
        compare(devices, contenders="pixels-nb", imaging=["spectrum", "spectrum"], **FAST)
    with pytest.raises(DataError, match="fewer than n_splits"):
        compare(devices, contenders="pixels-nb", cv=13, **FAST)


def test_cli_compare_end_to_end(devices, tmp_path, capsys):
    data = write_signals(devices, tmp_path / "data")
    out = tmp_path / "cmp"
    args = [str(data), "-o", str(out), "--backbone", "tinynet", "--image-size", "32", "-q",
            "--contenders", "linear,pixels-nb", "--imaging", "spectrum", "--imaging", "spectrogram:n_fft=64",
            "--cv", "3", "--repeats", "2", "--group-pattern", r"(\d+)\.npy$", "--contender-param", "linear.C=1"]
    assert main(["compare", *args]) == 0
    text = capsys.readouterr().out
    assert "2 x 3-fold" in text and "pixels-nb" in text and "±" in text
    data_json = json.loads((out / "comparison.json").read_text())
    assert data_json["config"]["splits"]["grouped"] is True and len(data_json["rows"]) == 4
    assert main(["compare", *args]) == 1
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert main(["compare", str(data), "-o", str(tmp_path / "x"), "--contender-param", "oops"]) == 1
    assert "NAME.KEY=VALUE" in capsys.readouterr().err
    assert main(["compare", str(data), "-o", str(tmp_path / "y"), "--imaging", "nope"]) == 1
    assert not (tmp_path / "y").exists()


def test_cli_compare_ucr_official_split(tmp_path, capsys):
    pytest.importorskip("aeon")
    out = tmp_path / "gp"
    assert main(["compare", "ucr:GunPoint", "-o", str(out), "--backbone", "tinynet", "--image-size", "32", "-q",
                 "--contenders", "pixels-nb,minirocket", "--imaging", "spectrum", "--sr", "1",
                 "--contender-param", "minirocket.n_kernels=252"]) == 0
    rows = json.loads((out / "comparison.json").read_text())["rows"]
    assert [(r["n_train"], r["n_test"]) for r in rows] == [(50, 150), (50, 150)]
    assert "given split: 50 train, 150 test" in capsys.readouterr().out


def test_cli_compare_regression_targets(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "d" / "s").mkdir(parents=True)
    rows = ["file,y"]
    for i in range(20):
        amp = rng.uniform(0.5, 4.0)
        np.save(tmp_path / "d" / "s" / f"c{i:02d}.npy", (amp * np.sin(np.arange(128) * 0.3)).astype(np.float32))
        rows.append(f"s/c{i:02d}.npy,{amp:.4f}")
    (tmp_path / "d" / "targets.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "d"), "--targets", str(tmp_path / "d" / "targets.csv"), "--sr", "128",
                 "-o", str(out), "-q", "--contenders", "pixels-ridge", "--imaging", "spectrum", "--cv", "4"]) == 0
    row = json.loads((out / "comparison.json").read_text())["rows"][0]
    assert row["metric"] == "r2" and row["score"] > 0.5 and row["interval"] == "corrected-t"
    assert "r2" in capsys.readouterr().out


# -- estimators as contenders ------------------------------------------------------------------------
class _Recorder(ClassifierMixin, BaseEstimator):
    """A meta-estimator (as a scikit-learn pipeline is): fits a clone of ``estimator``, records the cases."""

    def __init__(self, estimator=None, log=None):
        self.estimator = estimator
        self.log = log

    def fit(self, X, y):
        self.log.append(("fit", tuple(X.names)))
        self.fitted_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.fitted_.classes_
        return self

    def predict_proba(self, X):
        self.log.append(("predict", tuple(X.names)))
        return self.fitted_.predict_proba(X)


class _Flat(ClassifierMixin, BaseEstimator):
    """Nearest class centroid of the flattened signals (no images): a caller's own tiny estimator."""

    def __init__(self, log=None):
        self.log = log

    def fit(self, X, y):
        flat, y = X.X.reshape(len(X), -1), np.asarray(y)
        self.classes_ = np.unique(y)
        self.centroids_ = np.stack([flat[y == c].mean(axis=0) for c in self.classes_])
        self.log.append(("fit", tuple(X.names)))
        return self

    def predict(self, X):
        self.log.append(("predict", tuple(X.names)))
        flat = X.X.reshape(len(X), -1)
        return self.classes_[np.argmin(((flat[:, None] - self.centroids_[None]) ** 2).sum(-1), axis=1)]


def test_estimators_run_beside_named_contenders_on_identical_splits(devices, spies):
    logs, ids = {"spy": _Log(), "recorder": _Log(), "flat": _Log()}, _Log()
    spy, transfer, flat = _Spy(log=logs["spy"], ids=ids), _transfer(), _Flat(log=logs["flat"])
    recorder = _Recorder(estimator=transfer, log=logs["recorder"])
    own_imaging = PixelNaiveBayes(imaging={"name": "spectrum", "fmax": 64.0}, image_size=16)
    result = compare(devices, contenders=["spy-a", ("my spy", spy), recorder, flat, own_imaging],
                     imaging=["spectrum", "spectrogram"], cv=3, random_state=3, **FAST)

    # Registered contenders run once per imaging; a caller's estimator once, with its own settings.
    assert [(r["contender"], r["imaging"]) for r in result.rows] == [
        ("spy-a", "spectrum"), ("spy-a", "spectrogram"), ("my spy", ""), ("_Recorder", ""), ("_Flat", ""),
        ("PixelNaiveBayes", "spectrum:fmax=64.0")]
    assert all(r["status"] == "ok" and r["n_folds"] == 3 for r in result.rows), result.rows
    named = spies["spy-a"]
    assert named[:6] == named[6:] == logs["spy"] == logs["recorder"] == logs["flat"]  # the same folds, in order
    tested = [names for kind, names in named[:6] if kind == "predict"]
    assert sorted(sum(map(list, tested), [])) == sorted(devices.names)
    # Cloned for every split: three distinct fitted objects, none of them the one passed in.
    assert len(set(ids)) == 3 and id(spy) not in ids
    assert not hasattr(spy, "classes_") and not hasattr(flat, "centroids_") and not hasattr(transfer, "net_")
    assert not hasattr(recorder, "fitted_")
    assert set(result.details) >= {"spy-a/spectrum", "my spy", "_Recorder", "PixelNaiveBayes/spectrum:fmax=64.0"}
    described = result.config["estimators"]["PixelNaiveBayes"]
    assert described["class"] == "sigxfer.evaluation.baselines.PixelNaiveBayes"
    assert described["params"]["image_size"] == 16 and described["params"]["imaging"]["fmax"] == 64.0
    assert "spy-a" not in result.config["estimators"] and result.config["reference"] is None
    assert "estimator's own" in result.format_table()


def test_contender_labels_are_unique_and_checked(devices):
    pairs = resolve_contenders([PixelNaiveBayes(), "pixels-nb", PixelNaiveBayes(image_size=16), ("PixelNaiveBayes-1",
                                PixelNaiveBayes()), PixelNaiveBayes()], task="classification")
    assert [label for label, _ in pairs] == ["PixelNaiveBayes-2", "pixels-nb", "PixelNaiveBayes-3",
                                             "PixelNaiveBayes-1", "PixelNaiveBayes-4"]
    assert [label for label, _ in resolve_contenders({"a": PixelNaiveBayes(), "b": PixelNaiveBayes()},
                                                     task="classification")] == ["a", "b"]
    assert [label for label, _ in resolve_contenders(PixelNaiveBayes(), task="classification")] == ["PixelNaiveBayes"]
    assert resolve_contenders(("mine", PixelNaiveBayes()), task="classification")[0][0] == "mine"
    assert isinstance(resolve_contenders("pixels-nb, linear", task="classification")[1][1], Contender)
    with pytest.raises(ParameterError, match="more than once; labels must be unique"):
        resolve_contenders([("a", PixelNaiveBayes()), ("a", PixelNaiveBayes())], task="classification")
    with pytest.raises(ParameterError, match="more than once"):
        resolve_contenders(["pixels-nb", ("pixels-nb", PixelNaiveBayes())], task="classification")
    with pytest.raises(ParameterError, match="give an instance, e.g. PixelNaiveBayes()"):
        resolve_contenders([PixelNaiveBayes], task="classification")
    with pytest.raises(ParameterError, match="not an estimator"):
        resolve_contenders([("x", 3)], task="classification")
    with pytest.raises(ParameterError, match="by its name alone"):
        resolve_contenders([("mine", "linear")], task="classification")
    with pytest.raises(ParameterError, match="cannot be cloned"):
        resolve_contenders([type("Bare", (), {"fit": lambda self, X, y: self})()], task="classification")
    with pytest.raises(ParameterError, match="is a classifier and the targets are numbers"):
        resolve_contenders([PixelNaiveBayes()], task="regression")
    with pytest.raises(ParameterError, match="is a regressor and the targets are labels"):
        resolve_contenders([PixelRidge()], task="classification")
    with pytest.raises(ParameterError, match="takes its options itself"):
        compare(devices, contenders=[("mine", PixelNaiveBayes())], contender_params={"mine": {"image_size": 8}},
                **FAST)


class _Rocket(MiniRocket):
    """A MiniRocket as a caller gives it, made instant: predicts the first class (no aeon needed)."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, 0] = 1.0
        return proba


def test_training_estimates_and_minirocket_bar_in_the_table(devices):
    estimating = _Spy(log=_Log(), estimate=0.5)
    result = compare(devices, contenders=[("rocket", _Rocket()), ("estimating", estimating),
                                          ("plain", _Spy(log=_Log()))], cv=3, **FAST)
    rocket, est, plain = result.rows
    assert result.config["reference"] == "rocket" and result.reference() is rocket
    # Mean over the folds of what each fitted clone estimated of itself (0.5 + 0.01 * n_train).
    n_train = [f["n_train"] for f in result.details["estimating"]["folds"]]
    assert est["training_cv"] == pytest.approx(np.mean([0.5 + 0.01 * n for n in n_train]))
    assert [e["source"] for e in result.details["estimating"]["training_estimates"]] == ["selection"] * 3
    assert "training_cv" not in plain and "training_cv" not in rocket
    # A given MiniRocket gets the registered one's untimed warm-up; other estimators none.
    assert result.details["rocket"]["warm_up_seconds"] is not None
    assert result.details["plain"]["warm_up_seconds"] is None
    header, rocket_line, est_line, plain_line = result.format_table().splitlines()[:4]
    assert "vs rocket" in header and "CV estimate (training)" in header
    assert "bar" in rocket_line and f"{est['score'] - rocket['score']:+.3f}" in est_line
    assert f"{est['training_cv']:.3f}" in est_line
    assert "training_cv" not in CSV_COLUMNS and len(result.to_csv().splitlines()[0].split(",")) == len(CSV_COLUMNS)
    # Without MiniRocket or estimates, the table keeps its columns.
    header = compare(devices, contenders=[("plain", _Spy(log=_Log()))], **FAST).format_table().splitlines()[0]
    assert "vs" not in header and "CV estimate" not in header
