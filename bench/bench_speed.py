"""Speed of the frozen and fine-tuning paths on this machine, against its own fp32 matmul roofline.

One run measures, and prints as Markdown:

1. the CPU's vector and matrix flags (avx2, avx512, amx) and the fp32 matmul roofline (GFLOP/s);
2. every engine setting in images/s, with its ratio to the plain eager NCHW loop (batch 32, what
   sigxfer did before the engines) and its fraction of the roofline (FLOPs per image counted by
   torch's FLOP counter: 0.77 GFLOP for EfficientNet-Lite0 at 224 px);
3. end to end, raw signals to embeddings through the default frozen path (``engine="auto"``): the
   first call with its calibration, a later call in the same process (the choice kept) and one
   in a new process with a cache folder, against the plain loop, and the probe accuracy of both;
4. fine-tuning images/s, the loop in NCHW and in channels_last;
5. peak RSS (VmHWM) embedding 10k and 100k synthetic signal files through the chunked, cached
   path with tinynet, one subprocess per size;
6. DDP equivalence: two gloo processes under torchrun against one process.

    python bench/bench_speed.py            # the full run: needs quiet cores, several minutes
    python bench/bench_speed.py --quick    # a smoke run with tinynet and small sizes
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from sigxfer.backbones import create_backbone, get_backbone_config
from sigxfer.data import make_devices
from sigxfer.imaging import Imager
from sigxfer.learning import calibration_cache, onnx_engine
from sigxfer.learning.engines import EngineSpec, build_engine, choose_engine
from sigxfer.learning.loop import Phase, train
from sigxfer.learning.network import SignalNet
from timing import best_rate

SRC = str(Path(__file__).resolve().parents[1] / "src")
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_flags() -> tuple[str, list[str]]:
    model, flags = "unknown", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags.update(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model, [f for f in FLAGS if f in flags]


def roofline(size: int = 2048) -> float:
    a = torch.randn(size, size)
    return best_rate(lambda: a @ a, 2 * size**3, 5) / 1e9


def gflop_per_image(backbone, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        backbone.forward_features(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def plain_loop(net, X, batch_size=32):
    """What sigxfer ran before the engines: eager NCHW, batch 32, no prefetch."""
    with torch.no_grad():
        return np.concatenate([net.embed(torch.as_tensor(X[i:i + batch_size])).numpy()
                               for i in range(0, len(X), batch_size)])


def engine_table(net, X, *, roof, gflop, repeats, compile_too):
    body, size = net.backbone, net.imager.size[0]
    images = net.imager(torch.as_tensor(X[:32])).detach()
    settings = [("plain loop (eager NCHW)", EngineSpec("torch", "fp32", "contiguous", 32))]
    settings += [(f"eager channels_last b{b}", EngineSpec("torch", "fp32", "channels_last", b)) for b in (4, 8, 32)]
    settings += [("bf16 autocast channels_last b8", EngineSpec("torch", "bf16", "channels_last", 8))]
    settings += [(f"onnxruntime b{b}", EngineSpec("onnxruntime", "fp32", None, b)) for b in (4, 8, 32)]
    threads = torch.get_num_threads()
    if threads >= 2:
        settings += [(f"onnxruntime 2 streams x {b // 2} (b{b})", EngineSpec("onnxruntime", "fp32", None, b, threads, 2))
                     for b in (2, 4)]
    if compile_too:
        settings += [("torch.compile channels_last b8", EngineSpec("compile", "fp32", "channels_last", 8)),
                     ("torch.compile bf16 b8", EngineSpec("compile", "bf16", "channels_last", 8))]
    rows, base = [], None
    for label, spec in settings:
        try:
            engine = build_engine(body, spec, example=images[:2])
            rate = best_rate(lambda: [engine.run(images[i:i + spec.batch_size]) for i in range(0, 32, spec.batch_size)],
                             32, repeats)
        except Exception as err:  # a setting this machine cannot run is reported, not fatal
            rows.append(f"| {label} | failed: {type(err).__name__} | | |")
            continue
        base = base or rate
        rows.append(f"| {label} | {rate:.1f} | {rate / base:.2f} | {rate * gflop / roof:.1%} |")
    print(f"\n### Backbone alone ({body.config.name}, {size} px, {gflop:.3g} GFLOP/image)\n")
    print("| setting | images/s | x plain loop | of roofline |\n|---|---|---|---|")
    print("\n".join(rows))


def end_to_end(net, signals, *, roof, gflop):
    X, y = signals.X, np.unique(signals.y, return_inverse=True)[1]
    start = time.perf_counter()
    old = plain_loop(net, X)
    old_rate = len(X) / (time.perf_counter() - start)
    cache = Path(tempfile.mkdtemp(prefix="sigxfer-bench-"))
    start = time.perf_counter()
    engine = choose_engine(net, X, cache_dir=cache)
    calibration = time.perf_counter() - start
    new = engine.embed(X)
    total = time.perf_counter() - start
    later = []  # a later call in this process (choice kept in memory), then a new process (read from disk)
    for fresh in (False, True):
        if fresh:
            calibration_cache.forget()
            onnx_engine._RECENT.clear()
        start = time.perf_counter()
        again = choose_engine(net, X, cache_dir=cache)
        again.embed(X)
        later.append((len(X) / (time.perf_counter() - start), again.record.get("cached")))
    shutil.rmtree(cache, ignore_errors=True)
    split = np.random.default_rng(0).permutation(len(X))
    train_idx, test_idx = split[: len(X) // 2], split[len(X) // 2:]

    def accuracy(emb):
        model = LogisticRegression(max_iter=3000).fit(emb[train_idx], y[train_idx])
        return model.score(emb[test_idx], y[test_idx])

    def row(label, rate, extra=""):
        return f"| {label} | {rate:.1f} | {rate / old_rate:.2f} | {rate * gflop / roof:.1%} | {extra} |"

    rec = engine.record
    what = f"{rec['engine']}/{rec['precision']} b{rec['batch_size']}" + (
        f" x{rec['streams']} streams" if rec.get("streams", 1) > 1 else "")
    print(f"\n### End to end, raw signals -> embeddings ({len(X)} signals)\n")
    print("| path | signals/s | x plain loop | of roofline | probe accuracy |\n|---|---|---|---|---|")
    print(row("plain loop", old_rate, f"{accuracy(old):.3f}"))
    print(row(f"default, first call (auto: {what}; calibration {calibration:.1f} s included)", len(X) / total,
              f"{accuracy(new):.3f}"))
    print(row("default, calibration excluded", len(X) / (total - calibration)))
    print(row("default, a later call (choice kept in the process)", later[0][0]))
    print(row("default, a new process with a cache folder (choice and graph read from it)", later[1][0]))
    cos = torch.nn.functional.cosine_similarity(torch.as_tensor(new), torch.as_tensor(old)).min()
    print(f"\nleast cosine default vs plain: {float(cos):.6f}; calibration record: "
          f"{json.dumps({k: rec[k] for k in ('engine', 'precision', 'batch_size', 'streams', 'reason')})}; "
          f"later calls kept in: {later[0][1]}, {'the cache folder' if later[1][1] else 'nowhere'}")


TABLES = ("engines", "end-to-end", "finetune", "memory", "ddp")


def finetune_table(net, X, *, n, epochs=1):
    y = np.arange(n) % 2
    print(f"\n### Fine-tuning, whole backbone ({n} cases, batch 16)\n\n| loop | images/s |\n|---|---|")
    for fmt in ("contiguous", "channels_last"):
        torch.manual_seed(0)
        net.backbone.reset_classifier(2)
        phases = [Phase("body", epochs, [([net.backbone], 1e-4)])]
        state = train(net, X[:n], y, phases=phases, task="classification", batch_size=16, memory_format=fmt)
        seconds = sum(r["seconds"] for r in state.history)
        print(f"| {'NCHW (before)' if fmt == 'contiguous' else 'channels_last'} | {n * epochs / seconds:.1f} |")


def last_stages_table(net, X, *, n, epochs=3):
    """Fine-tuning the last third of the stages: through the whole net each step, and from kept maps."""
    import copy
    import math

    y = np.arange(n) % 2
    k = math.ceil(len(net.backbone.stages()) / 3)
    print(f"\n### Fine-tuning the last {k} of {len(net.backbone.stages())} stages ({n} cases, batch 16, "
          f"{epochs} epochs, BatchNorm statistics frozen)\n\n| what each step runs | images/s, the kept maps' pass "
          f"included | x whole backbone |\n|---|---|---|")
    rows, outputs = [], {}
    for label, last, keep in (("every stage (whole backbone)", None, False),
                              (f"the last {k} stages, the frozen ones in front run too", k, False),
                              (f"the last {k} stages, from the frozen stages' kept maps", k, True)):
        model = copy.deepcopy(net)
        torch.manual_seed(0)
        model.backbone.reset_classifier(2)
        body = [model.backbone] if last is None else model.backbone.stages()[-last:]
        phases = [Phase("body", epochs, [([model.backbone.classifier], 1e-3), (body, 1e-4)], frozen_norm=True)]
        started = time.perf_counter()
        state = train(model, X[:n], y, phases=phases, task="classification", batch_size=16, keep_front=keep)
        rate = n * epochs / (time.perf_counter() - started)
        rows.append(rate)
        outputs[label] = model.outputs(X[:n])
        print(f"| {label} (kept from stage {state.kept_front}) | {rate:.1f} | {rate / rows[0]:.2f} |"
              if keep else f"| {label} | {rate:.1f} | {rate / rows[0]:.2f} |")
    a, b = list(outputs.values())[1:]
    print(f"\nlargest difference of the two last-{k} models' outputs: {float(np.abs(a - b).max()):.2e}")


RSS_SCRIPT = """
import sys, time, hashlib
import numpy as np, torch
from pathlib import Path
from sigxfer.backbones import create_backbone, get_backbone_config
from sigxfer.imaging import Imager
from sigxfer.learning.cache import cached_embeddings
from sigxfer.learning.network import SignalNet
folder, n, cache = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
files = sorted(folder.glob("*.npy"))[:n]
def chunks(size=256):
    for i in range(0, len(files), size):
        yield np.stack([np.load(f) for f in files[i:i + size]])
