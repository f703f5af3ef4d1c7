#!/usr/bin/env python3
"""trtl bench against aiperf run by hand: the same deployment, the same load, the same figures.

Usage: python scripts/bench_vs_aiperf.py [--quick] [--repeat N] [--concurrency 1,4]

Starts one deployment (`trtl up agg --engine mocker -d`, the tiny model), then, for each
concurrency level, runs in turn (A B A B ...) `trtl bench NAME` and aiperf directly, with
the command line a user would type from aiperf's documentation and the same workload
(input/output length, requests, warm-up, seed, ignore_eos). aiperf's own
profile_export_aiperf.json is read here without trtl's code, and the medians over the
repetitions are compared figure by figure: trtl's figures should be aiperf's, give or take
the noise between two runs. Needs the bench extra (`uv sync --extra bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import _bench as bench  # scripts/ is on sys.path when a script runs

ISL, OSL, SEED = 64, 16, 0
# (trtl's summary key, aiperf JSON metric, statistic, label)
FIGURES = (
    ("ttft_p50_ms", "time_to_first_token", "p50", "TTFT p50 ms"),
    ("ttft_p99_ms", "time_to_first_token", "p99", "TTFT p99 ms"),
    ("itl_p50_ms", "inter_token_latency", "p50", "ITL p50 ms"),
    ("requests_per_s", "request_throughput", "avg", "requests/s"),
    ("output_tok_s", "output_token_throughput", "avg", "output tok/s"),
    ("output_tok_s_per_user", "output_token_throughput_per_user", "p50", "tok/s per user"),
)
AGREE = (0.8, 1.25)  # two runs of the same load on a shared 2-core VM differ this much


def requests_at(concurrency: int) -> int:
    return 10 * concurrency


def run_trtl_bench(name: str, concurrency: int, out: Path, env: dict[str, str]) -> dict:
    argv = [*bench.TRTL, "bench", name, "--concurrency", str(concurrency),
            "--requests", str(requests_at(concurrency)), "--warmup", str(concurrency),
            "--isl", str(ISL), "--osl", str(OSL), "--seed", str(SEED),
            "--json", "-o", str(out)]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"trtl bench failed:\n{done.stderr}")
    level = json.loads(done.stdout)["runs"][0]["levels"][0]
    return {key: level[key] for key, *_ in FIGURES}


def run_aiperf(url: str, model: str, concurrency: int, out: Path, env: dict[str, str]) -> dict:
    argv = [bench.PYTHON, "-m", "aiperf", "profile", "--model", model, "--tokenizer", model,
            "--endpoint-type", "chat", "--streaming", "--url", url,
            "--concurrency", str(concurrency), "--request-count", str(requests_at(concurrency)),
            "--warmup-request-count", str(concurrency), "--isl", str(ISL), "--osl", str(OSL),
            "--random-seed", str(SEED), "--extra-inputs", "ignore_eos:true",
            "--use-server-token-count",
            "--artifact-dir", str(out), "--ui-type", "none", "--no-gpu-telemetry"]  # fmt: skip
    aiperf_env = {k: v for k, v in env.items() if k != "HF_HUB_OFFLINE"}
    done = subprocess.run(argv, env=aiperf_env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"aiperf failed:\n{done.stdout[-3000:]}")
    data = json.loads((out / "profile_export_aiperf.json").read_text())
    return {key: data[metric][stat] for key, metric, stat, _ in FIGURES}


def interleave(variants, repeat: int) -> dict[str, list[dict]]:
    """A B A B ...: load that comes and goes on the machine hits both alike."""
    results: dict[str, list[dict]] = {name: [] for name, _ in variants}
    for _ in range(repeat):
        for name, run in variants:
            results[name].append(run())
    return results


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, concurrency 2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", default="1,4")
    bench.tree_option(parser)
    bench.bytecode_option(parser)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    levels = [2] if args.quick else [int(c) for c in args.concurrency.split(",")]
    bench.print_header("trtl bench vs aiperf", sys.argv)
    model, env = bench.prepare(args)
    port = bench.free_port()
    url = f"http://127.0.0.1:{port}"
    up = [*bench.TRTL, "up", "agg", "--engine", "mocker", "--model", str(model), "--name",
          "vs-aiperf", "--port", str(port), "-d"]  # fmt: skip
    print(f"deployment:   {bench.show(up)}")
    print(f"workload:     isl {ISL}, osl {OSL}, 10 x concurrency requests, seed {SEED}\n")
    subprocess.run(up, env=env, check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="bench-vs-aiperf-"))
    try:
        for concurrency in levels:
            results = interleave(
                [
                    ("trtl", lambda c=concurrency: run_trtl_bench(
                        "vs-aiperf", c, work / f"trtl-{os.urandom(4).hex()}", env)),
                    ("aiperf", lambda c=concurrency: run_aiperf(
                        url, str(model), c, work / f"aiperf-{os.urandom(4).hex()}", env)),
                ],
                repeat,
            )  # fmt: skip
            report(concurrency, results, repeat)
    finally:
        subprocess.run([*bench.TRTL, "down", "vs-aiperf"], env=env, capture_output=True)
        print(f"raw results: {work}")


def report(concurrency: int, results: dict[str, list[dict]], repeat: int) -> None:
    print(f"## concurrency {concurrency} ({repeat} interleaved runs each, medians)")
    rows = []
    for key, _, _, label in FIGURES:
        mine = [r[key] for r in results["trtl"]]
        theirs = [r[key] for r in results["aiperf"]]
        ratio = statistics.median(mine) / statistics.median(theirs)
        # Ranges that overlap: the two differ no more than two runs of the same tool do
        # (a p99 of a few requests is close to their maximum: one slow request moves it).
        overlap = min(mine) <= max(theirs) and min(theirs) <= max(mine)
        verdict = (
            "agree" if AGREE[0] <= ratio <= AGREE[1] else "within noise" if overlap else "DIFFER"
        )
        rows.append(
            (label, f"{statistics.median(mine):.2f}", spread(mine),
             f"{statistics.median(theirs):.2f}", spread(theirs), f"{ratio:.2f}", verdict)
        )  # fmt: skip
    header = ["figure", "trtl bench", "min-max", "aiperf", "min-max", "ratio", ""]
    bench.table(header, rows)
    print()


if __name__ == "__main__":
    main()
