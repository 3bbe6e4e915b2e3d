"""The one batching iterator (learning/batches.py): order, chunks, resume points, prefetching, errors."""

import threading

import numpy as np
import pytest
import torch

from sigxfer import DataError, ParameterError
from sigxfer.learning.batches import iter_batches

pytestmark = pytest.mark.usefixtures("one_thread")


def signals(n=10, t=8):
    return np.arange(n * t, dtype=np.float32).reshape(n, 1, t)


def chunks_of(X, sizes):
    """``X`` cut into consecutive chunks of the given sizes (the last takes the rest)."""
    edges = np.cumsum([0, *sizes])
    return [X[a:b] for a, b in zip(edges[:-1], edges[1:])] + ([X[edges[-1]:]] if edges[-1] < len(X) else [])


@pytest.mark.parametrize("prefetch", [False, True])
def test_array_batches_come_in_order_with_their_slices(prefetch):
    X = signals(10)
    got = list(iter_batches(X, 4, prefetch=prefetch))
    assert [(w.start, w.stop) for w, _ in got] == [(0, 4), (4, 8), (8, 10)]
    for where, batch in got:
        assert batch.dtype == torch.float32
        np.testing.assert_array_equal(batch.numpy(), X[where])


@pytest.mark.parametrize("sizes", [[3, 3, 3], [1, 7, 1], [10], [2, 0, 5]])
def test_chunks_of_any_size_are_recut_into_full_batches(sizes):
    X = signals(10)
    got = list(iter_batches(iter(chunks_of(X, sizes)), 4))
    assert [len(b) for _, b in got] == [4, 4, 2]
    assert [(w.start, w.stop) for w, _ in got] == [(0, 4), (4, 8), (8, 10)]
    np.testing.assert_array_equal(np.concatenate([b.numpy() for _, b in got]), X)


@pytest.mark.parametrize("as_chunks", [False, True])
def test_start_skips_cases_without_transforming_them(as_chunks):
    X = signals(10)
    seen = []

    def transform(x):
        seen.append(x[:, 0, 0].tolist())
        return x * 2

    source = iter(chunks_of(X, [3, 3, 3])) if as_chunks else X
    got = list(iter_batches(source, 3, start=6, transform=transform, prefetch=False))
    assert [(w.start, w.stop) for w, _ in got] == [(6, 9), (9, 10)]
    np.testing.assert_array_equal(np.concatenate([b.numpy() for _, b in got]), X[6:] * 2)
    assert sum(len(s) for s in seen) == 4  # the six skipped cases were never imaged


def test_index_batches_are_yielded_as_given():
    X = signals(6)
    order = [np.array([5, 0]), np.array([3]), np.array([1, 2, 4])]
    got = list(iter_batches(X, 2, indices=order))
    assert [w.tolist() for w, _ in got] == [[5, 0], [3], [1, 2, 4]]
    for where, batch in got:
        np.testing.assert_array_equal(batch.numpy(), X[where])


def test_transform_runs_in_the_producer_thread_and_memory_format_applies():
    X = np.zeros((4, 1, 8), dtype=np.float32)
    threads = []

    def to_images(x):
        threads.append(threading.current_thread().name)
        assert not torch.is_grad_enabled()  # batches are prepared without a graph
        return x.reshape(len(x), 1, 1, 8).expand(-1, 3, 4, 8).clone()

    got = [b for _, b in iter_batches(X, 2, transform=to_images, memory_format="channels_last")]
    assert threads == ["sigxfer-prefetch"] * 2
    assert all(b.is_contiguous(memory_format=torch.channels_last) and not b.is_contiguous() for b in got)
    plain = [b for _, b in iter_batches(X, 2, transform=to_images, prefetch=False)]
    assert threads[2:] == [threading.current_thread().name] * 2
    assert all(b.is_contiguous() for b in plain)


def test_the_next_batch_is_prepared_while_the_caller_holds_this_one():
    X = signals(6)
    prepared = [threading.Event() for _ in range(3)]

    def transform(x):
        prepared[int(x[0, 0, 0]) // (2 * 8)].set()
        return x

    for i, (_, _) in enumerate(iter_batches(X, 2, transform=transform)):
        if i + 1 < len(prepared):
            # The caller has not asked for batch i+1 yet; the producer makes it anyway.
            assert prepared[i + 1].wait(timeout=30)


def test_a_chunk_generator_is_read_only_a_bounded_way_ahead():
    pulled = []

    def generate():
        for i in range(50):
            pulled.append(i)
            yield np.full((3, 1, 4), i, dtype=np.float32)

    for k, (where, _) in enumerate(iter_batches(generate(), 3)):
        # prefetch depth 2, one batch in hand and one chunk being cut: never the whole input
        assert len(pulled) <= k + 1 + 2 + 2
    assert len(pulled) == 50 and where.stop == 150


def test_an_error_in_the_producer_reaches_the_caller():
    def transform(x):
        if x[0, 0, 0] > 0:
            raise DataError("case 4 is broken")
        return x

    with pytest.raises(DataError, match="case 4 is broken"):
        list(iter_batches(signals(8), 4, transform=transform))


def test_leaving_the_loop_early_stops_the_producer():
    for _ in iter_batches(signals(100), 2):
        break
    assert not [t for t in threading.enumerate() if t.name == "sigxfer-prefetch"]


def test_progress_bar_counts_signals(capsys):
    list(iter_batches(signals(10), 4, progress=True, desc="imaging"))
    err = capsys.readouterr().err
    assert "imaging" in err and "/10 " in err and "signal" in err


def test_bad_arguments_are_refused():
    X = signals(4)
    with pytest.raises(ParameterError, match="batch_size=0"):
        list(iter_batches(X, 0))
    with pytest.raises(ParameterError, match="start=-1"):
        list(iter_batches(X, 2, start=-1))
    with pytest.raises(ParameterError, match="memory_format='nhwc'"):
        list(iter_batches(X, 2, memory_format="nhwc"))
    with pytest.raises(ParameterError, match="indices= needs an array"):
        list(iter_batches(iter([X]), 2, indices=[[0]]))
    with pytest.raises(DataError, match="chunk 1 holds cases of shape"):
        list(iter_batches(iter([X, np.zeros((2, 1, 5), np.float32)]), 2))
    with pytest.raises(DataError, match="neither an array"):
        list(iter_batches("signals.npy", 2))


def test_signalnet_outputs_and_images_go_through_the_iterator():
    from sigxfer.backbones import create_backbone
    from sigxfer.imaging import Imager
    from sigxfer.learning.network import SignalNet

    X = np.random.default_rng(0).standard_normal((7, 1, 256)).astype(np.float32)
    net = SignalNet(Imager("spectrum", sr=256.0, size=32).fit(X), create_backbone("tinynet")).eval()
    images = list(net.iter_images(X, 3))
    assert [len(i) for i in images] == [3, 3, 1]
    assert all(i.is_contiguous(memory_format=torch.channels_last) for i in images)
    with torch.no_grad():
        want = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(net.outputs(X, 3), want, rtol=1e-4, atol=1e-5)