cfg = get_backbone_config("tinynet")
first = next(chunks(64))
net = SignalNet(Imager("spectrum", sr=256.0, size=32, mean=cfg.mean, std=cfg.std).fit(first),
                create_backbone("tinynet")).eval()
start = time.perf_counter()
emb, _ = cached_embeddings(net, chunks(), cache_dir=cache, key=f"{folder}:{n}", n_cases=len(files), progress=False)
seconds = time.perf_counter() - start
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(len(files), emb.shape[0], round(seconds, 2), hwm)
"""


def rss_table(sizes):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "signals"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(max(sizes)):
            np.save(folder / f"{i:06d}.npy", rng.standard_normal((1, 256)).astype(np.float32))
        print("\n### Peak memory, chunked cached extraction with tinynet (one process per size)\n")
        print("| files | signals/s | peak RSS (MiB) |\n|---|---|---|")
        for n in sizes:
            done = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(folder), str(n), f"{tmp}/cache{n}"],
                                  capture_output=True, text=True, env={**os.environ, "PYTHONPATH": SRC})
            if done.returncode:
                print(f"| {n} | failed: {done.stderr.strip().splitlines()[-1]} | |")
                continue
            files, rows, seconds, hwm = done.stdout.split()
            print(f"| {files} | {int(rows) / float(seconds):.0f} | {int(hwm) / 1024:.0f} |")


DDP_SCRIPT = """
import sys, time, numpy as np, torch
sys.path.insert(0, sys.argv[2])
from bench_speed import ddp_fit
weights, seconds = ddp_fit()
import torch.distributed as dist
if not dist.is_initialized() or dist.get_rank() == 0:
    np.savez(sys.argv[1], seconds=seconds, **weights)
