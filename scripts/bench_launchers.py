#!/usr/bin/env python3
"""Time to ready by launcher: what starting the same Dynamo processes costs, launcher by launcher.

Usage: python scripts/bench_launchers.py [--repeat N] [--profiles agg_router,disagg] [--raw FILE]
                                         [--trtl-tree DIR]

`bench_ready.py` compares `trtl up P` with the bare launch (this script's own process starts
the plan's processes, no launcher at all). This one asks where the floor is: the same
processes (argv and full environment of trtl's plan for P on the mocker) started by

  bare    this script, one after another (`subprocess`), timed from the first start;
  shell   a POSIX shell script, `env -i VAR=... PROGRAM ARGS >>LOG 2>&1 &` for each process,
          then `wait`: how Dynamo's own example launch scripts start a graph;
  python  a Python launcher of a few lines (its interpreter, then `fork` + `execve` of each
          process, then `wait`): the least any launcher written in Python does;
  trtl    `trtl up P --engine mocker ...` from its cached plan, as in `bench_ready.py`;

in interleaved rounds (bare, shell, python, trtl, then the reverse order, ...), each but bare
timed from just before its command is launched until `GET /v1/models` lists the model
(polled every 5 ms). The discovery directory is emptied before every launch, outside the
timing (a killed worker's registration would otherwise be listed at once). The figures:
each launcher's paired ratio against bare (the median of the rounds' own ratios, with its 90 %
bootstrap interval) and trtl's against the Python launcher's.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import _bench as bench  # scripts/ is on sys.path when a script runs
import bench_ready

Job = tuple[Sequence[str], dict[str, str], str]  # argv, environment, log file

PYTHON_LAUNCHER = """\
import os

JOBS = {jobs!r}

for argv, env, log in JOBS:
    if os.fork() == 0:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        try:
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def shell_launcher(jobs: Sequence[Job]) -> str:
    """A POSIX shell script starting ``jobs`` in the background, each with exactly its
    environment, then waiting for them."""
    lines = ["#!/bin/sh"]
    for argv, env, log in jobs:
        assigned = " ".join(shlex.quote(f"{name}={value}") for name, value in env.items())
        lines.append(f"env -i {assigned} {shlex.join(argv)} >>{shlex.quote(log)} 2>&1 </dev/null &")
    lines.append("wait")
    return "\n".join(lines) + "\n"


def python_launcher(jobs: Sequence[Job]) -> str:
    """A Python module that starts ``jobs`` (fork + execve, nothing else) and waits."""
    return PYTHON_LAUNCHER.format(jobs=[(list(a), dict(e), str(log)) for a, e, log in jobs])


def write_launchers(folder: Path, jobs: Sequence[Job]) -> tuple[list[str], list[str]]:
    """Write both launchers into ``folder``; their command lines (shell, python). The Python
    one is a module, run by import, so that its bytecode is cached as trtl's is."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "launch.sh").write_text(shell_launcher(jobs))
    (folder / "bench_launch.py").write_text(python_launcher(jobs))
    return ["/bin/sh", str(folder / "launch.sh")], [bench.PYTHON, "-c", "import bench_launch"]


class Launchers:
    """One profile's four launches, each returning seconds to ready."""

    def __init__(self, profile: str, model: Path, env: dict[str, str], home: Path):
        from trtl.launcher.deployments.run_setup import child_env
        from trtl.launcher.planning.plan import PlanOptions, build_plan
        from trtl.profiles.loader import load_profile

        self.runner = bench_ready.Runner(profile, model, env, home)
        loaded = load_profile(profile, model=str(model), engine="mocker")
        options = PlanOptions(deployment=f"launchers_{profile}", http_port=bench.free_port())
        self.plan = build_plan(loaded, options)
        envs = child_env(self.plan)
        jobs = [(p.argv, envs[p.name], str(self.plan.run_dir.logs / f"{p.name}.log"))
                for p in self.plan.processes]  # fmt: skip
        folder = home / f"launchers-{profile}"
        self.shell_argv, self.python_argv = write_launchers(folder, jobs)
        self.env = {**env, "PYTHONPATH": os.pathsep.join([str(folder), env.get("PYTHONPATH", "")])}
        self.port = int(self.plan.frontend_url.rsplit(":", 1)[1])

    def bare(self) -> float:
        return self.runner.bare()

    def trtl(self) -> float:
        return self.runner.trtl(bench._TREE)

    def shell(self) -> float:
        return self._launch(self.shell_argv)

    def python(self) -> float:
        return self._launch(self.python_argv)

    def _launch(self, argv: list[str]) -> float:
        bench.fresh_run_dir(self.plan)  # an empty discovery dir, as every other launch finds
        start = time.perf_counter()
        # Its processes stay in its process group: killing the group stops them all.
        proc = bench.spawn(argv, self.env, subprocess.DEVNULL)
        try:
            ready = bench.wait_listed(
                self.port,
                self.plan.profile.served_name,
                bench_ready.READY_TIMEOUT,
                alive=lambda: proc.poll() is None,
            )
        finally:
            bench.kill_group(proc.pid)
            bench.reap([proc])
        time.sleep(bench_ready.SETTLE)  # the exits must not overlap the next launch
        return ready - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profiles", default="agg_router")
    parser.add_argument("--raw", metavar="FILE", help="also write every launch's seconds as JSON")
    bench.tree_option(parser)
    bench.bytecode_option(parser)
    args = parser.parse_args()
    at_start = bench.print_header("time to ready by launcher, against the bare launch", sys.argv)
    model, env = bench.prepare(args)
    print(f"repetitions: {args.repeat} rounds after 1 warm-up, the order reversed every round")
    every = bench.POLL_INTERVAL * 1000
    print(f"readiness: GET /v1/models lists the model, polled every {every:g} ms\n")

    names = ("bare", "shell", "python", "trtl")
    raw: dict[str, dict[str, list[float]]] = {}
    rows = []
    for profile in args.profiles.split(","):
        launchers = Launchers(profile, model, env, Path(env["HOME"]))
        results: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(1 + args.repeat):
            order = names if round_ % 2 == 0 else names[::-1]
            for name in order:
                seconds = getattr(launchers, name)()
                if round_:
                    results[name].append(seconds)
        raw[profile] = results
        medians = " ".join(f"{name} {bench.median(results[name]):.3f}" for name in names)
        print(f"{profile}: medians (s) {medians}")
        for a, b in (("shell", "bare"), ("python", "bare"), ("trtl", "bare"), ("trtl", "python")):
            paired = bench.paired_ratio(results[a], results[b])
            rows.append([profile, f"{a} / {b}", *bench.paired_cells(paired)])
    print(f"\neach round's own ratio (median of {args.repeat}, 90 % bootstrap interval):")
    bench.table(["profile", "launchers", "paired ratio", "interval"], rows)
    bench.end_run(at_start, raw, args.raw)


if __name__ == "__main__":
    main()
