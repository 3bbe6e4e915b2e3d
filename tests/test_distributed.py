"""Distributed training and extraction (learning/distributed.py): N processes compute what one does."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from sigxfer.backbones import create_backbone, get_backbone_config
from sigxfer.imaging import Imager
from sigxfer.learning import distributed
from sigxfer.learning.augment import Augmenter
from sigxfer.learning.embeddings import extract_embeddings
from sigxfer.learning.engines import EngineSpec
from sigxfer.learning.loop import Phase, train
from sigxfer.learning.network import SignalNet

TESTS = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(TESTS), "src")


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((44, 1, 256)).astype(np.float32)
    X[::2] += np.sin(np.arange(256) * 0.6).astype(np.float32)  # class 0 has a tone
    y = np.arange(44) % 2
    return X[:36], y[:36], X[36:], y[36:]


def run_fit():
    """Head, then the whole tinynet, with augmentation, mixup and validation: what both runs compute."""
    X, y, X_val, y_val = data()
    config = get_backbone_config("tinynet")
    net = SignalNet(Imager("spectrum", sr=256.0, size=32, mean=config.mean, std=config.std).fit(X),
                    create_backbone("tinynet"))
    embeddings = extract_embeddings(net, X, engine=EngineSpec("torch", "fp32", "channels_last", 8), progress=False)
    torch.manual_seed(0)
    net.backbone.reset_classifier(2)
    head = [net.backbone.classifier]
    phases = [Phase("head", 1, [(head, 3e-3)]), Phase("body", 2, [(head, 3e-3), ([net.backbone], 1e-3)], 1)]
    state = train(net, X, y, phases=phases, task="classification", X_val=X_val, y_val=y_val, batch_size=12,
                  augmenter=Augmenter.from_config({"gain_db": 6, "time_mask": 0.1}), mixup=0.2, seed=3)
    weights = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return weights, state.history, embeddings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- one process
def test_outside_torchrun_the_context_is_a_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = distributed.distributed_context()
    assert (ctx.rank, ctx.world_size, ctx.enabled, ctx.is_main) == (0, 1, False, True)
    rows = np.arange(12.0).reshape(6, 2)
    assert distributed.gather_rows(rows, 6, ctx) is rows
    assert distributed.wrap(net := nn.Linear(2, 2), ctx) is net
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}


def test_shards_cover_every_case_once():
    for n in (0, 1, 7, 10):
        for world in (1, 2, 3, 4):
            parts = [range(n)[distributed.shard(n, distributed.DistributedContext(r, world))] for r in range(world)]
            assert [i for p in parts for i in p] == list(range(n))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
            shares = [distributed.batch_share(np.arange(n), distributed.DistributedContext(r, world))
                      for r in range(world)]
            assert np.concatenate(shares).tolist() == list(range(n))


def test_batchnorm_swaps_keep_weights_statistics_and_trainability():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm2d(4)))
    with torch.no_grad():
        model[1].running_mean.fill_(0.5)
    model[1].weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ctx = distributed.DistributedContext(0, 2, 0, "gloo")  # as on rank 0 of two
    assert distributed.sync_batchnorm(model, ctx) == 2
    assert type(model[1]) is not nn.BatchNorm2d and not model[1].weight.requires_grad
    x = torch.randn(5, 3, 8, 8)
    model.train()
    synced = model(x)  # no process group: whole-batch statistics are this batch's
    assert distributed.unsync_batchnorm(model) == 2
    assert type(model[1]) is nn.BatchNorm2d and type(model[2][0]) is nn.BatchNorm2d
    model.load_state_dict(before)
    torch.testing.assert_close(model(x), synced)
    assert set(model.state_dict()) == set(before)


# ----------------------------------------------------------------------------- two processes
@pytest.mark.slow
def test_two_processes_under_torchrun_train_and_extract_as_one(tmp_path, one_thread):
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        import numpy as np
        import torch
        import torch.distributed as dist
        sys.path[:0] = [{SRC!r}, {TESTS!r}]
        torch.set_num_threads(1)
        from test_distributed import run_fit
        weights, history, embeddings = run_fit()
        rank = dist.get_rank()
        np.savez(f"{{sys.argv[1]}}/rank{{rank}}.npz", embeddings=embeddings, **weights)
        with open(f"{{sys.argv[1]}}/rank{{rank}}.json", "w") as f:
            json.dump({{"world": dist.get_world_size(), "history": history}}, f)
        dist.destroy_process_group()
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "PYTHONPATH": SRC}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
               "127.0.0.1", "--master-port", str(free_port()), str(script), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-3000:]

    weights, history, embeddings = run_fit()
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    for r in (0, 1):
        assert json.loads((tmp_path / f"rank{r}.json").read_text())["world"] == 2
        np.testing.assert_allclose(ranks[r]["embeddings"], embeddings, rtol=1e-5, atol=1e-6)
    runs = json.loads((tmp_path / "rank0.json").read_text())["history"]
    assert [h["epoch"] for h in runs] == [h["epoch"] for h in history]
    for got, want in zip(runs, history):
        assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-4)
        assert got["val_loss"] == pytest.approx(want["val_loss"], rel=1e-4)
    for key, value in weights.items():
        np.testing.assert_allclose(ranks[0][key], value, rtol=1e-4, atol=1e-5, err_msg=key)
        np.testing.assert_array_equal(ranks[1][key], ranks[0][key], err_msg=key)  # DDP: one model
