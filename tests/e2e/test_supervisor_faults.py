"""Faults of trtl itself: a second Ctrl-C, a killed background supervisor, stale state
files, PIDs the system reused, and two ``trtl up`` of one name at the same instant.

Real ``trtl`` commands and real Dynamo processes throughout. Processes that merely stand
in for "some other program of this user" are ``sleep`` commands, as such a program would
be: trtl must leave them alone, and the tests check that they were never signalled.
Cases that ``test_up.py`` already covers (two ``up -d`` at once, a corrupt state file,
SIGKILL of a foreground trtl, one Ctrl-C, a crash loop, a busy port) are not repeated.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from trtl.launcher.deployments.state import ProcessState

from tests.e2e.load import StreamingLoad
from tests.e2e.up_helpers import (
    chat,
    read_until,
    status,
    tree_alive,
    trtl,
    trtl_env,
    up_args,
    wait_for,
    wait_ready,
)
from tests.live_state import live_state, save_state


@pytest.fixture
def bystander():
    """An unrelated program of this user in its own session (so its PID is also its group)."""
    proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
    yield proc
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def _assert_untouched(proc: subprocess.Popen) -> None:
    assert proc.poll() is None, f"the unrelated process ended with {proc.returncode}"
    assert psutil.Process(proc.pid).status() != psutil.STATUS_STOPPED


def _foreground(*args: str, home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trtl.launcher", *args],
        env=trtl_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _python_wrapper(tmp_path: Path) -> Path:
    """A ``--python`` that runs Python as its child instead of exec'ing it, the way an
    engine launcher leaves subprocesses of its own in its process group."""
    wrapper = tmp_path / "python-wrapper.sh"
    wrapper.write_text(f'#!/bin/sh\n"{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


# -- a second Ctrl-C ---------------------------------------------------------------------


def test_second_ctrl_c_kills_at_once_despite_a_long_grace(tiny_model, home, deployments):
    name = "t-ctrlc-twice"
    deployments.append(name)
    proc = _foreground(*up_args("agg", tiny_model, name, "--grace", "60", "--quiet"), home=home)
    read_until(proc, "is ready after")
    state = status(name, home)
    pids = [p["pid"] for p in state["processes"]]
    # A stream of ~2 minutes: the worker drains it after the first Ctrl-C, so only the
    # second one can end the run early.
    with StreamingLoad(
        state["frontend_url"], state["served_model_name"], requests=1, concurrency=1,
        max_tokens=20000,
    ) as load:  # fmt: skip
        load.wait_streaming(1)
        proc.send_signal(signal.SIGINT)
        read_until(proc, "stopping (grace 60 s")
        # Still draining: the stream goes on after the first interrupt.
        record = load.records[0]
        tokens = record.tokens
        wait_for(lambda: record.tokens > tokens + 20, timeout=10)
        assert record.ended_at is None
        assert tree_alive(pids), "the first Ctrl-C already ended everything"

        proc.send_signal(signal.SIGINT)
        # The grace period is 60 s: trtl returning within this wait's limit means it did
        # not wait for the grace period.
        out, _ = proc.communicate(timeout=45)
        report = load.join(timeout=15)
    assert "second interrupt: killing every process now" in out
    assert "nothing left running" in out
    assert proc.returncode == 0, out  # a stop the user asked for
    # No orphan, by PID or process group, the moment trtl has returned.
    assert tree_alive(pids) == []
    # The client saw its stream cut, not a hang.
    assert report.failure_kinds() == {"connection": 1}, report.summary()
    assert status(name, home)["state"] == "stopped"


# -- the background supervisor killed ----------------------------------------------------


def test_sigkill_of_the_detached_supervisor_then_status_and_down(
    tiny_model, home, tmp_path, deployments
):
    name = "t-orphaned"
    deployments.append(name)
    wrapper = _python_wrapper(tmp_path)
    result = trtl(*up_args("agg", tiny_model, name, "-d", "--python", str(wrapper)), home=home)
    assert result.returncode == 0, result.stdout + result.stderr
    state = wait_ready(name, home)
    leaders = [p["pid"] for p in state["processes"]]
    engines = [c.pid for pid in leaders for c in psutil.Process(pid).children()]
    assert len(engines) == 2  # the real frontend and mocker, below their wrappers

    os.kill(state["supervisor_pid"], signal.SIGKILL)
    # The wrappers die with the supervisor (PR_SET_PDEATHSIG); their children still serve.
    wait_for(lambda: not any(_running(pid) for pid in leaders), timeout=10)
    assert all(_running(pid) for pid in engines)
    assert chat(state["frontend_url"], state["served_model_name"])

    seen = trtl("status", name, home=home)
    assert seen.returncode == 0, seen.stderr
    gone = f"the supervisor (pid {state['supervisor_pid']}) is gone"
    assert gone in seen.stdout
    assert f"`trtl down {name}` stops what it left running (frontend, worker-0)" in seen.stdout
    as_json = status(name, home)
    assert as_json["state"] == "failed"
    assert {p["name"]: p["state"] for p in as_json["processes"]} == {
        "frontend": "running",
        "worker-0": "running",
    }
    assert re.search(rf"{name}\W+failed\W.*2/2 running", trtl("ps", home=home).stdout)

    down = trtl("down", name, "--grace", "5", home=home)
    assert down.returncode == 0, down.stderr
    assert f"stopping 2 process groups left by '{name}'" in down.stderr
    assert "nothing left running" in down.stderr
    assert tree_alive(leaders + engines) == []
    assert status(name, home)["state"] == "stopped"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- stale state files and reused PIDs ---------------------------------------------------


def _dead_pid() -> tuple[int, float]:
    proc = subprocess.Popen(["true"])
    create_time = psutil.Process(proc.pid).create_time()
    proc.wait()
    return proc.pid, create_time


def test_a_state_file_whose_supervisor_died_reads_as_failed(home):
    pid, create_time = _dead_pid()
    save_state(live_state("t-stale", supervisor_pid=pid, supervisor_create_time=create_time))
    seen = trtl("status", "t-stale", home=home)
    assert seen.returncode == 0, seen.stderr
    assert "t-stale: failed" in seen.stdout
    assert f"the supervisor (pid {pid}) is gone; none of its processes runs" in seen.stdout
    assert "Traceback" not in seen.stdout + seen.stderr
    down = trtl("down", "t-stale", home=home)
    assert down.returncode == 0, down.stderr
    assert "'t-stale' is not running (failed); nothing to stop" in down.stderr
    assert "stopped; nothing left running" not in down.stderr  # it said both before
    assert status("t-stale", home)["state"] == "stopped"  # `down` closed the vanished run


def test_a_reused_pid_is_never_signalled(tiny_model, home, bystander, deployments):
    """The state file names a live, unrelated process (wrong create time) as the supervisor
    and as every process: status, ps, down and the next up's leftover cleanup leave it be."""
    other = psutil.Process(bystander.pid)
    stale = other.create_time() - 1000  # the process trtl once started under this PID
    procs = [
        ProcessState(name=n, role=r, pid=bystander.pid, create_time=stale, state="running")
        for n, r in (("frontend", "frontend"), ("worker-0", "worker"))
    ]
    name = "t-reused"
    save_state(
        live_state(name, supervisor_pid=bystander.pid, supervisor_create_time=stale,
                   processes=procs)
    )  # fmt: skip

    state = status(name, home)
    assert state["state"] == "failed"
    assert state["message"].endswith("none of its processes runs")
    assert name not in trtl("ps", home=home).stdout  # nothing of it runs
    assert name in trtl("ps", "--all", home=home).stdout
    down = trtl("down", name, "--grace", "1", home=home)
    assert down.returncode == 0, down.stderr
    assert "stopping" not in down.stderr
    _assert_untouched(bystander)

    # `trtl up` of the same name first stops what a killed run left: not this process.
    save_state(
        live_state(name, supervisor_pid=bystander.pid, supervisor_create_time=stale,
                   processes=procs)
    )  # fmt: skip
    deployments.append(name)
    up = trtl(*up_args("agg", tiny_model, name, "-d", "--quiet"), home=home)
    assert up.returncode == 0, up.stdout + up.stderr
    _assert_untouched(bystander)
    assert trtl("down", name, home=home).returncode == 0
    _assert_untouched(bystander)


