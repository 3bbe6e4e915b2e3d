"""Fine-tuning the last stages from the frozen stages' kept maps: the same training, less work."""

import time

import numpy as np
import pytest
import torch

from sigxfer.backbones import create_backbone
from sigxfer.imaging import Imager
from sigxfer.learning.augment import Augmenter
from sigxfer.learning.callbacks import Callback, Deadline
from sigxfer.learning.loop import train
from sigxfer.learning.network import SignalNet
from sigxfer.errors import ParameterError
from sigxfer.learning.costs import tail_train_rate
from sigxfer.learning.prefix import FrozenPrefix, first_learning_stage, front_seconds
from sigxfer.learning.strategies import FineTune

pytestmark = pytest.mark.usefixtures("module_one_thread")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((40, 1, 128)).astype(np.float32)
Y = np.arange(40) % 2


def _net(views=("waveform",), taps=None, pooling="mean"):
    torch.manual_seed(0)
    net = SignalNet([Imager(v, size=32).fit(X) for v in views], create_backbone("tinynet"))
    if taps is not None or pooling != "mean":
        net.set_features(taps, pooling)
    return net


def _fit(net, strategy, *, keep_front, monkeypatch):
    """``strategy.fit`` on ``net`` with the loop's keep_front forced."""
    from sigxfer.learning.strategies import finetune as module

    real = module.train
    monkeypatch.setattr(module, "train", lambda *a, **k: real(*a, keep_front=keep_front, **k))
    history = strategy.fit(net, X, Y, task="classification", n_outputs=2, random_state=0, batch_size=8)
    monkeypatch.setattr(module, "train", real)
    return history


@pytest.mark.parametrize("params", [
    {}, {"taps": [0, 1, 2]}, {"taps": [0, 2], "pooling": "bands"}, {"taps": [0, 2], "pooling": "max"},
    {"views": ("waveform", "gaf")},
    {"views": ("waveform", "gaf"), "taps": [0, 2]},
])
@pytest.mark.parametrize("recipe", [{"unfreeze": 1}, {"unfreeze": 2, "batchnorm": "train"}])
def test_training_from_kept_maps_equals_training_through_the_whole_net(params, recipe, monkeypatch):
    strategy = FineTune(epochs=3, head_epochs=1, **recipe)
    kept_net, whole_net = _net(**params), _net(**params)
    kept = _fit(kept_net, strategy, keep_front=True, monkeypatch=monkeypatch)
    whole = _fit(whole_net, strategy, keep_front=False, monkeypatch=monkeypatch)
    assert kept["kept_front"] == 3 - recipe["unfreeze"] and whole["kept_front"] is None
    for a, b in zip(kept["epochs"], whole["epochs"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5, abs=1e-7)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5, abs=1e-7)
    assert kept["best_epoch"] == whole["best_epoch"]
    np.testing.assert_allclose(kept_net.outputs(X), whole_net.outputs(X), rtol=1e-4, atol=1e-5)
    # The frozen stage in front kept its weights; the last one learned if a body epoch was kept.
    untouched = _net(**params).backbone.stages()
    first = [next(stage.parameters()) for stage in kept_net.backbone.stages()]
    assert torch.equal(first[0], next(untouched[0].parameters()))
    assert torch.equal(first[-1], next(untouched[-1].parameters())) == (kept["best_epoch"] == 1)


def test_the_head_phase_alone_trains_from_kept_embeddings(monkeypatch):
    net = _net(taps=[1, 2])
    history = _fit(net, FineTune(epochs=0, head_epochs=2), keep_front=True, monkeypatch=monkeypatch)
    assert history["kept_front"] == 3  # every stage frozen: the pooled features are kept whole


@pytest.mark.parametrize("recipe, why", [
    ({"unfreeze": "all"}, "every stage learns"),
    ({"unfreeze": 1, "augment": {"snr_db": 20}}, "images change every epoch"),
    ({"unfreeze": 1, "mixup": 0.2}, "mixed images"),
])
def test_nothing_is_kept_when_the_front_learns_or_the_images_change(recipe, why, monkeypatch):
    history = _fit(_net(), FineTune(epochs=1, head_epochs=0, **recipe), keep_front=True, monkeypatch=monkeypatch)
    assert history["kept_front"] is None, why


def test_an_augmenter_that_changes_nothing_still_lets_the_maps_be_kept(monkeypatch):
    assert Augmenter.from_config({"gain_db": 0, "time_mask": 0}).identity
    assert not Augmenter.from_config({"time_shift": 0.1}).identity
    history = _fit(_net(), FineTune(unfreeze=1, epochs=1, head_epochs=0, augment={"gain_db": 0}), keep_front=True,
                   monkeypatch=monkeypatch)
    assert history["kept_front"] == 2


def test_maps_too_large_for_memory_are_not_kept(monkeypatch):
    from sigxfer.learning import prefix

    monkeypatch.setattr(prefix, "available_bytes", lambda: 1000)
    history = _fit(_net(), FineTune(unfreeze=1, epochs=1, head_epochs=0), keep_front=True, monkeypatch=monkeypatch)
    assert history["kept_front"] is None


