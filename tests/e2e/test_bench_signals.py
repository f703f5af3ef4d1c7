"""``trtl bench`` ended from outside, on the mocker with real aiperf: SIGTERM while aiperf
loads the graph, a stop signal while a graph starts, SIGKILL; and a graph that crashes
during a level. What a user checks: the exit code, the line bench printed, and that
nothing bench started runs afterwards."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from tests.e2e.bench_helpers import aiperf_processes, started_pids
from tests.e2e.test_bench import bench_args, env_for
from tests.e2e.up_helpers import kill_groups, tree_alive, wait_for


def start_bench(home: Path, model: Path, out: Path, *graphs_and_flags: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trtl.launcher",
         *bench_args(model, *graphs_and_flags, "-o", str(out))],
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def read_until(proc: subprocess.Popen, text: str) -> list[str]:
    """bench's stderr lines up to the first that holds ``text``."""
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"bench ended before printing {text!r}: {''.join(seen)}")


def deployment_pids(home: Path, name: str) -> list[int]:
    try:
        return started_pids(home, name)
    except (OSError, ValueError, KeyError):
        return []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_during_a_level_stops_aiperf_and_the_graph(
    tiny_model: Path, home: Path, signum: int
) -> None:
    out = home / "terminated"
    proc = start_bench(home, tiny_model, out, "agg", "--concurrency", "1", "--requests", "200")
    pids: list[int] = []
    try:
        read_until(proc, "ready after")
        pids = deployment_pids(home, "bench-agg")
        wait_for(lambda: aiperf_processes(out), timeout=60)  # aiperf loads the graph
        proc.send_signal(signum)
        rest = proc.communicate(timeout=120)[1]
        assert proc.returncode == 128 + signum, rest
        assert f"interrupted ({signal.Signals(signum).name})" in rest
        assert "'bench-agg' stopped; nothing left running" in rest
        assert tree_alive(pids) == []
        assert aiperf_processes(out) == []
        summary = json.loads((out / "summary.json").read_text())
        assert summary["interrupted"] is True and summary["complete"] is False
    finally:
        proc.kill()
        kill_groups(pids)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_graph_starts_ends_the_whole_bench(
    tiny_model: Path, home: Path, signum: int
) -> None:
    out = home / "cancelled"
    proc = start_bench(home, tiny_model, out, "agg", "disagg", "--concurrency", "1")
    pids: list[int] = []
    try:
        read_until(proc, "agg: starting")
        # The background supervisor runs (it holds the deployment's lock): the start is
        # under way, not yet servable.
        wait_for(lambda: supervisor_of(home, "bench-agg"), timeout=60, interval=0.02)
        proc.send_signal(signum)
        rest = proc.communicate(timeout=120)[1]
        pids = deployment_pids(home, "bench-agg")
        assert proc.returncode == 128 + signum, rest
        assert "disagg: starting" not in rest  # the next graph never starts
        assert "agg: ready" not in rest  # the signal came during the start itself
        assert f"interrupted ({signal.Signals(signum).name})" in rest
        assert tree_alive(pids) == []
        summary = json.loads((out / "summary.json").read_text())
        assert summary["interrupted"] is True
        assert [r["label"] for r in summary["runs"]] == ["agg"]
    finally:
        proc.kill()
        kill_groups(pids + deployment_pids(home, "bench-disagg"))


def supervisor_of(home: Path, name: str) -> bool:
    """A `trtl up … --supervise --name NAME` runs under ``home``."""
    for p in psutil.process_iter(["cmdline", "environ"]):
        cmdline = p.info["cmdline"] or []
        env = p.info["environ"] or {}
        if "--supervise" in cmdline and name in cmdline and env.get("HOME") == str(home):
            return True
    return False


def test_sigkill_of_bench_takes_aiperf_and_the_graph_with_it(tiny_model: Path, home: Path) -> None:
    out = home / "killed"
    proc = start_bench(home, tiny_model, out, "agg", "--concurrency", "1", "--requests", "200")
    pids: list[int] = []
    try:
        read_until(proc, "ready after")
        pids = deployment_pids(home, "bench-agg")
        aiperf = wait_for(lambda: aiperf_tree(proc.pid), timeout=60)  # with its services
        proc.kill()
        proc.wait()
        # The kernel's parent-death signal: nobody is left to stop aiperf otherwise.
        assert_soon_none_left(functools.partial(alive, aiperf), timeout=30)
        # The graph's supervisor is tied to bench (the library's owner tie): it stops the
        # graph once bench is gone.
        assert_soon_none_left(functools.partial(tree_alive, pids), timeout=60)
    finally:
        proc.kill()
        kill_groups(pids)


