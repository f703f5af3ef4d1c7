#!/usr/bin/env python3
"""CLI latency: wall time of `trtl plan`, `trtl status --json` and `trtl export --k8s`.

Usage: python scripts/bench_cli.py [--quick] [--repeat N]

Runs each command and the baseline `python -c pass` in turn (A B C ... A B C ...), N times
each, and prints medians and ratios to the baseline. `trtl status` asks about a deployment
that runs (`trtl up agg --engine mocker`, started first). Each command's import time is
split by package from `python -X importtime`, to show what limits it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import _bench as bench  # scripts/ is on sys.path when a script runs

TARGET = 0.4  # s


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def import_time_by_package(args: list[str], env: dict[str, str], count: int = 8) -> str:
    """Where a command's import time goes: `-X importtime` self times summed per top-level
    package (trtl's own `profiles` includes building its pydantic models)."""
    done = subprocess.run(
        [bench.PYTHON, "-X", "importtime", "-m", "trtl.launcher", *args],
        env=env, capture_output=True, text=True, check=False, cwd=bench.REPO,
    )  # fmt: skip
    totals: dict[str, int] = {}
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        package = parts[2].strip().split(".")[0]
        totals[package] = totals.get(package, 0) + int(parts[0])
    top = sorted(totals.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{name} {us / 1000:.0f}" for name, us in top[:count])
    return f"{sum(totals.values()) / 1000:.0f} ms: {shown}, ..."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions")
    parser.add_argument("--repeat", type=int, default=15)
    bench.tree_option(parser)
    bench.bytecode_option(parser)
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    bench.print_header("CLI latency", sys.argv)
    model, env = bench.prepare(args)

    name = "bench_cli"
    up = [*bench.TRTL, "up", "agg", "--engine", "mocker", "--model", str(model), "--name", name,
          "--port", str(bench.free_port()), "--grace", "1"]  # fmt: skip
    out = open(os.devnull, "wb")  # noqa: SIM115  (closed below, after the deployment)
    deployment = bench.spawn(up, env, out)
    commands = {
        "plan": [*bench.TRTL, "plan", "disagg_router", "--engine", "mocker"],
        "plan --json": [*bench.TRTL, "plan", "disagg_router", "--engine", "mocker", "--json"],
        "status --json": [*bench.TRTL, "status", name, "--json"],
        "export": [*bench.TRTL, "export", "--k8s", "disagg", "--image", "x"],
    }
    baseline = [bench.PYTHON, "-c", "pass"]
    try:
        deadline = time.monotonic() + 120
        while (
            '"state": "ready"'
            not in subprocess.run(
                commands["status --json"], env=env, capture_output=True, text=True, check=False
            ).stdout
        ):
            if deployment.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the deployment for `trtl status` did not become ready")
            time.sleep(0.1)
        variants = [(key, lambda argv=argv: timed(argv, env)) for key, argv in commands.items()]
        variants.append(("baseline", lambda: timed(baseline, env)))
        results = bench.interleave(variants, repeat, warmup=1)
        imports = {
            key: import_time_by_package(argv[len(bench.TRTL) :], env)
            for key, argv in commands.items()
        }
    finally:
        deployment.terminate()
        bench.reap([deployment])
        out.close()

    base = bench.median(results["baseline"])
    print(f"{repeat} interleaved repetitions; baseline: {bench.show(baseline)}\n")
    rows = []
    for key, argv in commands.items():
        med = bench.median(results[key])
        verdict = "ok" if med <= TARGET else "over"
        rows.append([bench.show(argv), f"{med * 1000:.0f}", bench.spread(results[key]),
                     f"{med / base:.1f}", verdict])  # fmt: skip
    rows.append([bench.show(baseline), f"{base * 1000:.0f}", bench.spread(results["baseline"]),
                 "1.0", ""])  # fmt: skip
    bench.table(["command", "median ms", "min–max s", "× baseline", f"≤ {TARGET} s"], rows)
    print("\nimport time per package, ms (python -X importtime -m trtl.launcher ..., one run):")
    for key, top in imports.items():
        print(f"  {key}: {top}")


if __name__ == "__main__":
    main()
