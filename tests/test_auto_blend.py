"""auto's blends: scored heads averaged, grown greedily on their held-out outputs, as one linear head."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import sigxfer
from sigxfer import TransferClassifier, TransferRegressor
from sigxfer.evaluation.report_sections import training
from sigxfer.learning import FineTune
from sigxfer.learning.network import pool_map, power_map
from sigxfer.learning.strategies import Auto
from sigxfer.learning.strategies import blend as bl
from sigxfer.learning.strategies import ensemble as ens
from sigxfer.learning.strategies import selection as sel
from sigxfer.learning.strategies.heads import _log_loss, cv_grid, fit_head, grid

pytestmark = pytest.mark.usefixtures("module_one_thread")

FAST = dict(backbone="tinynet", image_size=32, random_state=0, progress=False)


@pytest.fixture(scope="module")
def signals():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 1, 64)).astype("float32")
    y = np.arange(40) % 2
    X[y == 1, :, 10:20] += 1.0
    return X, y


def _logits(p):  # two-class logits whose softmax gives class 1 probability p
    return np.stack([np.zeros_like(p), np.log(p / (1 - p))], axis=1)


# ------------------------------------------------------------------ the greedy selection
def test_a_blend_grows_while_an_added_head_lowers_the_held_out_loss():
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    truth = np.where(y == 1, 0.8, 0.2)
    # Three heads that err independently: any two averaged beat each alone.
    heads = [_logits(np.clip(truth + rng.normal(scale=0.25, size=60), 0.02, 0.98)) for _ in range(3)]
    counts, loss = bl.greedy_blend(heads, y, task="classification")
    alone = [bl.blend_loss(h, y, "classification") for h in heads]
    assert (counts > 0).sum() >= 2 and counts.sum() <= bl.PICKS
    assert loss < min(alone)
    mixed = sum(c * h for c, h in zip(counts, heads)) / counts.sum()
    assert bl.blend_loss(mixed, y, "classification") == pytest.approx(loss)
    # A head no other can help: it stays alone.
    perfect = _logits(np.where(y == 1, 0.999, 0.001))
    counts, loss = bl.greedy_blend([perfect, heads[0]], y, task="classification")
    assert counts.tolist() == [1, 0] and loss == pytest.approx(bl.blend_loss(perfect, y, "classification"))


def test_a_blend_counts_at_most_picks_and_reads_only_the_held_out_rows():
    rng = np.random.default_rng(1)
    y = np.arange(30) % 3
    heads = [rng.normal(size=(30, 3)) + 2.0 * np.eye(3)[y] for _ in range(6)]
    for h in heads:
        h[:10] = np.nan  # cases no fold held out (a held-out part of a large set)
    counts, loss = bl.greedy_blend(heads, y, task="classification", picks=2)
    assert counts.sum() <= 2 and np.isfinite(loss)
    # The loss is measured on the 20 held-out rows only.
    first = int(np.argmax(counts))
    assert bl.blend_loss(heads[first][10:], y[10:], "classification") >= loss - 1e-12
    # Regression: the mean squared error of the averaged outputs.
    target = rng.normal(size=(30, 1))
    guesses = [target + rng.normal(scale=0.5, size=(30, 1)) for _ in range(3)]
    counts, loss = bl.greedy_blend(guesses, target, task="regression")
    assert (counts > 0).sum() >= 2 and loss < min(bl.blend_loss(g, target, "regression") for g in guesses)


def test_cv_grid_keeps_the_held_out_outputs_of_the_value_it_chose(signals):
    rng = np.random.default_rng(2)
    y = signals[1]
    emb = rng.normal(size=(40, 12)) + 0.8 * y[:, None]
    folds, _ = sel.make_folds(y, task="classification", cv=4, seed=0)
    result = cv_grid(emb, y, folds, block_dims=[12], task="classification", values=grid("classification", 4),
                     n_outputs=2)
    oof = result["oof"]
    assert oof.shape == (40, 2) and np.isfinite(oof).all()
    # The fold scores and log-loss it reports are those of these outputs.
    assert result["scores"] == pytest.approx([float(np.mean(oof[te].argmax(1) == y[te])) for _, te in folds])
    assert result["log_loss"] == pytest.approx(np.mean([_log_loss(oof[te], y[te]).mean() for _, te in folds]))


# ------------------------------------------------------------------ one linear head
@pytest.mark.parametrize("members", [(None, None, None), (0, 1, None), (1, 1, 0)])
def test_the_blend_head_is_the_weighted_average_of_its_parts_heads(members):
    rng = np.random.default_rng(3)
    widths = ((3, 2), (4, 5), (6, 1))
    embedded = {v: {"mean": [rng.normal(size=(7, sum(w))) for w in widths]} for v in range(3)}
    parts = (sel.Candidate((1,), "last"), sel.Candidate((0, 2), "multi"), sel.Candidate((0, 1), "multi"))
    blend = ens.Ensemble(parts, ("a", "b"), widths, members=members, weights=(2, 1, 2))
    heads = [(rng.normal(size=(3, emb.shape[1])), rng.normal(size=3)) for emb, _ in blend.member_parts(embedded)]
    weight, bias = blend.head(heads, embedded)
    joint, _ = blend.blocks(embedded)
    shares = np.array([2, 1, 2]) / 5
    expected = sum(s * (emb @ w.T + b) for s, (emb, _), (w, b) in zip(shares, blend.member_parts(embedded), heads))
    np.testing.assert_allclose(joint @ weight.T + bias, expected, atol=1e-12)
    assert blend.kind == "blend" and blend.features == "multi"
    assert blend.label(["x", "y", "z"]).startswith("blend of 3 heads: ")
    assert "×2" in blend.label(["x", "y", "z"])


def test_fitted_outputs_of_a_blend_average_its_parts_heads_fitted_on_the_same_cases():
    rng = np.random.default_rng(4)
    y = np.arange(30) % 2
    embedded = {v: {"mean": [rng.normal(size=(30, 6)) + y[:, None]]} for v in range(2)}
    parts = (sel.Candidate((0,), "last"), sel.Candidate((1,), "last"))
    blend = ens.Ensemble(parts, ("net",), bl.single_widths(embedded, "mean"), members=(None, None), weights=(3, 1))
    fit_idx, out_idx = np.arange(20), np.arange(20, 30)
    got = bl.fitted_outputs(blend, [0.5, 2.0], embedded, y, fit_idx, out_idx, task="classification", n_outputs=2)
    one = [bl.fitted_outputs(p, c, embedded, y, fit_idx, out_idx, task="classification", n_outputs=2)
           for p, c in zip(parts, [0.5, 2.0])]
    np.testing.assert_allclose(got, 0.75 * one[0] + 0.25 * one[1])


# ------------------------------------------------------------------ through auto
def _chosen_blend(model):
    selection = model.history_["selection"]
    return next(r for r in selection["table"] if r["candidate"] == selection["chosen"])


def _prefer_blends(monkeypatch, force=False):
    """Make auto take the blend whatever the CV says, to check the model it then builds; with
    ``force``, a blend of the first two heads of the pool (once and twice) whatever their outputs."""
    monkeypatch.setattr(ens, "prefer_ensemble",
                        lambda single, averaged, task: next(r for r in averaged if r["kind"] == "blend"))
    if force:
        monkeypatch.setattr(bl, "greedy_blend", lambda oofs, y, task: (np.array([1, 2] + [0] * (len(oofs) - 2)), 0.0))


def test_asked_for_auto_scores_a_blend_and_keeps_it_only_when_its_cv_log_loss_is_lowest(signals):
    X, y = signals
    model = TransferClassifier(imaging=["gaf", "waveform", "recurrence"], strategy=Auto(blend=True), **FAST).fit(X, y)
    table = model.history_["selection"]["table"]
    blends = [r for r in table if r["kind"] == "blend"]
    assert len(blends) == 1 and blends[0]["status"] == "scored"
    heads = [r for r in table if r["kind"] == "frozen" and r["status"] == "scored"]
    # Grown from the head of lowest held-out loss among its pool (the heads of its pooling), it can
    # only be lower.
    pool = [r for r in heads if r["pooling"] == blends[0]["pooling"]]
    assert blends[0]["cv_log_loss"] <= min(r["cv_log_loss"] for r in pool) + 1e-9
    single = max(heads, key=sel.rank)
    chosen = model.history_["selection"]["chosen"]
    # Kept on a lower CV log-loss than the best single head's, unless it gets fewer cases right in
    # CV than that head, by more than one standard error.
    kept = (blends[0]["cv_log_loss"] < single["cv_log_loss"]
            and blends[0]["cv_score"] >= single["cv_score"] - ens.accuracy_tolerance(single) - 1e-12)
    assert chosen == (blends[0] if kept else single)["candidate"]
    assert ("picked greedily" in model.history_["selection"]["reason"]) == kept
    # What only the search needed is not in the history, which is plain JSON.
    assert not any(k.startswith("_") for r in table for k in r)
    json.dumps(model.history_)
    plain = TransferClassifier(imaging=["gaf", "waveform", "recurrence"], strategy="auto", **FAST).fit(X, y)
    assert not any(r["kind"] == "blend" for r in plain.history_["selection"]["table"])
    assert plain.history_["strategy"]["blend"] is False and model.history_["strategy"]["blend"] is True


def test_a_chosen_blend_predicts_the_weighted_average_of_its_heads_and_survives_the_model_file(
        signals, tmp_path, monkeypatch):
    _prefer_blends(monkeypatch)
    X, y = signals
    model = TransferClassifier(imaging=["gaf", "waveform", "recurrence"], strategy=Auto(blend=True), **FAST).fit(X, y)
    row = _chosen_blend(model)
    heads = model.history_["heads"]
    assert row["candidate"].startswith("blend of ") and len(heads) == len(row["C"]) >= 2
    assert sum(h["share"] for h in heads) == pytest.approx(1.0)
    # Recompute each head eagerly from its own views and depths, fitted on every training case.
    net, backbone = model.net_, model.net_.backbone
    logits = 0.0
    with torch.no_grad():
        for h in heads:
            views_part, features, *pooling = h["reads"].split(" / ")
            taps = backbone.feature_taps() if features == "multi" else [len(backbone.stage_channels()) - 1]
            blocks = []
            for view in views_part.split("+"):
                images = net.imagers[net.view_names.index(view)](torch.from_numpy(X))
                blocks += [power_map(pool_map(m, *pooling), net.power).double().numpy()
                           for m in backbone.stage_features(images, taps)]
            emb = np.concatenate(blocks, axis=1)
            weight, bias = fit_head(emb, y, block_dims=[b.shape[1] for b in blocks], task="classification",
                                    value=h["C"], n_outputs=2)
            logits = logits + h["share"] * (emb @ weight.T + bias)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict_proba(X), expected, atol=2e-3)
    loaded = sigxfer.load(sigxfer.save(model, tmp_path / "blend.sigx"))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    assert loaded.history_["heads"] == heads
    text = training(model.history_)
    assert f"{len(heads)} logistic-regression heads" in text and heads[0]["reads"] in text


def test_a_regressor_blends_ridge_heads(monkeypatch):
    _prefer_blends(monkeypatch, force=True)
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 1, 64)).astype("float32")
    target = np.linspace(0, 1, 30)
    X[:, :, :16] += target[:, None, None]
    model = TransferRegressor(imaging=["gaf", "waveform"], strategy=Auto(blend=True), **FAST).fit(X, target)
    assert model.history_["selection"]["chosen"].startswith("blend of ")
    assert isinstance(model.history_["alpha"], list) and len(model.history_["alpha"]) >= 2
    assert [h["share"] for h in model.history_["heads"]] == pytest.approx([1 / 3, 2 / 3])
    assert model.predict(X).shape == (30,) and np.isfinite(model.predict(X)).all()
    assert "ridge heads" in training(model.history_)


def test_lp_ft_starts_from_the_best_single_head_when_a_blend_is_chosen():
    from sigxfer.learning.strategies import lpft

    rows = {name: {"candidate": f"{name} / last", "status": "scored", "n_scored": 10, "cv_score": score, "width": 2,
                   "kind": "frozen", "_candidate": sel.Candidate(views, "last")}
            for name, score, views in (("a", 0.8, (0,)), ("b", 0.9, (1,)), ("a+b", 0.85, (0, 1)))}
    blend = ens.Ensemble((rows["a"]["_candidate"], rows["b"]["_candidate"]), ("net",), ((2,),), members=(None, None),
                         weights=(1, 1))
    best = {"candidate": "blend of 2 heads: a / last, b / last", "status": "scored", "n_scored": 10, "kind": "blend",
            "cv_score": 0.9, "width": 4, "_candidate": blend}
    start, why = lpft.start_for_lp_ft(best, [*rows.values(), best], finetune=FineTune(epochs=4), plan=lambda r: 4)
    assert start is rows["b"] and why.startswith(best["candidate"]) and "LP-FT starts from one" in why
    # The best head reads two views and its fine-tune fits too few epochs: the single-view rule follows.
    rows["a+b"]["cv_score"] = 0.95
    start, why = lpft.start_for_lp_ft(best, [*rows.values(), best], finetune=FineTune(epochs=4),
                                      plan=lambda r: 1 if r is rows["a+b"] else 4)
    assert start is rows["b"] and "fit 1 of 4 epochs" in why
    # A joint backbone's ensemble of its members is left as it is (LP-FT then skips it).
    members = {**best, "kind": "ensemble", "_candidate": ens.Ensemble(blend.parts, ("a", "b"), ((1, 1),))}
    assert lpft.start_for_lp_ft(members, [*rows.values(), members], finetune=FineTune(epochs=4),
                                plan=lambda r: 4) == (members, None)


@pytest.mark.slow
def test_on_large_data_lp_ft_must_beat_the_chosen_blend(monkeypatch):
    from sigxfer import make_devices

    _prefer_blends(monkeypatch, force=True)
    devices = make_devices(16, n_timepoints=256, sr=256.0, seed=0)
    auto = Auto(large_n=10, Cs=2, features=["last"], epochs=1, patience=None, blend=True)
    model = TransferClassifier(imaging=["gaf", "waveform"], strategy=auto, **FAST).fit(devices)
    table = model.history_["selection"]["table"]
    blend = next(r for r in table if r["kind"] == "blend")
    row = next(r for r in table if r["kind"] == "finetune")
    assert row["status"] == "scored" and row["started_from"]["why"].startswith(blend["candidate"])
    chosen = model.history_["selection"]["chosen"]
    assert chosen in (row["candidate"], blend["candidate"])
    if chosen == blend["candidate"]:  # the fine-tune lost: the blend, whole
        assert sorted(model.net_.view_names) == sorted(blend["views"])
    assert model.predict_proba(devices).shape == (len(devices), 2)


def test_the_examples_in_the_docstrings_hold():
    import doctest

    result = doctest.testmod(bl)
    assert result.attempted > 0 and result.failed == 0