def test_sigkill_of_bench_in_a_levels_first_moment_leaves_no_aiperf_process(
    tiny_model: Path, home: Path
) -> None:
    # Before the watchdog: the pool workers aiperf forks to check the tokenizer (no
    # parent-death signal) outlived a bench killed in a level's first seconds.
    out = home / "killed-early"
    proc = start_bench(home, tiny_model, out, "agg", "--concurrency", "1", "--requests", "200")
    pids: list[int] = []
    group = 0
    try:
        read_until(proc, "ready after")
        pids = deployment_pids(home, "bench-agg")
        checking = functools.partial(_aiperf_checking_its_tokenizer, proc.pid)
        group = wait_for(checking, timeout=60, interval=0.01)
        proc.kill()
        proc.wait()
        assert_soon_none_left(functools.partial(in_session, group), timeout=30)
        assert_soon_none_left(functools.partial(tree_alive, pids), timeout=60)
    finally:
        proc.kill()
        kill_groups(pids)
        if group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)


def _aiperf_checking_its_tokenizer(bench: int) -> int | None:
    """aiperf's pid while it checks the tokenizer: a forked copy of it runs (its command
    line still ``… -m aiperf profile …``), before its services rename themselves."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(bench).children():
            if "-m aiperf profile" in " ".join(child.cmdline()):
                forks = [" ".join(c.cmdline()) for c in child.children()]
                if any("-m aiperf profile" in fork for fork in forks):
                    return child.pid
    return None


def in_session(session: int) -> list[str]:
    """What still runs in aiperf's session (it starts one of its own), zombies excluded."""
    left = []
    for p in psutil.process_iter(["cmdline", "status"]):
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(p.pid) == session and p.info["status"] != psutil.STATUS_ZOMBIE:
                left.append(f"{p.pid}: {' '.join(p.info['cmdline'] or [])[:150]}")
    return left


def assert_soon_none_left(left: Callable[[], list[str]], timeout: float) -> None:
    """Wait up to ``timeout`` s until ``left()`` lists nothing, then show what it lists."""
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not left(), timeout=timeout)
    assert left() == []


def alive(procs: list[psutil.Process]) -> list[str]:
    """The command lines of those that still run (zombies excluded)."""
    left = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid} (parent {proc.ppid()}): {' '.join(proc.cmdline())[:150]}")
    return left


def aiperf_tree(bench: int) -> list[psutil.Process]:
    """aiperf (bench's child) and its services, once these run (they name themselves
    ``aiperf NAME``, the controller too, so its command line no longer names the level).

    Not earlier: aiperf's tokenizer check forks pool workers for its first seconds, which
    carry no parent-death signal and would outlive a bench killed then (aiperf's own gap)."""
    with contextlib.suppress(psutil.Error):
        tree = psutil.Process(bench).children(recursive=True)
        names = [" ".join(p.cmdline()) for p in tree]
        if any(name.startswith("aiperf worker") for name in names):
            return [p for p, name in zip(tree, names, strict=True) if "aiperf" in name]
    return []


def test_a_graph_that_fails_during_a_level_is_named(tiny_model: Path, home: Path) -> None:
    out = home / "crashed"
    proc = start_bench(home, tiny_model, out, "agg", "--concurrency", "1", "--requests", "200",
                       "--set", "workers.worker.restart.max_failures=1")  # fmt: skip
    pids: list[int] = []
    try:
        read_until(proc, "ready after")
        pids = deployment_pids(home, "bench-agg")
        state = json.loads((home / "state" / "trtl" / "bench-agg" / "state.json").read_text())
        worker = next(p["pid"] for p in state["processes"] if p["role"] != "frontend")
        wait_for(lambda: aiperf_processes(out), timeout=60)
        psutil.Process(worker).kill()  # one crash is a crash loop with max_failures=1
        rest = proc.communicate(timeout=180)[1]
        assert proc.returncode == 1, rest
        line = next(x for x in rest.splitlines() if "agg: failed:" in x)
        assert "the graph failed during concurrency 1: worker-0" in line, rest
        assert "see `trtl logs bench-agg`" in line
        assert "check the server URL" not in rest
        assert tree_alive(pids) == []
        assert aiperf_processes(out) == []
    finally:
        proc.kill()
        kill_groups(pids)
