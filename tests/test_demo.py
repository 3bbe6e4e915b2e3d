"""The demo end to end with the real pretrained backbone (slow: about a minute on 2 cores)."""

import json

import pytest

import sigxfer
from sigxfer import OutputExistsError
from sigxfer.demo import run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    lines = []
    report = run_demo(out, n_per_class=40, n_fresh=8, seed=0, progress=False, echo=lines.append)
    return out, report, "\n".join(lines)


@pytest.mark.slow
def test_demo_reaches_95_percent_with_pretrained_weights(demo):
    out, report, _ = demo
    pretrained = [r for r in report["results"] if r["pretrained"]]
    assert {r["imaging"] for r in pretrained} == {"spectrum", "spectrogram"}
    assert report["best"]["accuracy"] >= 0.95
    for r in report["results"]:
        lo, hi = r["test"]["accuracy_ci95"]
        assert lo <= r["test"]["accuracy"] <= hi
        assert r["test"]["n"] == 24


@pytest.mark.slow
def test_demo_reports_the_random_weights_baseline(demo):
    _, report, text = demo
    random = [r for r in report["results"] if not r["pretrained"]]
    assert len(random) == 2
    assert "random" in text
    assert all(0.0 <= r["test"]["accuracy"] <= 1.0 for r in random)


@pytest.mark.slow
def test_demo_writes_its_outputs_and_predicts_from_the_file(demo):
    out, report, _ = demo
    for name in ("metrics.json", "model.sigx", "predictions.csv", "examples-spectrum.png",
                 "examples-spectrogram.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text())["best"] == report["best"]
    model = sigxfer.load(out / "model.sigx")
    assert model.metrics_["test"]["accuracy"] == report["best"]["accuracy"]
    rows = (out / "predictions.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 16
    assert report["fresh_batch"]["accuracy"] >= 0.85
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


@pytest.mark.slow
def test_demo_never_overwrites_without_being_asked(demo):
    out, _, _ = demo
    before = (out / "metrics.json").read_bytes()
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        run_demo(out, n_per_class=4, progress=False, echo=lambda *_: None)
    assert (out / "metrics.json").read_bytes() == before
