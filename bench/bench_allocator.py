"""Freed memory kept in the process (sigxfer's default) against malloc as glibc sets it, same run.

``import sigxfer`` raises glibc's mmap and trim thresholds (``sigxfer._allocator``);
``SIGXFER_MALLOC=system`` leaves them. Each workload runs in a fresh process per setting, the two
settings one after the other:

1. the engine and fine-tuning tables of ``bench_speed.py`` (EfficientNet-Lite0 at 224 px);
2. ``sigxfer train --strategy auto`` on 60 synthetic device signals, then ``sigxfer predict`` of
   them with the model it wrote: wall, user and system seconds of the command.

    python bench/bench_allocator.py            # about 10 minutes on 2 cores; needs quiet cores
    python bench/bench_allocator.py --quick    # tinynet, the speed tables only: checks the script
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = ("system", "keep")
ROW = re.compile(r"^\| (?P<label>[^|]+?) \| (?P<rate>[0-9.]+) \|")


def env_for(setting: str) -> dict:
    return {**os.environ, "SIGXFER_MALLOC": setting}


def speed_rows(setting: str, quick: bool) -> dict:
    """``{table: {label: images/s}}`` of bench_speed's engine and fine-tuning tables."""
    cmd = [sys.executable, str(HERE / "bench_speed.py"), "--tables", "engines", "finetune", "--no-compile"]
    out = subprocess.run(cmd + (["--quick"] if quick else []), capture_output=True, text=True, check=True,
                         env=env_for(setting)).stdout
    tables, table = {}, None
    for line in out.splitlines():
        if line.startswith("### "):
            table = line[4:].strip()
            tables[table] = {}
        elif table and (m := ROW.match(line)):
            tables[table][m["label"]] = float(m["rate"])
    return tables


def timed(cmd, setting: str) -> tuple[float, float, float]:
    """Wall, user and system seconds of ``cmd`` run in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env_for(setting), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def cli_rows(work: Path) -> list[str]:
    sigxfer = str(Path(sys.executable).with_name("sigxfer"))
    data = work / "data"
    subprocess.run([sigxfer, "synth", "devices", str(data), "--n-per-class", "30", "--seed", "1"], check=True,
                   stdout=subprocess.DEVNULL)
    runs = {}
    for setting in SETTINGS:
        model = work / f"model-{setting}.sigx"
        runs[("train", setting)] = timed([sigxfer, "train", str(data), "-o", str(model), "--strategy", "auto",
                                          "--quiet"], setting)
        runs[("predict", setting)] = timed([sigxfer, "predict", str(model), str(data), "--quiet"], setting)
    rows = []
    for step, label in (("train", "`sigxfer train --strategy auto`, 60 signals"),
                        ("predict", "`sigxfer predict` of those 60 with that model")):
        (w0, u0, s0), (w1, u1, s1) = runs[(step, "system")], runs[(step, "keep")]
        rows.append(f"| {label} | {w0:.1f} s (user {u0:.1f}, sys {s0:.1f}) | {w1:.1f} s (user {u1:.1f}, "
                    f"sys {s1:.1f}) | {w0 / w1:.2f}x |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tinynet, speed tables only")
    parser.add_argument("--parts", nargs="+", choices=("speed", "commands"), default=["speed", "commands"],
                        help="what to run (default both)")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from timing import machine

    started = time.perf_counter()
    load = os.getloadavg()[0]
    speeds = {setting: speed_rows(setting, args.quick) if "speed" in args.parts else {} for setting in SETTINGS}
    print("## Freed memory kept (the default) against glibc's own thresholds (`SIGXFER_MALLOC=system`)\n")
    for table, rates in speeds["system"].items():
        print(f"### {table}\n\n| setting | system: images/s | kept: images/s | kept / system |\n|---|---|---|---|")
        for label, rate in rates.items():
            kept = speeds["keep"].get(table, {}).get(label)
            print(f"| {label} | {rate:.1f} | " + ("– | – |" if kept is None else f"{kept:.1f} | {kept / rate:.2f}x |"))
        print()
    if "commands" in args.parts and not args.quick:
        with tempfile.TemporaryDirectory(prefix="sigxfer-bench-alloc-") as work:
            rows = cli_rows(Path(work))
        print("### Whole commands\n\n| command | system | kept | system / kept |\n|---|---|---|---|")
        print("\n".join(rows) + "\n")
    info = machine()
    flags = (" --quick" if args.quick else "") + ("" if len(args.parts) == 2 else " --parts " + " ".join(args.parts))
    print(f"Command: `python bench/bench_allocator.py{flags}`; "
          f"{info['cpus']} CPUs ({info['processor']}, {info['platform']}), torch {info['torch']}; "
          f"{(time.perf_counter() - started) / 60:.1f} min; 1-minute load {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after.")


if __name__ == "__main__":
    main()
