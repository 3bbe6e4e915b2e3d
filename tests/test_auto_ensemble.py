"""auto on a joint backbone: each member searched on its own, their best heads averaged as one head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sigxfer
from sigxfer import TransferClassifier, TransferRegressor
from sigxfer.evaluation.report_sections import training
from sigxfer.learning.network import pool_map, power_map
from sigxfer.learning.strategies import Auto
from sigxfer.learning.strategies import ensemble as ens
from sigxfer.learning.strategies import selection as sel
from sigxfer.learning.strategies.heads import cv_average, cv_grid, fit_head

pytestmark = pytest.mark.usefixtures("module_one_thread")

JOINT = "tinynet+tinynet"


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 64)).astype("float32")
    y = np.arange(40) % 2
    X[y == 1, :, 10:20] += 1.5
    return X, y


def _prefer_ensembles(monkeypatch):
    """Make auto take the ensemble whatever the CV says, to check the model it then builds."""
    monkeypatch.setattr(ens, "prefer_ensemble", lambda single, ensembles, task: ensembles[0])


def test_member_blocks_are_cut_by_the_members_widths_bands_included():
    rng = np.random.default_rng(1)
    mean_block, band_block = rng.normal(size=(4, 5)), rng.normal(size=(4, 15))
    embedded = {0: {"mean": [mean_block], "bands": [band_block]}}
    first, second = ens.member_embeddings(embedded, [[2, 3]])
    np.testing.assert_array_equal(first[0]["mean"][0], mean_block[:, :2])
    np.testing.assert_array_equal(second[0]["mean"][0], mean_block[:, 2:])
    # Banded pooling lays bands channel by channel: member one's 2 channels are its first 6 columns.
    np.testing.assert_array_equal(first[0]["bands"][0], band_block[:, :6])
    np.testing.assert_array_equal(second[0]["bands"][0], band_block[:, 6:])


@pytest.mark.parametrize("parts", [
    (sel.Candidate((1,), "last"), sel.Candidate((0, 2), "multi")),
    (sel.Candidate((0, 1), "multi"), sel.Candidate((1,), "multi")),
    (sel.Candidate((2,), "last"), sel.Candidate((2,), "last")),
])
def test_the_ensemble_head_on_the_joint_features_is_the_average_of_the_members_heads(parts):
    rng = np.random.default_rng(2)
    widths = ((3, 2), (4, 5), (6, 1))
    embedded = {v: {"mean": [rng.normal(size=(7, sum(w))) for w in widths]} for v in range(3)}
    ensemble = ens.Ensemble(parts, ("a", "b"), widths)
    heads = [(rng.normal(size=(3, emb.shape[1])), rng.normal(size=3)) for emb, _ in ensemble.member_parts(embedded)]
    weight, bias = ensemble.head(heads, embedded)
    joint, dims = ensemble.blocks(embedded)
    assert weight.shape == (3, joint.shape[1]) == (3, sum(dims))
    expected = sum(emb @ w.T + b for (emb, _), (w, b) in zip(ensemble.member_parts(embedded), heads)) / 2
    np.testing.assert_allclose(joint @ weight.T + bias, expected, atol=1e-12)
    # A view neither member reads is not in the network; the union is, in view order.
    assert ensemble.views == tuple(sorted({v for p in parts for v in p.views}))


def test_an_average_is_taken_on_log_loss_only_within_one_standard_error_of_accuracy():
    single = {"candidate": "gaf / multi", "cv_score": 0.90, "cv_log_loss": 0.50, "n_scored": 100}
    close = {"cv_score": 0.875, "cv_log_loss": 0.30}  # 2.5 points lower: within sqrt(.9 * .1 / 100) = 0.03
    far = {"cv_score": 0.80, "cv_log_loss": 0.10}     # the lowest log-loss, but 10 points lower
    assert ens.prefer_ensemble(single, [far, close], task="classification") is close
    assert ens.prefer_ensemble(single, [far], task="classification") is None
    assert ens.prefer_ensemble(single, [{"cv_score": 0.95, "cv_log_loss": 0.6}], task="classification") is None
    # Scored on a held-out part, the standard error is that part's: 0.9 on 25 cases allows 6 points.
    held_out = dict(single, n_holdout=25)
    assert ens.prefer_ensemble(held_out, [{"cv_score": 0.85, "cv_log_loss": 0.4}], task="classification")
    # A head right on every case lets an average tie it, never trail it.
    perfect = {"cv_score": 1.0, "cv_log_loss": 0.02, "n_scored": 20}
    assert ens.prefer_ensemble(perfect, [{"cv_score": 1.0, "cv_log_loss": 0.01}], task="classification")
    assert ens.prefer_ensemble(perfect, [{"cv_score": 0.95, "cv_log_loss": 0.001}], task="classification") is None


def test_the_cv_of_one_head_averaged_alone_is_that_heads_cv(signals):
    rng = np.random.default_rng(3)
    y = signals[1]
    emb = rng.normal(size=(40, 12)) + y[:, None] * 0.7
    folds, _ = sel.make_folds(y, task="classification", cv=4, seed=0)
    single = cv_grid(emb, y, folds, block_dims=[12], task="classification", values=np.array([0.1]), n_outputs=2)
    averaged = cv_average([(emb, [12], 0.1)], y, folds, task="classification", n_outputs=2)
    assert averaged["scores"] == pytest.approx(single["scores"])
    assert averaged["log_loss"] == pytest.approx(single["log_loss"], rel=1e-3)
    assert averaged["value"] == [0.1]


def test_auto_on_a_joint_backbone_searches_each_member_and_scores_their_ensemble(signals):
    X, y = signals
    model = TransferClassifier(backbone=JOINT, strategy="auto", image_size=32, random_state=0,
                               progress=False).fit(X, y)
    table = model.history_["selection"]["table"]
    kinds = [row["kind"] for row in table]
    singles = sum(kind == "frozen" for kind in kinds)
    # Each member gets the joint's search (singles and combinations), and one ensemble per pooling:
    # shape views lead on one channel, so the mean and the max.
    assert kinds.count("member") == 2 * singles
    ensembles = [row for row in table if row["kind"] == "ensemble"]
    assert [row["pooling"] for row in ensembles] == ["mean", "max"]
    assert all(row["status"] == "scored" for row in ensembles)
    assert all(" / max" in part for part in ensembles[1]["candidate"][len("ensemble of "):].split(" and "))
    # A network joined with itself: the table numbers its copies.
    assert ensembles[0]["candidate"].startswith("ensemble of tinynet #1 (") and len(ensembles[0]["C"]) == 2
    assert " and tinynet #2 (" in ensembles[0]["candidate"]
    # The ensemble's parts are each member's best candidate.
    for m, member_label in enumerate(ensembles[0]["candidate"][len("ensemble of "):].split(" and ")):
        label = f"tinynet #{m + 1}: " + member_label[len("tinynet #1 ("):-1]
        assert label in [row["candidate"] for row in table if row["kind"] == "member"]
    # The best single head by CV, unless an ensemble's CV log-loss is lower.
    chosen = model.history_["selection"]["chosen"]
    single = max((row for row in table if row["kind"] == "frozen"), key=sel.rank)
    # Of the ensembles that get as many cases right in CV as that head, give or take one standard
    # error of its accuracy.
    close = [row for row in ensembles if row["cv_score"] >= single["cv_score"] - ens.accuracy_tolerance(single) - 1e-12]
    steadiest = min(close, key=lambda row: row["cv_log_loss"]) if close else None
    averaged = steadiest is not None and steadiest["cv_log_loss"] < single["cv_log_loss"]
    assert chosen == (steadiest if averaged else single)["candidate"]
    assert ("lower CV log-loss" in model.history_["selection"]["reason"]) == averaged


def test_without_ensembles_auto_scores_no_member_rows(signals):
    X, y = signals
    model = TransferClassifier(backbone=JOINT, strategy=Auto(ensemble=False), image_size=32, random_state=0,
                               progress=False).fit(X, y)
    assert {row["kind"] for row in model.history_["selection"]["table"]} == {"frozen"}
    assert model.history_["strategy"]["ensemble"] is False


def test_a_chosen_ensemble_predicts_the_average_of_its_members_heads_and_survives_the_model_file(
        signals, tmp_path, monkeypatch):
    _prefer_ensembles(monkeypatch)
    X, y = signals
    model = TransferClassifier(backbone=JOINT, strategy="auto", image_size=32, random_state=0,
                               progress=False).fit(X, y)
    selection = model.history_["selection"]
    assert selection["chosen"].startswith("ensemble of ")
    ensemble = next(row for row in selection["table"] if row["candidate"] == selection["chosen"])
    assert model.history_["C"] == ensemble["C"] and model.net_.view_names == ensemble["views"]
    # Recompute each member's own model, eager and without the joint: its views, its depths, its head.
    net, members = model.net_, model.net_.backbone.members
    labels = selection["chosen"][len("ensemble of "):].split(" and ")
    logits = []
    with torch.no_grad():
        for member, label, C in zip(members, labels, ensemble["C"]):
            views_part, features, *pooling = label[len("tinynet #1 ("):-1].split(" / ")
            taps = member.feature_taps() if features == "multi" else [len(member.stage_channels()) - 1]
            blocks = []
            for view in views_part.split("+"):
                images = net.imagers[net.view_names.index(view)](torch.from_numpy(X))
                blocks += [power_map(pool_map(m, *pooling), net.power).double().numpy()
                           for m in member.stage_features(images, taps)]
            emb = np.concatenate(blocks, axis=1)
            weight, bias = fit_head(emb, y, block_dims=[b.shape[1] for b in blocks], task="classification",
                                    value=C, n_outputs=2)
            logits.append(emb @ weight.T + bias)
    mean = np.mean(logits, axis=0)
    expected = np.exp(mean - mean.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=2e-3)
    loaded = sigxfer.load(sigxfer.save(model, tmp_path / "ensemble.sigx"))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    assert "one logistic-regression head per network of the joint backbone" in training(model.history_)


def test_a_regressor_averages_its_members_ridge_heads(monkeypatch):
    _prefer_ensembles(monkeypatch)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30, 1, 64)).astype("float32")
    target = np.linspace(0, 1, 30)
    X[:, :, :16] += target[:, None, None]
    model = TransferRegressor(backbone=JOINT, strategy="auto", image_size=32, random_state=0,
                              progress=False).fit(X, target)
    assert model.history_["selection"]["chosen"].startswith("ensemble of ")
    assert isinstance(model.history_["alpha"], list) and len(model.history_["alpha"]) == 2
    assert model.predict(X).shape == (30,)
    assert "one per network of the joint backbone" in training(model.history_)


@pytest.mark.parametrize("module", [ens, sel, "sigxfer.learning.strategies.heads", "sigxfer.backbones.joint",
                                    "sigxfer.learning.strategies.lpft"])
def test_the_examples_in_the_docstrings_hold(module):
    import doctest
    import importlib

    module = importlib.import_module(module) if isinstance(module, str) else module
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
