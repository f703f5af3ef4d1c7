#!/usr/bin/env python3
"""trtl's own overhead: its memory and idle CPU while supervising, and its log throughput.

Usage: python scripts/bench_overhead.py [--quick] [--repeat N] [--idle SECONDS] [--lines N]

1. Memory and idle CPU. `trtl up disagg_router --engine mocker` (4 processes); once ready,
   the supervisor process's RSS (psutil, the trtl process only, not its children) and its
   CPU time (psutil cpu_times, user+system, all its threads) over --idle seconds, repeated.
   The Dynamo processes' own RSS and idle CPU in the same windows are the baseline.
2. Log throughput. A chatty process: `trtl up agg --engine mocker --python WRAPPER`, where
   WRAPPER is a shell script that, when asked to run `-m dynamo.mocker`, first runs a
   flooder (one `os.write` per log-like line, as fast as it can, N lines) and then execs
   the real Python. The flooder times itself, so the rate is what the process achieved
   while trtl read its pipe (trtl's stdout is a file). The baseline, interleaved: the same
   flooder with stdout redirected into a file directly. Ratio = through trtl / direct.
   The worker's log file must hold every line.
3. A flood nobody reads. The same, with trtl's stdout a pipe nobody reads for the whole
   flood (a paused terminal): trtl's RSS must stay bounded, the log file complete, and the
   terminal must get a counted "lines skipped" note once it reads again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench as bench  # scripts/ is on sys.path when a script runs

FLOODER = r"""
import json, os, sys, time
count, result = int(sys.argv[1]), sys.argv[2]
line = b"2026-11-27T15:00:00.123456Z  INFO dynamo_runtime::bench: flood line %08d, "
line += b"x" * 40 + b"\n"
write = os.write
start = time.perf_counter()
for i in range(count):
    write(1, line % i)
seconds = time.perf_counter() - start
with open(result + ".tmp", "w") as out:
    json.dump({"lines": count, "bytes": count * len(line % 0), "seconds": seconds}, out)
os.replace(result + ".tmp", result)
"""

WRAPPER = """#!/bin/sh
# A chatty worker for the log-throughput benchmark. Run as `WRAPPER -m dynamo.mocker ...`,
# it starts the real mocker in the background (same process group, same stdout: trtl
# supervises both) and then floods stdout each time the benchmark drops a `go` file.
# Anything else (the frontend, trtl's engine-import check) runs the real Python as is.
[ "$2" = "dynamo.mocker" ] || exec {python} "$@"
{python} "$@" &
trap 'kill $! 2>/dev/null; exit 143' TERM INT
while kill -0 $! 2>/dev/null; do
  if [ -e {dir}/go ]; then
    lines=$(cat {dir}/go); rm -f {dir}/go
    {python} {flooder} "$lines" {dir}/result.json
  fi
  sleep 0.02
