"""A repeated ``trtl up`` starts from its cached plan, and no start leaves an orphan.

``trtl up`` spawns its processes first and does everything else afterwards; the children
get their parent-death signal from an exec wrapper. The tests kill trtl with SIGKILL the
moment its first child exists, before it did anything else, and check that every process
it started (found by the deployment's discovery directory in their environment) dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.up_helpers import processes_of, read_until, status, trtl_env, up_args, wait_for


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                found += [
                    int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                ]
    return found


def _start(args: list[str], home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "trtl.launcher", *args],
        env=trtl_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _discovery(name: str) -> str:
    return str(Path(os.environ["XDG_STATE_HOME"]) / "trtl" / name / "discovery")


def _keep_plan(args: list[str], home: Path) -> None:
    """``trtl up ARGS`` until ready, then Ctrl-C: the same command line again starts from
    the plan it cached."""
    proc = _start(args, home)
    read_until(proc, "is ready after", timeout=60)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=40) == 0


def _spawning(args: list[str], home: Path, children: int) -> subprocess.Popen[bytes]:
    """``trtl up ARGS`` the moment it has ``children`` children: no sleep while waiting, so
    what the test sends next lands while trtl has only just spawned."""
    proc = subprocess.Popen([sys.executable, "-m", "trtl.launcher", *args], env=trtl_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < children and proc.poll() is None:
        if time.monotonic() > deadline:
            break
    return proc


@pytest.mark.parametrize("start", ["validated", "cached"])
def test_children_die_when_trtl_is_sigkilled_right_after_spawning(
    tiny_model, home, deployments, start
):
    name = f"t-spawnkill-{start}"
    deployments.append(name)
    args = up_args("agg", tiny_model, name, "--quiet")
    if start == "cached":
        _keep_plan(args, home)
    proc = _spawning(args, home, children=1)
    proc.kill()
    proc.wait()
    spawned = processes_of(_discovery(name))
    assert wait_for(lambda: processes_of(_discovery(name)) == [], timeout=10), spawned
    assert all(
        not Path(f"/proc/{pid}/cmdline").exists() or pid not in processes_of(_discovery(name))
        for pid in spawned
    )


def test_a_repeated_up_starts_from_the_cached_plan_and_serves(tiny_model, home, deployments):
    name = "t-cached"
    deployments.append(name)
    args = up_args("agg", tiny_model, name, "--quiet")
    root = Path(_discovery(name)).parent
    runs = []
    for _ in range(2):
        proc = _start(args, home)
        read_until(proc, "is ready after", timeout=60)
        # The last run's discovery, set aside at the start, is deleted once it is ready.
        assert wait_for(lambda: list(root.glob(".old.*")) == [], timeout=20)
        state = status(name, home)
        # Whether this trtl ever loaded pydantic (the validation library): the cached start
        # never does, the first one must.
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        runs.append(("pydantic_core" in maps, state["state"], len(state["processes"])))
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=40)
        assert proc.returncode == 0, out
        assert "nothing left running" in out
    assert runs == [(True, "ready", 2), (False, "ready", 2)]
    assert (root / "logs.previous" / "frontend.log").stat().st_size > 0  # the first run's


def test_the_quiet_wait_ends_when_the_real_frontend_lists_the_model(
    tiny_model, home, deployments, tmp_path
):
    from trtl.launcher.supervision.quiet_start import wait_until_listed

    name = "t-quiet"
    deployments.append(name)
    command = [sys.executable, "-m", "trtl.launcher", *up_args("agg", tiny_model, name, "-d")]
    up = subprocess.run(command, env=trtl_env(home), capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    state = status(name, home)
    plan = {"frontend_url": state["frontend_url"], "profile": {"model": str(tiny_model)}}
    # No process to watch: they are the background supervisor's children, not this test's.
    assert wait_until_listed(plan, [], limit=60) == "listed"
    # Another model is never listed: the wait runs to its limit.
    other = {**plan, "profile": {"model": "not-served"}}
    assert wait_until_listed(other, [], limit=0.5) == "limit"
    # With the run dir known, the frontend is asked at every look only once a worker's
    # model card is in discovery: this one has its cards. An empty run dir has none: the
    # first nine looks (0.2 s) do not ask, the tenth asks all the same.
    run_dir = str(Path(_discovery(name)).parent)
    assert wait_until_listed({**plan, "run_dir": run_dir}, [], limit=60) == "listed"
    no_cards = {**plan, "run_dir": str(tmp_path)}
    assert wait_until_listed(no_cards, [], limit=0.2) == "limit"
    assert wait_until_listed(no_cards, [], limit=60) == "listed"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_during_a_cached_start_drains_every_process_and_records_the_end(
    tiny_model, home, deployments, sig
):
    # Ctrl-C, or SIGTERM as `trtl down` sends, while the processes of a cached start are
    # still starting (the quiet wait, before the supervisor exists): the supervisor takes
    # over and stops them as at any other time, SIGTERM and a drain, and records it;
    # trtl does not die at once and take them along with the parent-death SIGKILL.
    name = f"t-quiet-{sig.name.lower()}"
    deployments.append(name)
    args = up_args("agg", tiny_model, name, "--quiet")
    _keep_plan(args, home)
    command = [sys.executable, "-m", "trtl.launcher", *args]
    proc = subprocess.Popen(
        command, env=trtl_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 60
    while len(_children(proc.pid)) < 2 and proc.poll() is None and time.monotonic() < deadline:
        pass
    # Its processes are spawned and it never loaded pydantic: the early spawn of the cached
    # plan, not the validating path.
    assert "pydantic_core" not in Path(f"/proc/{proc.pid}/maps").read_text()
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert f"{sig.name}: stopping" in out and "nothing left running" in out, out
    state = status(name, home)
    assert state["state"] == "stopped"
    # Each process was asked with SIGTERM (a process still importing ends by it: -15), not
    # killed with SIGKILL (-9).
    ends = [(p["state"], p["exit_code"]) for p in state["processes"]]
    assert all(s == "stopped" and code != -9 for s, code in ends) and len(ends) == 2, ends
    assert processes_of(_discovery(name)) == []
