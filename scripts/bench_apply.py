#!/usr/bin/env python3
"""Live change vs restart: `trtl apply` of one role against `trtl down` + `trtl up -d`.

Usage: python scripts/bench_apply.py [--quick] [--repeat N] [--streams N]

One `disagg` deployment (mocker, 2 decode replicas, tokens at real-time speed) serves a
streaming load the whole time: `--streams` clients, each sending 64-token streaming chats
back to back (and waiting 100 ms after a failed one, as a retrying client would).
Interleaved, in the same run, each repetition changes the decode role's environment:
  apply    `trtl apply disagg … --set workers.decode.env.MARK=N`: the two decode
           workers are replaced one by one (the new one starts beside the old one);
  down+up  `trtl down` then `trtl up -d` with the same change: the whole graph restarts.
Measured: from the command's start until the changed role is healthy (apply returns once
the new workers are registered; `up -d` once the deployment is ready), and the requests
that failed between one second before and one second after.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

import _bench as bench  # scripts/ is on sys.path when a script runs

NAME = "bench_apply"
MAX_TOKENS = 64


class Traffic:
    """``streams`` clients sending streaming chats back to back until stopped."""

    def __init__(self, url: str, model: str, streams: int):
        self.url, self.model, self.streams = url, model, streams
        self.ok = self.failed = 0
        self.kinds: dict[str, int] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(streams)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _client(self) -> None:
        from tests.e2e.load import StreamingLoad

        while not self._stop.is_set():
            with StreamingLoad(self.url, self.model, requests=1, concurrency=1,
                               max_tokens=MAX_TOKENS, read_timeout=30) as load:  # fmt: skip
                report = load.join(timeout=60)
            with self._lock:
                for record in report.records:
                    if record.whole:
                        self.ok += 1
                    else:
                        self.failed += 1
                        self.kinds[record.failure] = self.kinds.get(record.failure, 0) + 1
            if report.failed:
                time.sleep(0.1)


def _trtl(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([*bench.TRTL, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"trtl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--streams", type=int, default=4, help="concurrent clients")
    bench.tree_option(parser)
    bench.bytecode_option(parser)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    bench.print_header("live change: trtl apply of one role vs down + up", sys.argv)
    model, env = bench.prepare(args)
    sys.path.insert(0, str(bench.REPO))  # tests.e2e.load: the fault tests' streaming load
    port = bench.free_port()
    graph = ["disagg", "--engine", "mocker", "--model", str(model), "--name", NAME,
             "--port", str(port), "--set", "mocker.speedup_ratio=1",
             "--set", "workers.decode.replicas=2"]  # fmt: skip
    _trtl(env, "up", *graph, "-d", "--quiet", "--grace", "5")
    url, served = f"http://127.0.0.1:{port}", str(model)
    results: dict[str, list[tuple[float, int, int]]] = {"apply": [], "down+up": []}
    mark = 0
    try:
        for i in range(repeat):
            for variant in results:
                mark += 1
                change = ["--set", f"workers.decode.env.MARK={mark}"]
                with Traffic(url, served, args.streams) as traffic:
                    time.sleep(1.0)
                    started = time.monotonic()
                    if variant == "apply":
                        _trtl(env, "apply", *graph, *change)
                    else:
                        _trtl(env, "down", NAME, "--grace", "5")
                        _trtl(env, "up", *graph, *change, "-d", "--quiet", "--grace", "5")
                    took = time.monotonic() - started
                    time.sleep(1.0)
                results[variant].append((took, traffic.failed, traffic.ok + traffic.failed))
                print(f"  round {i + 1} {variant:8} healthy after {took:.2f} s; "
                      f"{traffic.failed}/{traffic.ok + traffic.failed} requests failed "
                      f"{traffic.kinds or ''}")  # fmt: skip
    finally:
        subprocess.run([*bench.TRTL, "down", NAME, "--grace", "2"], env=env, capture_output=True)

    print(f"\ngraph: trtl up {' '.join(graph)}")
    print(f"load: {args.streams} clients, {MAX_TOKENS}-token streaming chats back to back\n")
    rows = []
    for variant, runs in results.items():
        took = [r[0] for r in runs]
        rows.append([variant, f"{bench.median(took):.2f}", bench.spread(took),
                     f"{sum(r[1] for r in runs)}/{sum(r[2] for r in runs)}"])  # fmt: skip
    bench.table(["variant", "healthy after (s, median)", "min–max", "failed/requests"], rows)


if __name__ == "__main__":
    main()
