#!/usr/bin/env python3
"""Recovery: kill -9 of one worker of `agg_router` under a streaming load.

Usage: python scripts/bench_recovery.py [--quick] [--repeat N] [--streams N]

Each repetition starts a fresh `trtl up agg_router --engine mocker` (so every kill is a
first failure: trtl's restart delay doubles with repeated failures of one process), waits
until it is ready, then, interleaved:
  bare  the baseline: one more mocker with the worker's very argv and environment (the
        plan API) started directly into the deployment, timed until its status server
        reports it registered (polled every 5 ms), then stopped: how fast a worker can
        come up on this machine right now;
  kill  a streaming load (`--streams` concurrent chats, each 64 tokens, 4 rounds) against
        the frontend; once every stream is mid-flight, SIGKILL of one worker. Timed from the
        kill until the restarted worker's status server reports it registered, and until
        trtl's state says `ready` again (polled every 5 ms). Every request must end whole:
        a finish reason and `[DONE]`, no error frame (the frontend's migration moves the
        killed worker's streams to the other worker).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import _bench as bench  # scripts/ is on sys.path when a script runs

NAME = "bench_recovery"
MAX_TOKENS = 64


def _state():
    from trtl.launcher.deployments.paths import RunDir
    from trtl.launcher.deployments.state import read_state

    try:
        return read_state(RunDir.for_deployment(NAME), as_written=True)
    except Exception:
        return None


def _registered(port: int) -> bool:
    from trtl.launcher.supervision.probe import worker_registered

    conn_body = bench.get_json_any(port, "/health")
    return conn_body is not None and worker_registered(*conn_body)


class Round:
    """One deployment: its bare-start baseline and its kill, with what each measured."""

    def __init__(self, env: dict[str, str], model: Path, streams: int):
        self.env = env
        self.model = str(model)
        self.streams = streams
        self.port = bench.free_port()
        self.command = [*bench.TRTL, "up", "agg_router", "--engine", "mocker",
                        "--model", self.model, "--name", NAME, "--port", str(self.port),
                        "--grace", "2"]  # fmt: skip
        self.proc: subprocess.Popen | None = None

    def up(self) -> None:
        out = (Path(self.env["HOME"]) / "recovery.out").open("ab")
        self.proc = bench.spawn(self.command, self.env, out)
        out.close()
        deadline = time.monotonic() + 120
        while True:
            state = _state()
            if state and state.supervisor_pid == self.proc.pid and state.state == "ready":
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{NAME} did not become ready ({self.proc.returncode})")
            time.sleep(0.02)

    def down(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            bench.reap([self.proc])
            time.sleep(0.3)

    def bare_start(self) -> float:
        """Seconds for a directly started worker (the plan's argv/env) to register."""
        from trtl.launcher.deployments.run_setup import child_env
        from trtl.launcher.planning.plan import PlanOptions, build_plan
        from trtl.profiles.loader import load_profile

        profile = load_profile("agg_router", model=self.model, engine="mocker")
        plan = build_plan(profile, PlanOptions(deployment=NAME, http_port=self.port))
        worker = next(p for p in plan.processes if p.role != "frontend")
        env = child_env(plan)[worker.name]  # a fresh, free DYN_SYSTEM_PORT
        port = int(env["DYN_SYSTEM_PORT"])
        log = (Path(self.env["HOME"]) / "bare-worker.log").open("ab")
        start = time.perf_counter()
        proc = bench.spawn(worker.argv, env, log)
        try:
            while not _registered(port):
                if proc.poll() is not None or time.perf_counter() - start > 60:
                    raise RuntimeError("the bare worker did not register")
                time.sleep(bench.POLL_INTERVAL)
            took = time.perf_counter() - start
        finally:
            bench.kill_group(proc.pid, signal.SIGTERM)  # deregisters at once
            bench.reap([proc], timeout=10)
            log.close()
        time.sleep(0.3)
        return took

    def kill(self, victim: str) -> dict[str, float]:
        from tests.e2e.load import StreamingLoad

        state = _state()
        assert state is not None
        proc = next(p for p in state.processes if p.name == victim)
        url = state.frontend_url
        load = StreamingLoad(url, self.model, requests=4 * self.streams,
                             concurrency=self.streams, max_tokens=MAX_TOKENS)  # fmt: skip
        with load:
            load.wait_streaming(self.streams)
            killed = time.perf_counter()
            os.kill(proc.pid, signal.SIGKILL)
            registered = ready = None
            gone = False  # the killed worker's status server stopped answering
            while ready is None or registered is None:
                now = time.perf_counter()
                if now - killed > 60:
                    raise RuntimeError(f"{victim} was not back within 60 s")
                if registered is None:
                    up = _registered(proc.ports["system"])
                    gone = gone or not up
                    if up and gone:
                        registered = now - killed
                if ready is None:
                    fresh = _state()
                    back = fresh and next(p for p in fresh.processes if p.name == victim)
                    if back and back.pid != proc.pid and fresh.state == "ready":
                        ready = now - killed
                time.sleep(bench.POLL_INTERVAL)
            report = load.join(timeout=120)
        return {
            "registered": registered,
            "ready": ready,
            "failed": len(report.failed),
            "requests": len(report.records),
            "kinds": dict(report.failure_kinds()),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--streams", type=int, default=4, help="concurrent streams")
    bench.tree_option(parser)
    bench.bytecode_option(parser)
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    bench.print_header("recovery: kill -9 of a worker of agg_router under streaming load", sys.argv)
    model, env = bench.prepare(args)
    sys.path.insert(0, str(bench.REPO))  # tests.e2e.load: the fault tests' streaming load

    bare: list[float] = []
    kills: list[dict] = []
    command: list[str] = []
    for i in range(repeat):
        round_ = Round(env, model, args.streams)
        command = round_.command
        round_.up()
        try:
            bare.append(round_.bare_start())
            kills.append(round_.kill(f"worker-{i % 2}"))
        finally:
            round_.down()
        k = kills[-1]
        print(f"  round {i + 1}: bare worker registered after {bare[-1]:.3f} s; kill → "
              f"registered {k['registered']:.3f} s, ready {k['ready']:.3f} s, "
              f"{k['failed']}/{k['requests']} requests failed {k['kinds']}")  # fmt: skip

    print(f"\ncommand: {bench.show(command)}")
    print(f"load: {args.streams} concurrent streaming chats × 4 rounds, {MAX_TOKENS} tokens "
          "each; one worker killed with SIGKILL once all streams are mid-flight\n")  # fmt: skip
    registered = [k["registered"] for k in kills]
    ready = [k["ready"] for k in kills]
    base = bench.median(bare)
    bench.table(
        ["measure (s, median)", "value", "min–max", "vs bare start"],
        [["bare worker start → registered (baseline)", f"{base:.3f}", bench.spread(bare), "1.00"],
         ["kill → restarted worker registered", f"{bench.median(registered):.3f}",
          bench.spread(registered), f"{bench.median(registered) / base:.2f}"],
         ["kill → trtl state ready again", f"{bench.median(ready):.3f}", bench.spread(ready),
          f"{bench.median(ready) / base:.2f}"]],
    )  # fmt: skip
    failed = sum(k["failed"] for k in kills)
    total = sum(k["requests"] for k in kills)
    print(f"\nfailed requests: {failed} of {total} (target 0); "
          f"ready again after {bench.median(ready):.3f} s (target ≤ 1.5 s)")  # fmt: skip


if __name__ == "__main__":
    main()