def test_first_learning_stage_and_the_kept_rows():
    net = _net(views=("waveform", "gaf"), taps=[0, 2])
    stages = net.backbone.stages()
    assert first_learning_stage(net, [[net.head], stages[-2:]]) == 1
    assert first_learning_stage(net, [[net.head]]) == 3
    prefix = FrozenPrefix(net, 2, [X[:5], X[5:9]], batch_size=3)
    assert prefix.maps.shape[:2] == (9, 2) and prefix.pooled.shape[:2] == (9, 2)
    with torch.no_grad():
        want = net.embed(torch.from_numpy(X[[7, 1]]))
        got = prefix.features([7, 1])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert FrozenPrefix.nbytes(net, 2, 9) == prefix.maps.numel() * 4
    assert front_seconds(net, 2) > 0.0 and front_seconds(net, 0) == 0.0


def test_training_steps_are_timed_on_copies_and_leave_the_network_as_it_was():
    net = _net(views=("waveform", "gaf"), taps=[0, 2])
    net.backbone.stages()[0].requires_grad_(False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    flags = [p.requires_grad for p in net.parameters()]
    for start in (0, 1, 2):  # through the whole network, and from the kept maps entering stage 1 or 2
        rate = tail_train_rate(net, 2, start=start, batch_size=4, seconds=0.01)
        assert np.isfinite(rate) and rate > 0
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert [p.requires_grad for p in net.parameters()] == flags and net.training
    with pytest.raises(ParameterError, match="start=3 and cut=2"):
        tail_train_rate(net, 2, start=3)


def test_lp_ft_plans_from_the_measured_training_step_and_front_pass(monkeypatch):
    # The estimate was 2-2.5x short when it priced a step as three passes of the frozen engine.
    from sigxfer.learning.strategies import lpft

    calls = []
    monkeypatch.setattr(lpft, "tail_train_rate", lambda net, cut, *, start, batch_size, batchnorm: calls.append((cut, start, batch_size)) or 10.0)
    monkeypatch.setattr(lpft, "front_seconds", lambda net, cut: 0.01)
    net = _net(views=("waveform", "gaf"))
    first, per_epoch = lpft._costs(net, 2, FineTune(), 100, 30, 8)
    assert calls[-1] == (2, 2, 8)  # steps from the kept maps
    assert first == pytest.approx(2 * 130 * 0.01) and per_epoch == pytest.approx((100 + 30 / 3) / 10.0)
    first, per_epoch = lpft._costs(net, 2, FineTune(augment={"snr_db": 20}), 100, 30, 8)
    assert calls[-1] == (2, 0, 8) and first == 0.0  # augmented images change: every step runs the whole network
    assert per_epoch == pytest.approx(11.0)


def test_a_deadline_ends_the_phase_and_the_best_epoch_is_kept():
    net = _net()
    strategy = FineTune(unfreeze=1, epochs=5, head_epochs=0, patience=None)
    phases, _ = strategy.phases(net)
    net.reset_head(2)
    seen = []

    class Count(Callback):
        def on_epoch_end(self, state, record):
            seen.append(record["epoch"])

    deadline = Deadline(time.perf_counter() - 1.0)  # already past: one epoch, then stop
    state = train(net, X[:32], Y[:32], phases=phases, task="classification", X_val=X[32:], y_val=Y[32:],
                  batch_size=8, callbacks=[deadline, Count()])
    assert deadline.hit and seen == [1] and state.best_epoch == 1
    roomy, other = Deadline(time.perf_counter() + 3600.0), _net()
    other.reset_head(2)
    state = train(other, X[:32], Y[:32], phases=FineTune(unfreeze=1, epochs=2, head_epochs=0).phases(other)[0],
                  task="classification", batch_size=8, callbacks=[roomy])
    assert not roomy.hit and len(state.history) == 2


def test_a_deadline_re_plans_the_phase_from_the_measured_epochs(monkeypatch):
    from sigxfer.learning import callbacks
    from sigxfer.learning.loop import Phase, TrainState

    clock = [1000.0]
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: clock[0])
    state, deadline = TrainState(phase=Phase("body", epochs=10, groups=[])), Deadline(1035.0)
    state.phase_epoch = 1
    deadline.on_epoch_end(state, {"seconds": 10.0})  # 35 s left at 10 s an epoch: three more
    assert state.planned == deadline.planned == 4 and deadline.hit and not state.stop
    clock[0], state.phase_epoch = 1030.0, 4
    deadline.on_epoch_end(state, {"seconds": 10.0})  # the plan is done as planned: the loop ends there
    assert state.planned == state.phase_epoch == 4
    clock[0], state.phase_epoch, state.planned = 1030.0, 2, None
    deadline.on_epoch_end(state, {"seconds": 10.0})  # an epoch took longer than planned: not one more fits
    assert state.planned == 2 and state.stop
    clock[0], state.phase_epoch, state.planned, state.stop = 1000.0, 2, None, False
    slow = Deadline(1050.0)
    state.history = [{"seconds": 20.0}, {"seconds": 5.0}]  # this phase's epochs, the last one just ended
    slow.on_epoch_end(state, {"seconds": 5.0})  # a short epoch after a long one: planned at the longest
    assert state.planned == 4  # 50 s left at 20 s an epoch: two more, not ten
    roomy = Deadline(5000.0)
    fresh = TrainState(phase=Phase("body", epochs=10, groups=[]), phase_epoch=1)
    roomy.on_epoch_end(fresh, {"seconds": 10.0})  # room for more than asked: the phase's own epochs
    assert fresh.planned is None and roomy.planned is None and not roomy.hit
    endless = Deadline(float("inf"))  # auto without a budget
    endless.on_epoch_end(fresh, {"seconds": 10.0})
    assert fresh.planned is None and not endless.hit and not fresh.stop
    # Planned from an estimate that was long: the measured epochs make room for more, up to ``most``.
    clock[0] = 1000.0
    grows = Deadline(1100.0, most=12)
    short = TrainState(phase=Phase("body", epochs=4, groups=[]), phase_epoch=1)
    grows.on_epoch_end(short, {"seconds": 10.0})  # 100 s left at 10 s an epoch: ten more, eleven in all
    assert short.planned == grows.planned == 11 and grows.hit  # the budget, not most, set the plan
    capped = Deadline(1500.0, most=6)
    capped.on_epoch_end(short, {"seconds": 10.0})
    assert short.planned == 6 and not capped.hit