done
"""


def _read_state(name: str):
    from trtl.launcher.deployments.paths import RunDir
    from trtl.launcher.deployments.state import read_state

    try:
        return read_state(RunDir.for_deployment(name), as_written=True)
    except Exception:
        return None


def _wait_state(name: str, proc: subprocess.Popen, wanted: tuple[str, ...], timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _read_state(name)
        if state is not None and state.supervisor_pid == proc.pid and state.state in wanted:
            return state
        if proc.poll() is not None:
            raise RuntimeError(f"trtl ended with exit code {proc.returncode}")
        time.sleep(0.02)
    raise RuntimeError(f"{name} not {wanted} within {timeout:g} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
    bench.reap([proc])


# --- 1. memory and idle CPU --------------------------------------------------------------------


def memory_and_idle(env: dict[str, str], model: Path, repeat: int, idle: float) -> None:
    import psutil

    name = "bench_overhead"
    argv = [*bench.TRTL, "up", "disagg_router", "--engine", "mocker", "--model", str(model),
            "--name", name, "--port", str(bench.free_port()), "--grace", "2"]  # fmt: skip
    print(f"1. memory and idle CPU: {bench.show(argv)}  (stdout to a file)")
    out = (Path(env["HOME"]) / "overhead.out").open("wb")
    proc = bench.spawn(argv, env, out)
    try:
        state = _wait_state(name, proc, ("ready",), 120)
        time.sleep(3.0)  # past start-up: the prober has slowed to its idle interval
        trtl = psutil.Process(proc.pid)
        workers = {p.name: psutil.Process(p.pid) for p in state.processes}
        bare = subprocess.Popen([bench.PYTHON, "-c", "import time; time.sleep(3600)"])
        rows = []
        for _ in range(repeat):
            before = {n: p.cpu_times() for n, p in [("trtl", trtl), *workers.items()]}
            time.sleep(idle)
            cpu = {}
            for n, p in [("trtl", trtl), *workers.items()]:
                now = p.cpu_times()
                cpu[n] = (now.user + now.system - before[n].user - before[n].system) / idle
            rss = {n: p.memory_info().rss for n, p in [("trtl", trtl), *workers.items()]}
            rows.append((cpu, rss, trtl.num_threads(), psutil.Process(bare.pid).memory_info().rss))
        bare.kill()
        bare.wait()
    finally:
        _stop(proc)
        out.close()
    names = ["trtl", *workers]
    table = []
    for n in names:
        rss = bench.median([r[1][n] for r in rows]) / 2**20
        cpu = bench.median([r[0][n] for r in rows]) * 100
        label = n if n != "trtl" else "trtl (supervisor)"
        table.append([label, f"{rss:.1f}", f"{max(cpu, 0.0):.3f}"])
    bare_rss = bench.median([r[3] for r in rows]) / 2**20
    table.append(["python -c 'sleep' (bare interpreter)", f"{bare_rss:.1f}", "-"])
    print(f"   {len(rows)} windows of {idle:g} s; medians\n")
    bench.table(["process", "RSS MiB", "idle CPU % of a core"], table)
    trtl_rss = bench.median([r[1]["trtl"] for r in rows]) / 2**20
    trtl_cpu = bench.median([r[0]["trtl"] for r in rows]) * 100
    print(f"\n   trtl RSS {trtl_rss:.1f} MiB (target ≤ 80 MB; {trtl_rss / bare_rss:.1f}× a bare "
          f"interpreter), idle CPU {trtl_cpu:.3f} % (target ≤ 0.5 %), "
          f"{rows[-1][2]} threads\n")  # fmt: skip


# --- 2. log throughput --------------------------------------------------------------------------


class Flood:
    """A deployment whose worker floods its stdout on demand, and the same flood into a file."""

    def __init__(self, env: dict[str, str], model: Path, name: str):
        self.env = env
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix="trtl-flood-", dir=env["HOME"]))
        self.flooder = self.dir / "flooder.py"
        self.flooder.write_text(FLOODER)
        wrapper = self.dir / "python"
        wrapper.write_text(WRAPPER.format(python=bench.PYTHON, flooder=self.flooder, dir=self.dir))
        wrapper.chmod(0o755)
        self.result = self.dir / "result.json"
        self.command = [*bench.TRTL, "up", "agg", "--engine", "mocker", "--model", str(model),
                        "--python", str(wrapper), "--name", name,
                        "--port", str(bench.free_port()), "--grace", "1"]  # fmt: skip
        self.proc: subprocess.Popen | None = None
        self.line_bytes = 0
        self.trtl_cpu: list[float] = []  # trtl's CPU seconds per flood
        self.floods: list[int] = []  # lines of each flood through trtl, in order

    def up(self, stdout) -> None:
        self.proc = bench.spawn(self.command, self.env, stdout)
        _wait_state(self.name, self.proc, ("ready",), 120)
        time.sleep(2.0)  # past start-up: the prober polls at its idle pace

    def down(self) -> None:
        if self.proc is not None:
            _stop(self.proc)

    def _rate(self) -> float:
        data = json.loads(self.result.read_text())
        self.result.unlink()
        self.line_bytes = data["bytes"] // data["lines"]
        return data["bytes"] / data["seconds"] / 1e6  # MB/s

    def direct(self, lines: int) -> float:
        from trtl.launcher.deployments.run_setup import PRESENTATION_ENV

        env = {**self.env, **PRESENTATION_ENV, "PYTHONUNBUFFERED": "1"}
        with (self.dir / "direct.log").open("wb") as out:
            argv = [bench.PYTHON, str(self.flooder), str(lines), str(self.result)]
            subprocess.run(argv, env=env, stdout=out, check=True)
        time.sleep(0.2)
        return self._rate()

    def through_cat(self, lines: int) -> float:
        """The same flood into a pipe that `cat` copies to a file: the least a reader costs."""
        from trtl.launcher.deployments.run_setup import PRESENTATION_ENV

        env = {**self.env, **PRESENTATION_ENV, "PYTHONUNBUFFERED": "1"}
        argv = [bench.PYTHON, str(self.flooder), str(lines), str(self.result)]
        with (self.dir / "cat.log").open("wb") as out:
            cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=out)
            subprocess.run(argv, env=env, stdout=cat.stdin, check=True)
            cat.stdin.close()
            cat.wait()
        time.sleep(0.2)
        return self._rate()

    def through_trtl(self, lines: int) -> float:
        import psutil

        assert self.proc is not None
        trtl = psutil.Process(self.proc.pid)
        cpu = trtl.cpu_times()
        (self.dir / "go.tmp").write_text(str(lines))
        (self.dir / "go.tmp").rename(self.dir / "go")
        deadline = time.monotonic() + 300
        while not self.result.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"trtl ended ({self.proc.returncode}) before the flood did")
            time.sleep(0.01)
        time.sleep(0.05)  # the last chunk through trtl
        now = trtl.cpu_times()
        self.trtl_cpu.append(now.user + now.system - cpu.user - cpu.system)
        self.floods.append(lines)
        time.sleep(0.2)
        return self._rate()

    def log_complete(self) -> bool:
        """Every flooded line, flood after flood, in order, in the worker's log file (and
        its rotated copies, oldest first: ``worker-0.log.N`` … ``.1``)."""
        from trtl.launcher.deployments.paths import RunDir

        log = RunDir.for_deployment(self.name).logs / "worker-0.log"
        copies = sorted(log.parent.glob("worker-0.log.*"), key=lambda p: -int(p.suffix[1:]))
        expected = iter([i for n in self.floods for i in range(n)])
        for path in [*copies, log]:
            with path.open("rb") as handle:
                for raw in handle:
                    flooded = b" flood line " in raw
                    number = int(raw.split(b" flood line ")[1][:8]) if flooded else None
                    if flooded and number != next(expected, None):
                        return False
        return next(expected, None) is None


def throughput(env: dict[str, str], model: Path, repeat: int, lines: int) -> None:
    flood = Flood(env, model, "bench_flood")
    out = (flood.dir / "trtl.out").open("wb")
    try:
        flood.up(out)
        variants = [
            ("trtl", lambda: flood.through_trtl(lines)),
            ("direct", lambda: flood.direct(lines)),
            ("cat", lambda: flood.through_cat(lines)),
        ]
        results = bench.interleave(variants, repeat, warmup=1)
        complete = flood.log_complete()
    finally:
        flood.down()
        out.close()
    trtl, direct = bench.median(results["trtl"]), bench.median(results["direct"])
    mb = lines * flood.line_bytes / 1e6
    print(f"2. log throughput: floods of {lines} lines of {flood.line_bytes} bytes, one write each")
    print(f"   through trtl: {bench.show(flood.command)}")
    print("     (stdout to a file; WRAPPER runs the mocker and floods on demand once ready)")
    print(f"   direct:       python {flood.flooder.name} {lines} RESULT > FILE")
    print(f"   cat:          python {flood.flooder.name} {lines} RESULT | cat > FILE\n")
    cat = bench.median(results["cat"])
    bench.table(
        ["variant", "MB/s median", "min–max", "vs direct"],
        [["through trtl", f"{trtl:.1f}", bench.spread(results["trtl"]), f"{trtl / direct:.2f}"],
         ["direct to a file", f"{direct:.1f}", bench.spread(results["direct"]), "1.00"],
         ["through a pipe to cat", f"{cat:.1f}", bench.spread(results["cat"]),
          f"{cat / direct:.2f}"]],
    )  # fmt: skip
    cpu = bench.median(flood.trtl_cpu[1:] or flood.trtl_cpu)
    print(f"\n   ratio {trtl / direct:.2f} (target ≥ 0.9); trtl's CPU per flood {cpu:.3f} s "
          f"({cpu / mb * 1000:.1f} ms per MB); worker log complete: {complete}\n")  # fmt: skip


# --- 3. a flood nobody reads --------------------------------------------------------------------


def unread_flood(env: dict[str, str], model: Path, lines: int) -> None:
    import threading

    import psutil

    flood = Flood(env, model, "bench_unread")
    read_fd, write_fd = os.pipe()
    seen: list[bytes] = []
    reader = threading.Thread(target=lambda: seen.extend(os.fdopen(read_fd, "rb")), daemon=True)
    with os.fdopen(write_fd, "wb") as write_end:
        try:
            # Start-up output fits in the pipe: nobody reads it until the flood is over.
            flood.up(write_end)
            rss_before = psutil.Process(flood.proc.pid).memory_info().rss / 2**20
            flood.through_trtl(lines)
            rss_flooded = psutil.Process(flood.proc.pid).memory_info().rss / 2**20
            reader.start()  # the terminal reads again
            time.sleep(1.0)
            complete = flood.log_complete()
        finally:
            flood.down()
    reader.join(timeout=10)
    printed = sum(1 for raw in seen if b" flood line " in raw)
    notes = [raw.decode(errors="replace").rstrip() for raw in seen if b"skipped" in raw]
    print(f"3. a flood nobody reads: {lines} lines while trtl's stdout is a pipe nobody reads")
    print(f"   trtl RSS before {rss_before:.1f} MiB, after the flood {rss_flooded:.1f} MiB; "
          f"worker log complete: {complete}")  # fmt: skip
    print(f"   flood lines shown once the terminal read again: {printed}; skipped notes:")
    for note in notes[:3]:
        print(f"     {note}")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 short window, 1 repetition")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 2,3")
    bench.tree_option(parser)
    bench.bytecode_option(parser)
    args = parser.parse_args()
    repeat, idle, lines = (1, 5.0, 50_000) if args.quick else (args.repeat, args.idle, args.lines)
    bench.print_header("trtl's overhead: memory, idle CPU, log throughput", sys.argv)
    model, env = bench.prepare(args)
    parts = args.parts.split(",")
    if "1" in parts:
        memory_and_idle(env, model, min(repeat, 3), idle)
    if "2" in parts:
        throughput(env, model, repeat, lines)
    if "3" in parts:
        unread_flood(env, model, lines * 4)


if __name__ == "__main__":
    main()