def test_an_orphaned_group_of_another_program_is_not_taken_for_ours(home, tmp_path, bystander):
    """The recorded leader is gone and its PID now leads another program's group (a shell
    that exited and left a child): members without the deployment's environment are not
    ours, so neither status nor down counts or signals them."""
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 300 & echo $!"], stdout=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    child = int(shell.stdout.readline())
    shell.stdout.close()
    shell.wait()
    try:
        name = "t-other-group"
        procs = [ProcessState(name="worker-0", role="worker", pid=shell.pid, create_time=1.0)]
        pid, create_time = _dead_pid()
        save_state(
            live_state(name, supervisor_pid=pid, supervisor_create_time=create_time,
                       processes=procs)
        )  # fmt: skip
        assert status(name, home)["message"].endswith("none of its processes runs")
        down = trtl("down", name, "--grace", "1", home=home)
        assert down.returncode == 0, down.stderr
        assert "stopping" not in down.stderr
        assert _running(child), "down signalled a process it did not start"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


# -- races -------------------------------------------------------------------------------


def test_two_foreground_ups_of_one_name_at_once_run_exactly_one(tiny_model, home, deployments):
    name = "t-race-fg"
    deployments.append(name)
    args = up_args("agg", tiny_model, name, "--quiet")
    racers = [_foreground(*args, home=home) for _ in range(2)]
    # The loser ends by itself; the winner serves until it is stopped.
    loser = wait_for(lambda: next((p for p in racers if p.poll() is not None), None), timeout=60)
    winner = next(p for p in racers if p is not loser)
    out, _ = loser.communicate()
    assert loser.returncode == 2, out
    assert f"deployment '{name}' is already running" in out
    assert "Traceback" not in out
    read_until(winner, "is ready after")
    state = status(name, home)
    assert state["supervisor_pid"] == winner.pid
    assert chat(state["frontend_url"], state["served_model_name"])
    winner.send_signal(signal.SIGINT)
    rest, _ = winner.communicate(timeout=40)
    assert winner.returncode == 0, rest
    assert tree_alive([p["pid"] for p in state["processes"]]) == []