"""


def ddp_fit():
    """Fine-tune tinynet a few epochs; what one process and two compare."""
    from sigxfer.learning.augment import Augmenter

    signals = make_devices(48, n_timepoints=256, sr=256.0, seed=1)
    X, y = signals.X, np.unique(signals.y, return_inverse=True)[1]
    cfg = get_backbone_config("tinynet")
    net = SignalNet(Imager("spectrum", sr=256.0, size=32, mean=cfg.mean, std=cfg.std).fit(X), create_backbone("tinynet"))
    torch.manual_seed(0)
    net.backbone.reset_classifier(2)
    start = time.perf_counter()
    train(net, X, y, phases=[Phase("body", 3, [([net.backbone], 1e-3)])], task="classification", batch_size=16,
          augmenter=Augmenter.from_config({"gain_db": 6}), seed=0)
    return {k: v.detach().numpy() for k, v in net.state_dict().items()}, time.perf_counter() - start


def ddp_table():
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
        here = str(Path(__file__).resolve().parent)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        one = subprocess.run([sys.executable, "-c", DDP_SCRIPT, f"{tmp}/one.npz", here], env=env, capture_output=True)
        script = Path(tmp) / "ddp.py"
        script.write_text(DDP_SCRIPT)
        two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
                              "127.0.0.1", "--master-port", str(port), str(script), f"{tmp}/two.npz", here],
                             env=env, capture_output=True)
        print("\n### DDP equivalence (tinynet, 3 epochs, gloo, 1 thread per process)\n")
        if one.returncode or two.returncode:
            print(f"failed: {(one.stderr or two.stderr).decode().strip().splitlines()[-1]}")
            return
        a, b = np.load(f"{tmp}/one.npz"), np.load(f"{tmp}/two.npz")
        diff = max(float(np.abs(a[k] - b[k]).max()) for k in a.files if k != "seconds")
        print("| processes | training s | max abs weight difference |\n|---|---|---|")
        print(f"| 1 | {float(a['seconds']):.2f} | |\n| 2 | {float(b['seconds']):.2f} | {diff:.2e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: tinynet, small sizes")
    parser.add_argument("--backbone", default=None, help="default efficientnet_lite0 (tinynet with --quick)")
    parser.add_argument("--n", type=int, default=None, help="signals end to end (default 1024; 96 with --quick)")
    parser.add_argument("--rss-sizes", type=int, nargs="+", default=None, help="default 10000 100000")
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES),
                        help="which tables (default all)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (tens of seconds; off with --quick)")
    args = parser.parse_args()
    name = args.backbone or ("tinynet" if args.quick else "efficientnet_lite0")
    n = args.n or (96 if args.quick else 1024)
    repeats = 1 if args.quick else 3
    model, flags = cpu_flags()
    roof = roofline(512 if args.quick else 2048)
    print(f"## sigxfer speed\n\nCPU: {model}; flags: {', '.join(flags) or 'none of ' + ', '.join(FLAGS)}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads\n\nfp32 matmul roofline: {roof:.0f} GFLOP/s")
    config = get_backbone_config(name)
    signals = make_devices(n // 2, n_timepoints=4096, sr=4096.0, seed=0)
    net = SignalNet(Imager("spectrogram", sr=signals.sr, size=config.input_size, mean=config.mean,
                           std=config.std).fit(signals.X), create_backbone(name)).eval()
    gflop = gflop_per_image(net.backbone, config.input_size)
    if "engines" in args.tables:
        engine_table(net, signals.X, roof=roof, gflop=gflop, repeats=repeats,
                     compile_too=not (args.no_compile or args.quick))
    if "end-to-end" in args.tables:
        end_to_end(net, signals, roof=roof, gflop=gflop)
    if "finetune" in args.tables:
        finetune_table(net, signals.X, n=min(n, 32 if args.quick else 64))
        last_stages_table(net, signals.X, n=min(n, 32 if args.quick else 128), epochs=1 if args.quick else 3)
    if "memory" in args.tables:
        rss_table(args.rss_sizes or ([1000, 3000] if args.quick else [10_000, 100_000]))
    if "ddp" in args.tables:
        ddp_table()


if __name__ == "__main__":
    main()
