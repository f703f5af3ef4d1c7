#!/usr/bin/env python3
"""How fast `trtl plan` answers, against the bare Python interpreter start in the same run.

Usage: python scripts/bench_plan.py [--repeat N]

For each built-in profile, runs `trtl plan NAME --engine mocker --json` and the baseline
`python -c pass` alternately (A B A B ...), N times each, and prints medians and the ratio.
The ratio is the figure to compare between machines; the absolute times depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUILTINS = ["agg", "agg_router", "disagg", "disagg_router"]
TRTL = str(Path(sys.executable).with_name("trtl"))


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    env = {**os.environ, "XDG_STATE_HOME": tempfile.mkdtemp(), "NO_COLOR": "1"}
    baseline = [sys.executable, "-c", "pass"]
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"baseline: {shlex.join(baseline)}")
    print(f"{'command':<55} {'median':>8} {'baseline':>9} {'ratio':>6}")
    for name in BUILTINS:
        command = [TRTL, "plan", name, "--engine", "mocker", "--json"]
        timed(command, env)  # warm the file cache
        a, b = [], []
        for _ in range(args.repeat):
            a.append(timed(command, env))
            b.append(timed(baseline, env))
        med_a, med_b = statistics.median(a), statistics.median(b)
        shown = "trtl " + shlex.join(command[1:])
        print(f"{shown:<55} {med_a * 1000:>6.0f}ms {med_b * 1000:>7.0f}ms {med_a / med_b:>6.1f}")


if __name__ == "__main__":
    main()