def test_the_mean_of_the_last_epochs_weights_is_kept_only_where_its_validation_loss_is_lower():
    from sigxfer.learning.loop import TrainState, _score_average

    net = _net()
    net.reset_head(2)
    bias = next(k for k, v in net.state_dict(keep_vars=True).items() if v is net.head.bias)
    states = []
    for shift in (0.0, 1.0, 2.0):  # three epochs' weights of the head
        with torch.no_grad():
            net.head.bias.fill_(shift)
        states.append({k: v.detach().clone() for k, v in net.state_dict().items()})
    for loss, kept in ((0.1, True), (0.9, False)):
        best = {k: v.clone() for k, v in states[0].items()}
        state = TrainState(epoch=7, best_loss=0.5, best_state=best)
        seen = []
        _score_average(state, net, states, evaluate_val=lambda: seen.append(net.head.bias.clone()) or
                       {"val_loss": loss, "val_metric": 1.0})
        torch.testing.assert_close(seen[0], torch.full((2,), 1.0))  # scored with the mean of the three
        assert state.averaged == {"epochs": [5, 6, 7], "val_loss": loss, "val_metric": 1.0, "kept": kept}
        assert state.best_loss == (0.1 if kept else 0.5)
        torch.testing.assert_close(state.best_state[bias], torch.full((2,), 1.0 if kept else 0.0))


def test_fine_tuning_scores_the_average_of_its_last_epochs_and_restores_what_won(monkeypatch):
    net = _net()
    epochs = {}

    class Keep(Callback):
        def on_epoch_end(self, state, record):
            epochs[record["epoch"]] = {k: v.detach().clone() for k, v in state.net.state_dict().items()}

    strategy = FineTune(unfreeze=1, epochs=4, head_epochs=1, patience=None, average_last=3, callbacks=[Keep()])
    history = _fit(net, strategy, keep_front=True, monkeypatch=monkeypatch)
    averaged = history["averaged"]
    assert averaged["epochs"] == [3, 4, 5]  # the body phase's last three (epoch 1 trained the head)
    mean = {k: torch.stack([epochs[e][k] for e in averaged["epochs"]]).mean(0) for k in epochs[5]
            if epochs[5][k].is_floating_point()}
    want = mean if averaged["kept"] else {k: epochs[history["best_epoch"]][k] for k in mean}
    for k, v in want.items():
        torch.testing.assert_close(net.state_dict()[k], v)
    assert _fit(_net(), FineTune(unfreeze=1, epochs=2, head_epochs=0, patience=None), keep_front=True,
                monkeypatch=monkeypatch)["averaged"] is None


def test_a_re_planned_phase_runs_its_new_epochs_and_its_rate_anneals_by_their_end():
    class Replan(Callback):  # what Deadline does when the first epoch was longer than estimated
        def on_epoch_end(self, state, record):
            if record["epoch"] == 1:
                state.planned = 3

    rates = {}
    for callbacks in ([], [Replan()]):
        net = _net()
        net.reset_head(2)
        phases, _ = FineTune(unfreeze=1, epochs=10, head_epochs=0, patience=None, warmup_epochs=0).phases(net)
        state = train(net, X[:32], Y[:32], phases=phases, task="classification", batch_size=8, callbacks=callbacks)
        rates[len(callbacks)] = [r["lr"] for r in state.history]
    assert len(rates[0]) == 10 and len(rates[1]) == 3
    assert rates[1][0] == pytest.approx(rates[0][0])  # the first epoch ran on the first plan
    assert rates[1][2] < 0.05 * rates[0][0] < rates[0][2]  # the third epoch of three ends near zero
